//! The scheduled reconciliation's edge (see `flows::reconcile` for what a run does): run it,
//! then count and log what it did. The event's content is not used.

use crate::context::AppContext;
use crate::flows::reconcile::{ReconcileError, ReconcileReport};
use crate::store::SessionStore;

pub async fn reconcile<S: SessionStore>(
    ctx: &AppContext<S>,
) -> Result<ReconcileReport, ReconcileError> {
    let report = crate::flows::reconcile::reconcile(ctx).await?;
    crate::emf::reconcile_run(report.refreshed, report.still_open, report.app_expired);
    tracing::info!(
        examined = report.examined,
        plaid_calls = report.plaid_calls,
        refreshed = report.refreshed,
        changed = report.changed,
        app_expired = report.app_expired,
        still_open = report.still_open,
        lapsed_claims = report.lapsed_claims,
        adopted = report.adopted,
        errors = report.errors,
        rate_limited = report.rate_limited,
        "reconcile run"
    );
    Ok(report)
}
