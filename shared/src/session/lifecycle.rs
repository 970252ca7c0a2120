//! The lifecycle rules as pure functions: what a start does, which retry strategy to ask Plaid
//! for, whether a session can still be opened in Link. Handlers do the I/O around them.

use crate::plaid::types::{IdvStatus, RetryStrategy, StepStatus, Steps};
use crate::session::record::SessionRecord;
use chrono::{DateTime, Utc};

/// What `POST /sessions` must do, given the user's newest session for the template.
#[derive(Debug, Clone, PartialEq)]
pub enum StartDecision {
    /// No session yet: `/identity_verification/create` with `is_idempotent: true`.
    Create,
    /// The newest session is still usable: hand it back.
    Resume(SessionRecord),
    /// The newest session ended without a result the user can keep, or the app window passed:
    /// `/identity_verification/retry` after it.
    Retry(SessionRecord),
    /// The user is already verified for this template: hand the result back, start nothing.
    AlreadyVerified(SessionRecord),
}

pub fn decide_start(latest: Option<SessionRecord>, now: DateTime<Utc>) -> StartDecision {
    let Some(latest) = latest else {
        return StartDecision::Create;
    };
    match latest.effective_status(now) {
        IdvStatus::Success => StartDecision::AlreadyVerified(latest),
        IdvStatus::Failed | IdvStatus::Expired | IdvStatus::Canceled => {
            StartDecision::Retry(latest)
        }
        // Active, pending review, or a status Plaid added later: the session is still Plaid's
        // to finish, so resume it rather than bill a new attempt.
        IdvStatus::Active | IdvStatus::PendingReview | IdvStatus::Unknown => {
            StartDecision::Resume(latest)
        }
    }
}

/// The retry strategy for a new attempt after `previous`.
///
/// Plaid's `infer` is refused while the latest session is active (our app-expired sessions are
/// still active at Plaid), and `incomplete` is refused when the failing step was the watchlist
/// screening or the risk check; so we choose explicitly: keep the steps the user already passed
/// (`incomplete`) where Plaid allows it, start over (`reset`) otherwise.
pub fn retry_strategy(previous: &SessionRecord) -> RetryStrategy {
    let failed_unretryable_step = |s: &Steps| {
        matches!(
            s.watchlist_screening,
            StepStatus::Failed | StepStatus::ManuallyRejected
        ) || matches!(
            s.risk_check,
            StepStatus::Failed | StepStatus::ManuallyRejected
        )
    };
    match previous.status {
        IdvStatus::Failed | IdvStatus::Expired if !failed_unretryable_step(&previous.steps) => {
            RetryStrategy::Incomplete
        }
        _ => RetryStrategy::Reset,
    }
}

/// Why a Link token cannot be issued for a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkRefusal {
    /// Plaid says expired, or the app window has passed: 410.
    Expired,
    /// Success, failed or canceled: Link will not reopen it until a retry: 409.
    Finished,
    /// Waiting for a reviewer: nothing for the user to do in Link: 409.
    InReview,
}

pub fn link_allowed(record: &SessionRecord, now: DateTime<Utc>) -> Result<(), LinkRefusal> {
    match record.effective_status(now) {
        IdvStatus::Expired => Err(LinkRefusal::Expired),
        IdvStatus::Success | IdvStatus::Failed | IdvStatus::Canceled => Err(LinkRefusal::Finished),
        IdvStatus::PendingReview => Err(LinkRefusal::InReview),
        IdvStatus::Active | IdvStatus::Unknown => Ok(()),
    }
}

/// The cool-down of live Plaid calls started by callers. Reads (`GET ?refresh=true`,
/// `?view=full`, an opportunistic refresh of a stale session) are budgeted per reader, across all
/// the sessions it reads, owners and reviewers apart (`flows/read.rs`); link-token creation per
/// session. Within it of the last such call, `refresh` answers from the store, link-token hands
/// back the token it just made (same instance) and anything else answers 429 `rate_limited`. One
/// account looping must not spend the Plaid rate limits that webhooks and reconcile depend on.
/// Webhook and reconcile reads are not subject to it. A constant: it protects Plaid, not a
/// product choice.
pub const LIVE_READ_COOLDOWN: chrono::Duration = chrono::Duration::seconds(LIVE_READ_COOLDOWN_SECS);
const LIVE_READ_COOLDOWN_SECS: i64 = 5;

/// `Retry-After` for a caller refused inside the cool-down: the whole cool-down.
pub const LIVE_READ_RETRY_AFTER: std::time::Duration =
    std::time::Duration::from_secs(LIVE_READ_COOLDOWN_SECS.unsigned_abs());

/// A non-final session read from Plaid longer ago than `window` is worth re-reading before we
/// answer: webhooks can be late or lost.
pub fn needs_refresh(record: &SessionRecord, now: DateTime<Utc>, window: chrono::Duration) -> bool {
    !record.status.is_final() && now - record.synced_at >= window
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ClientUserId, IdvId, TemplateId};
    use chrono::{Duration, TimeZone};

    fn steps(all: StepStatus) -> Steps {
        Steps {
            accept_tos: all,
            verify_sms: all,
            kyc_check: all,
            documentary_verification: all,
            selfie_check: all,
            watchlist_screening: all,
            risk_check: all,
        }
    }

    fn record(status: IdvStatus) -> SessionRecord {
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        SessionRecord {
            id: IdvId::parse("idv_1").unwrap(),
            client_user_id: ClientUserId::parse("user-1").unwrap(),
            template_id: TemplateId::parse("idvtmp_1").unwrap(),
            status,
            steps: steps(StepStatus::Success),
            previous_attempt_id: None,
            created_at: t0,
            completed_at: None,
            updated_at: t0,
            synced_at: t0,
            expires_at: t0 + Duration::days(2),
            ttl: None,
        }
    }

    fn t(hours: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::hours(hours)
    }

    #[test]
    fn start_decisions_follow_the_lifecycle() {
        assert_eq!(decide_start(None, t(0)), StartDecision::Create);
        for s in [
            IdvStatus::Active,
            IdvStatus::PendingReview,
            IdvStatus::Unknown,
        ] {
            assert!(
                matches!(
                    decide_start(Some(record(s)), t(1)),
                    StartDecision::Resume(_)
                ),
                "{s:?}"
            );
        }
        for s in [IdvStatus::Failed, IdvStatus::Expired, IdvStatus::Canceled] {
            assert!(
                matches!(decide_start(Some(record(s)), t(1)), StartDecision::Retry(_)),
                "{s:?}"
            );
        }
        assert!(matches!(
            decide_start(Some(record(IdvStatus::Success)), t(1)),
            StartDecision::AlreadyVerified(_)
        ));
    }

    #[test]
    fn past_the_app_window_an_open_session_is_retried_but_a_result_is_kept() {
        let late = t(49);
        assert!(matches!(
            decide_start(Some(record(IdvStatus::Active)), late),
            StartDecision::Retry(_)
        ));
        // A session in review waits for the reviewer, however long that takes.
        assert!(matches!(
            decide_start(Some(record(IdvStatus::PendingReview)), late),
            StartDecision::Resume(_)
        ));
        assert_eq!(
            link_allowed(&record(IdvStatus::PendingReview), late),
            Err(LinkRefusal::InReview)
        );
        assert!(matches!(
            decide_start(Some(record(IdvStatus::Success)), late),
            StartDecision::AlreadyVerified(_)
        ));
        assert!(matches!(
            decide_start(Some(record(IdvStatus::Active)), t(47)),
            StartDecision::Resume(_)
        ));
    }

    #[test]
    fn retry_strategy_avoids_what_plaid_refuses() {
        assert_eq!(
            retry_strategy(&record(IdvStatus::Failed)),
            RetryStrategy::Incomplete
        );
        assert_eq!(
            retry_strategy(&record(IdvStatus::Expired)),
            RetryStrategy::Incomplete
        );
        // App-expired: still active at Plaid, where `infer` and `incomplete` make no sense.
        assert_eq!(
            retry_strategy(&record(IdvStatus::Active)),
            RetryStrategy::Reset
        );
        assert_eq!(
            retry_strategy(&record(IdvStatus::Canceled)),
            RetryStrategy::Reset
        );
        let mut screened = record(IdvStatus::Failed);
        screened.steps.watchlist_screening = StepStatus::Failed;
        assert_eq!(retry_strategy(&screened), RetryStrategy::Reset);
        let mut risky = record(IdvStatus::Failed);
        risky.steps.risk_check = StepStatus::Failed;
        assert_eq!(retry_strategy(&risky), RetryStrategy::Reset);
    }

    #[test]
    fn link_tokens_only_for_open_sessions() {
        assert_eq!(link_allowed(&record(IdvStatus::Active), t(1)), Ok(()));
        assert_eq!(
            link_allowed(&record(IdvStatus::Active), t(48)),
            Err(LinkRefusal::Expired)
        );
        assert_eq!(
            link_allowed(&record(IdvStatus::Expired), t(1)),
            Err(LinkRefusal::Expired)
        );
        for s in [IdvStatus::Success, IdvStatus::Failed, IdvStatus::Canceled] {
            assert_eq!(link_allowed(&record(s), t(1)), Err(LinkRefusal::Finished));
        }
        assert_eq!(
            link_allowed(&record(IdvStatus::PendingReview), t(1)),
            Err(LinkRefusal::InReview)
        );
    }

    #[test]
    fn refresh_only_open_and_stale() {
        let w = Duration::seconds(60);
        let r = record(IdvStatus::Active);
        assert!(!needs_refresh(&r, r.synced_at + Duration::seconds(59), w));
        assert!(needs_refresh(&r, r.synced_at + Duration::seconds(60), w));
        assert!(!needs_refresh(&record(IdvStatus::Success), t(100), w));
    }
}
