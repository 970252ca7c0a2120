//! The test kit's integration tests, one binary (one link of the AWS SDK and axum) with a module
//! per area. Run one area with `cargo test -p testkit --test it api::`.

mod api;
mod credentials;
mod decisions;
mod docs;
mod dynamo_standin;
mod emulator;
mod events;
mod events_stream;
mod faults;
mod hardening;
mod house;
mod load;
mod outcome_webhook;
mod package;
mod read_budget;
mod reconcile;
mod routes;
mod shareable;
mod start_integrity;
mod store;
mod template;
mod threats;
mod webhook_flow;
mod webhook_integrity;
