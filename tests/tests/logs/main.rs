//! Tests that read what the handlers log and measure, in a binary of their own: log capture with
//! a thread-local subscriber is only reliable when no other test registers the same call sites
//! concurrently (see `testkit::log_capture`), and the metrics recorder is one per process.
//! Run with `cargo test -p testkit --test logs`.

mod audit;
mod errors;
mod metrics;
mod shareable;

/// The capture tests take turns, so that no other test registers the same call sites (or records
/// metrics) while one captures (each holds it for its whole run).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
