//! Capturing what the handlers log, for tests that check log lines (audit, request ids, PII).
//!
//! The subscriber is this thread's default only: run such tests on a current-thread runtime, and
//! in a test binary of their own, since tracing caches per call site whether anyone listens and a
//! thread without a subscriber can switch a call site off for the others.

use std::sync::{Arc, Mutex};

/// Log lines written on this thread while the guard lives, as plain text without colours.
pub fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    capture(None)
}

/// [`capture_logs`] through the functions' own filter at `level` (what `AWS_LAMBDA_LOG_LEVEL` /
/// `RUST_LOG` would name), to check what survives a quieter level.
pub fn capture_logs_at(
    level: tracing_subscriber::filter::LevelFilter,
) -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    capture(Some(shared::logging::filter(level)))
}

fn capture(
    filter: Option<tracing_subscriber::filter::Targets>,
) -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    #[derive(Clone)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Arc::new(Mutex::new(Vec::new()));
    let writer = Buf(buf.clone());
    use tracing_subscriber::prelude::*;
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        // Unfiltered, `INFO` as `tracing_subscriber::fmt()` defaults to.
        .with_filter(filter.unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        }));
    let subscriber = tracing_subscriber::registry().with(layer);
    (buf, tracing::subscriber::set_default(subscriber))
}
