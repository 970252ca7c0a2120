//! The scheduled reconciliation: webhooks can be lost (Plaid gives up after 24 hours), so open
//! sessions that have not been read from Plaid for a while are re-read, and the app's expiry
//! window is applied. Bounded work per run, safe to run twice at once (every write is
//! conditional), and it stops at the first sign of Plaid's rate limit.

use crate::context::AppContext;
use crate::flows::sync::record_snapshot;
use crate::plaid::PlaidError;
use crate::store::{SessionStore, StoreError, UpdateOutcome};
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
    crate::emf::reconcile_run(report.refreshed, report.still_open, report.app_expired);
    tracing::info!(
        examined = report.examined,
        plaid_calls = report.plaid_calls,
        refreshed = report.refreshed,
        changed = report.changed,
        app_expired = report.app_expired,
        still_open = report.still_open,
        errors = report.errors,
        rate_limited = report.rate_limited,
        "reconcile run"
    );
    Ok(report)
}
