pub mod emulator;
pub mod localstack;
