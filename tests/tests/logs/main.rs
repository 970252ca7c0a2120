//! Tests that read what the handlers log, in a binary of their own: log capture with a
//! thread-local subscriber is only reliable when no other test registers the same call sites
//! concurrently (see `testkit::log_capture`). Run with `cargo test -p testkit --test logs`.

mod audit;
mod errors;
