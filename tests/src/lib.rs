pub mod apigw;
pub mod emulator;
pub mod openapi;
