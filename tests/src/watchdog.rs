//! A bound on a whole test. `cargo test` has no per-test timeout: a test that waits forever
//! (a lost webhook, a server that never answers, a deadlock) hangs the run with no word of which
//! test it is. Every [`crate::stack::Stack`] holds a watchdog: past its limit it names the test
//! (libtest names each test's thread after it) and aborts the process, so the run fails,
//! loudly and in bounded time, instead of hanging.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Longer than any test here needs (the slowest take well under a minute), far shorter than a
/// CI job's own limit.
pub const TEST_LIMIT: Duration = Duration::from_secs(600);

pub struct Watchdog {
    done: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl Watchdog {
    /// Aborts the process if not dropped within `limit`.
    pub fn start(limit: Duration) -> Self {
        let test = std::thread::current()
            .name()
            .unwrap_or("<unnamed>")
            .to_owned();
        Self::with_action(limit, move || {
            eprintln!(
                "test {test} still running after {limit:?}: aborting the run (a test that \
                 never ends would hang it)"
            );
            std::process::abort();
        })
    }

    /// Runs `action` if not dropped within `limit`.
    pub fn with_action(limit: Duration, action: impl FnOnce() + Send + 'static) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let seen = done.clone();
        let handle = std::thread::Builder::new()
            .name("test-watchdog".into())
            .spawn(move || {
                let deadline = Instant::now() + limit;
                while !seen.load(Ordering::SeqCst) {
                    let now = Instant::now();
                    if now >= deadline {
                        action();
                        return;
                    }
                    std::thread::park_timeout(deadline - now);
                }
            })
            .expect("a watchdog thread");
        Self {
            done,
            thread: handle.thread().clone(),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_past_its_limit_is_stopped_and_one_that_ends_is_not() {
        let (tx, rx) = std::sync::mpsc::channel();
        let hung = Watchdog::with_action(Duration::from_millis(20), move || {
            let _ = tx.send(());
        });
        // Fires however late the machine lets it run: waited for, not timed.
        rx.recv_timeout(Duration::from_secs(60))
            .expect("the watchdog fired");
        drop(hung);

        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let ended = Watchdog::with_action(Duration::from_secs(3600), move || {
            let _ = tx.send(());
        });
        drop(ended);
        // The watchdog's thread ends without acting: its sender is dropped, never used.
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(60)),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }
}
