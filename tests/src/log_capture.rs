//! Capturing what the handlers log, for tests that check log lines (audit, request ids, PII).
//!
//! The subscriber is this thread's default only: run such tests on a current-thread runtime, and
//! in a test binary of their own, since tracing caches per call site whether anyone listens and a
//! thread without a subscriber can switch a call site off for the others.

use std::sync::{Arc, Mutex};

/// Log lines written on this thread while the guard lives, as plain text without colours.
pub fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
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
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}
