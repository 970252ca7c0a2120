//! The scheduled reconciliation: webhooks can be lost (Plaid gives up after 24 hours), so open
//! sessions that have not been read from Plaid for a while are re-read, and the app's expiry
//! window is applied. Attempts Plaid made for a start that lost the answer (and whose `RETRIED`
//! webhook was lost too) are found through the retry claims that start left behind, and
//! recorded. Bounded work per run, safe to run twice at once (every write is conditional), and
//! it stops at the first sign of Plaid's rate limit.

use super::sync::{plaid_attempts, record_snapshot};
use crate::context::AppContext;
use crate::plaid::PlaidError;
use crate::session::attempt_order::newer_than;
use crate::store::{SessionStore, StoreError, UpdateOutcome};
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Open sessions looked at.
    pub examined: u32,
    /// Plaid `/get` calls made.
    pub plaid_calls: u32,
    /// Sessions read from Plaid and recorded.
    pub refreshed: u32,
    /// Sessions whose status Plaid moved on since our last read.
    pub changed: u32,
    /// Sessions taken out of the open set by the app's expiry window.
    pub app_expired: u32,
    /// Sessions looked at that are still open after the run (neither final nor app-expired).
    pub still_open: u32,
    pub errors: u32,
    /// Retry claims that lapsed without their outcome being recorded, looked at (one Plaid
    /// `/list` each, counted in `plaid_calls`).
    pub lapsed_claims: u32,
    /// Attempts Plaid made after a lapsed claim's session, found and recorded (one a `RETRIED`
    /// webhook recorded already counts too: the run cannot tell them apart without a read).
    pub adopted: u32,
    /// The run stopped early because Plaid rate-limited it.
    pub rate_limited: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Consecutive Plaid failures after which the run gives up (Plaid is down; next run retries).
const MAX_CONSECUTIVE_FAILURES: u32 = 3;

/// How long after a retry claim ran out reconcile takes its outcome for lost. The claim already
/// outlasts the Plaid client's timeout; this also covers Plaid finishing a `/retry` whose caller
/// gave up on it, so the `/list` below sees what Plaid did.
pub const LAPSED_CLAIM_GRACE: chrono::Duration = chrono::Duration::minutes(1);

pub async fn reconcile<S: SessionStore>(
    ctx: &AppContext<S>,
) -> Result<ReconcileReport, ReconcileError> {
    let now = ctx.now();
    let mut report = ReconcileReport::default();
    let budget = ctx.config.reconcile_max_calls;
    let batch = ctx
        .store
        .open_sessions(now - ctx.config.reconcile_stale_after, budget)
        .await?;
    let mut consecutive_failures = 0;
    adopt_lost_retries(ctx, now, &mut report, &mut consecutive_failures).await?;
    for record in batch {
        report.examined += 1;
        let mut current = record.clone();
        if report.plaid_calls < budget
            && !report.rate_limited
            && consecutive_failures < MAX_CONSECUTIVE_FAILURES
        {
            report.plaid_calls += 1;
            // Stamped before the request (see `record_snapshot`).
            let read_at = ctx.now();
            match ctx.plaid.get(&record.id).await {
                Ok(iv) => {
                    consecutive_failures = 0;
                    current = record_snapshot(ctx, &iv, read_at).await?;
                    report.refreshed += 1;
                    if current.status != record.status {
                        report.changed += 1;
                        crate::emf::verification_finished(current.status);
                    }
                }
                Err(PlaidError::Api { status: 429, .. }) => {
                    report.rate_limited = true;
                    report.errors += 1;
                }
                Err(e) => {
                    report.errors += 1;
                    if e.is_retryable() {
                        consecutive_failures += 1;
                    }
                    tracing::warn!(idv_id = %record.id, error = %e, "reconcile could not read a session from plaid");
                }
            }
        }
        // The expiry window applies whether or not Plaid could be read: it is our rule.
        if current.is_app_expired(now) {
            let ttl = (current.expires_at + ctx.config.abandoned_retention).timestamp();
            if ctx.store.mark_app_expired(&current.id, ttl, now).await? == UpdateOutcome::Written {
                report.app_expired += 1;
            }
        } else if !current.status.is_final() {
            report.still_open += 1;
        }
    }
    Ok(report)
}

/// Retry claims whose holder never recorded the outcome (its answer from Plaid was lost and it
/// could not find the attempt at once, or it was killed): list the user's attempts at Plaid,
/// record the one made after the claimed session, if any, and clear the claim. Under the same
/// Plaid budget and rate-limit stop as the open sessions, and before them: an attempt Plaid
/// billed with no row of ours is invisible to everything else (no event, no expiry, no review).
async fn adopt_lost_retries<S: SessionStore>(
    ctx: &AppContext<S>,
    now: DateTime<Utc>,
    report: &mut ReconcileReport,
    consecutive_failures: &mut u32,
) -> Result<(), ReconcileError> {
    let budget = ctx.config.reconcile_max_calls;
    let claims = ctx
        .store
        .lapsed_retry_claims(now - LAPSED_CLAIM_GRACE, budget)
        .await?;
    for claim in claims {
        if report.plaid_calls >= budget
            || report.rate_limited
            || *consecutive_failures >= MAX_CONSECUTIVE_FAILURES
        {
            break;
        }
        let previous = &claim.record;
        report.lapsed_claims += 1;
        report.plaid_calls += 1;
        // Stamped before the request (see `record_snapshot`).
        let listed_at = ctx.now();
        match plaid_attempts(ctx, &previous.client_user_id, &previous.template_id).await {
            Ok(attempts) => {
                *consecutive_failures = 0;
                if let Some(newer) = newer_than(&attempts, &previous.id, previous.created_at) {
                    let recorded = record_snapshot(ctx, newer, listed_at).await?;
                    report.adopted += 1;
                    tracing::warn!(
                        idv_id = %recorded.id,
                        previous_attempt_id = %previous.id,
                        "reconcile adopted an attempt whose retry answer was lost"
                    );
                }
                // Recorded, or Plaid made none: either way nothing is left to find. A claim a
                // new start took meanwhile is not this one and stays.
                ctx.store.release_retry(&previous.id, claim.until).await?;
            }
            Err(PlaidError::Api { status: 429, .. }) => {
                report.rate_limited = true;
                report.errors += 1;
            }
            Err(e) => {
                report.errors += 1;
                if e.is_retryable() {
                    *consecutive_failures += 1;
                }
                tracing::warn!(idv_id = %previous.id, error = %e, "reconcile could not list a user's attempts at plaid");
            }
        }
    }
    Ok(())
}
