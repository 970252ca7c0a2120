//! The deadline of the Lambda invocation being served, so that Plaid calls fit inside it.
//!
//! The bootstrap runs each invocation inside [`within`], with the deadline Lambda hands the
//! runtime (`Lambda-Runtime-Deadline-Ms`) less a reserve for what follows the Plaid call (the
//! DynamoDB write and the answer). The Plaid client reads it with [`current`]: no attempt's
//! timeout runs past it, and no new attempt starts unless a full one still fits. Handlers called
//! directly (tests) run without one and are bounded by `ClientOptions::budget` alone.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

tokio::task_local! {
    static DEADLINE: Instant;
}

/// Time kept back from the invocation's deadline for the work after the last Plaid call.
pub const RESERVE: Duration = Duration::from_millis(1000);

/// Run `fut` with `deadline` as the invocation's deadline.
pub async fn within<F: Future>(deadline: Instant, fut: F) -> F::Output {
    DEADLINE.scope(deadline, fut).await
}

/// The deadline of the invocation this task serves, if it runs inside [`within`].
pub fn current() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok()
}

/// Lambda's deadline (milliseconds since the Unix epoch) as an `Instant`, less [`RESERVE`].
///
/// `None` when the deadline has already passed as the invocation starts: Lambda never hands out
/// such an invocation, but local runtimes do (`cargo lambda watch` sends the constant 600000,
/// ten minutes after the epoch). Those invocations are bounded by `ClientOptions::budget` alone,
/// as tests calling handlers directly are, instead of never calling Plaid at all.
pub fn from_lambda_deadline_ms(deadline_ms: u64) -> Option<Instant> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if deadline_ms <= now_ms {
        return None;
    }
    let left = Duration::from_millis(deadline_ms - now_ms).saturating_sub(RESERVE);
    Some(Instant::now() + left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_deadlines_keep_the_reserve() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let d = from_lambda_deadline_ms(now_ms + 10_000).expect("a deadline ahead");
        let left = d.saturating_duration_since(Instant::now());
        assert!(left <= Duration::from_millis(9_000), "{left:?}");
        assert!(left >= Duration::from_millis(8_500), "{left:?}");
        // Less than the reserve ahead: nothing left, never a panic.
        let close = from_lambda_deadline_ms(now_ms + 500).expect("a deadline ahead");
        assert!(close <= Instant::now() + Duration::from_millis(1));
    }

    #[test]
    fn a_deadline_already_past_is_no_deadline() {
        // What `cargo lambda watch` sends for every invocation.
        assert_eq!(from_lambda_deadline_ms(600_000), None);
        assert_eq!(from_lambda_deadline_ms(0), None);
    }

    #[tokio::test]
    async fn the_deadline_is_scoped_to_the_invocation() {
        assert!(current().is_none());
        let d = Instant::now() + Duration::from_secs(3);
        assert_eq!(within(d, async { current() }).await, Some(d));
        assert!(current().is_none());
    }
}
