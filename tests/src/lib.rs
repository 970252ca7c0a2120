//! The test kit: the Plaid IDV emulator, the local stack (moto, the table from the template),
//! API Gateway events, and our OpenAPI description as a test oracle.

pub mod apigw;
pub mod drop_proxy;
pub mod dynamo_standin;
pub mod emulator;
pub mod faulty_store;
pub mod localstack;
pub mod openapi;
pub mod runtime_api;
pub mod stack;
