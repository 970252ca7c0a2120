pub mod apigw;
pub mod emulator;
