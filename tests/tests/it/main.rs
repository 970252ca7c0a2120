//! The test kit's integration tests, one binary (one link of the AWS SDK and axum) with a module
//! per area. Run one area with `cargo test -p testkit --test it api::`.

mod api;
mod credentials;
mod decisions;
mod dynamo_standin;
mod emulator;
mod events;
mod events_stream;
mod faults;
mod hardening;
mod load;
mod reconcile;
mod store;
mod template;
mod threats;
mod webhook_flow;
