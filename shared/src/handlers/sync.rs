//! Recording what Plaid says about a session, under the store's ordering rules. Used by every
//! path that reads a session from Plaid: start, get with refresh, webhook, reconcile.

use crate::context::AppContext;
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::PlaidError;
use crate::plaid::types::{IdentityVerification, ListRequest};
use crate::session::SessionRecord;
use crate::store::{SessionStore, StoreError, UpdateOutcome};
use chrono::{DateTime, Utc};

/// Save a snapshot read from Plaid at `synced_at`. Returns the record as it now stands: ours if
/// it was written, the stored one if that was newer (a concurrent writer won).
pub async fn record_snapshot<S: SessionStore>(
    ctx: &AppContext<S>,
    iv: &IdentityVerification,
    synced_at: DateTime<Utc>,
) -> Result<SessionRecord, StoreError> {
    let existing = ctx.store.get(&iv.id).await?;
    let candidate = match &existing {
        Some(stored) => stored.refreshed(iv, synced_at),
        None => SessionRecord::from_plaid(iv, synced_at, ctx.config.session_ttl),
    };
    match ctx.store.save_snapshot(&candidate).await? {
        UpdateOutcome::Written => Ok(candidate),
        UpdateOutcome::Rejected => Ok(ctx.store.get(&iv.id).await?.unwrap_or(candidate)),
    }
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

/// Plaid's newest attempt for (user, template), if it is newer than `known`.
pub fn newer_than<'a>(
    attempts: &'a [IdentityVerification],
    known: &IdvId,
    known_created_at: DateTime<Utc>,
) -> Option<&'a IdentityVerification> {
    attempts
        .iter()
        .filter(|a| &a.id != known && a.created_at >= known_created_at)
        .max_by_key(|a| a.created_at)
}
