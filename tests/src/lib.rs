//! The test kit: the Plaid IDV emulator (re-exported from the `plaid-emulator` crate), the local stack (moto, the table from the template),
//! API Gateway events, and our OpenAPI description as a test oracle.

pub mod apigw;
pub mod cfn;
pub mod drop_proxy;
pub mod dynamo_standin;
/// The Plaid IDV emulator, its own crate (`tests/plaid-emulator`), re-exported so that
/// `testkit::emulator::…` paths keep working.
pub use plaid_emulator as emulator;
pub mod faulty_store;
pub mod localstack;
pub mod log_capture;
pub mod openapi;
pub mod outcome_events;
pub mod outcome_webhook;
pub mod release;
pub mod runtime_api;
pub mod stack;
pub mod watchdog;
pub mod webhook_walkthrough;
