//! Recording what Plaid says about a session, under the store's ordering rules. Used by every
//! path that reads a session from Plaid: start, get with refresh, webhook, reconcile.

use super::plaid_calls::PlaidCalls;
use crate::context::AppContext;
use crate::http::ApiError;
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::PlaidError;
use crate::plaid::types::{IdentityVerification, ListRequest};
use crate::session::SessionRecord;
use crate::store::{SessionStore, SnapshotOutcome, StoreError};
use chrono::{DateTime, Utc};

/// Save a snapshot read from Plaid at `synced_at`, the time the request was *sent*: a reader whose
/// answer of an older state arrives late (slow network, a Lambda paused between the two) then
/// carries the older stamp and loses to any read sent after it. Stamping at the answer would let
/// the slowest reader win. Returns the record as it now stands: ours if
/// it was written (with the stored creation, expiry and TTL fields), the stored one if that was
/// newer (a concurrent writer won). One conditional write, no read: the store keeps what a
/// snapshot must not change.
pub async fn record_snapshot<S: SessionStore>(
    ctx: &AppContext<S>,
    iv: &IdentityVerification,
    synced_at: DateTime<Utc>,
) -> Result<SessionRecord, StoreError> {
    let candidate = SessionRecord::from_plaid(iv, synced_at, ctx.config.session_ttl);
    match ctx.store.save_snapshot(&candidate).await? {
        SnapshotOutcome::Written(stored) | SnapshotOutcome::Rejected(Some(stored)) => Ok(stored),
        // The item vanished between the store's attempts (TTL deletion racing the write): there
        // is nothing newer than what Plaid just said.
        SnapshotOutcome::Rejected(None) => Ok(candidate),
    }
}

/// Re-read a session a caller owns from Plaid and record it, stamped when the request was sent.
/// Plaid naming another user than `owner` is answered as an unknown session (the store and Plaid
/// disagree; nothing is recorded). A Plaid failure is noted on `plaid` and handed back for the
/// caller to decide whether its answer can do without the read.
pub async fn refresh_owned<S: SessionStore>(
    ctx: &AppContext<S>,
    id: &IdvId,
    owner: &ClientUserId,
    plaid: &mut PlaidCalls,
) -> Result<Result<(IdentityVerification, SessionRecord), PlaidError>, ApiError> {
    let read_at = ctx.now();
    let iv = match ctx.plaid.get(id).await {
        Ok(iv) => iv,
        Err(e) => {
            plaid.failed(&e);
            return Ok(Err(e));
        }
    };
    plaid.answered(iv.request_id.as_deref());
    if &iv.client_user_id != owner {
        tracing::error!(idv_id = %id, "plaid and the store disagree on the session's user");
        return Err(ApiError::NotFound);
    }
    let record = record_snapshot(ctx, &iv, read_at).await?;
    Ok(Ok((iv, record)))
}

/// Correct, on read, a session in review that an earlier version app-expired (a TTL, out of the
/// open index): a session in review waits for the reviewer and is never app-expired. A failed
/// repair is logged and left for the next read; the answer does not depend on it.
pub async fn repair_review<S: SessionStore>(
    ctx: &AppContext<S>,
    mut record: SessionRecord,
) -> SessionRecord {
    if record.needs_review_repair() {
        match ctx.store.reopen_review(&record.id, ctx.now()).await {
            Ok(_) => record.ttl = None,
            Err(e) => {
                tracing::warn!(idv_id = %record.id, error = %e, "could not reopen a session in review")
            }
        }
    }
    record
}

/// Every attempt Plaid holds for (user, template), following list cursors (bounded: a user has a
/// handful of attempts; Plaid suggests at most a few retries).
pub async fn plaid_attempts<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
) -> Result<Vec<IdentityVerification>, PlaidError> {
    const MAX_PAGES: usize = 10;
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page = ctx
            .plaid
            .list(&ListRequest {
                template_id: template.clone(),
                client_user_id: user.clone(),
                cursor: cursor.take(),
            })
            .await?;
        all.extend(page.identity_verifications);
        match page.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    Ok(all)
}
