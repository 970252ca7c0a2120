//! Reading one session for a caller: the owner, or a reviewer (any session, audited); refreshed
//! from Plaid when stale or asked to, within the per-session cool-down of live reads.

use super::plaid_calls::PlaidCalls;
use super::sync::{refresh_owned, repair_review};
use crate::context::AppContext;
use crate::http::ApiError;
use crate::ids::{ClientUserId, IdvId};
use crate::plaid::types::IdentityVerification;
use crate::session::SessionRecord;
use crate::session::lifecycle::{LIVE_READ_COOLDOWN, LIVE_READ_RETRY_AFTER, needs_refresh};
use crate::store::SessionStore;

/// Who reads: the caller's `sub`, and whether its token holds the reviewer scope.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub user: &'a ClientUserId,
    pub reviewer: bool,
}

/// What the caller asked for: `refresh` re-reads from Plaid, `full` adds Plaid's whole result
/// (reviewers only).
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    pub refresh: bool,
    pub full: bool,
}

#[derive(Debug)]
pub struct SessionRead {
    pub record: SessionRecord,
    /// Plaid's answer, when `full` was asked for.
    pub full: Option<IdentityVerification>,
    /// The session's `shareable_url`, when Plaid was read live and the reader owns the session:
    /// a bearer link, handed to its owner only and never stored or logged.
    pub shareable_url: Option<String>,
}

pub async fn read_session<S: SessionStore>(
    ctx: &AppContext<S>,
    reader: Reader<'_>,
    id: &IdvId,
    opts: ReadOptions,
    plaid: &mut PlaidCalls,
) -> Result<SessionRead, ApiError> {
    let ReadOptions { refresh, full } = opts;
    // A reviewer may read any session by id; for everyone else another user's session answers
    // exactly as an unknown one, before any Plaid call.
    let record = ctx
        .store
        .get(id)
        .await?
        .filter(|r| reader.reviewer || &r.client_user_id == reader.user)
        .ok_or(ApiError::NotFound)?;
    if full && !reader.reviewer {
        return Err(ApiError::Forbidden {
            message: "the full result is for reviewers only",
        });
    }
    if reader.reviewer {
        // The audit trail of back-office reads, written before Plaid is asked so that a read
        // that then fails is on it too: who (the reviewer's `sub`) read which session, never
        // anything about the person verified.
        tracing::info!(
            audit = "reviewer_read",
            reviewer_sub = %reader.user,
            idv_id = %record.id,
            view = if full { "full" } else { "summary" },
            "audit: reviewer read a session"
        );
    }
    let owner = record.client_user_id.clone();
    let mut record = repair_review(ctx, record).await;

    let stale = needs_refresh(&record, ctx.now(), ctx.config.freshness_window);
    let mut result = None;
    let mut shareable_url = None;
    let live = refresh || full || stale;
    // The per-session cool-down of live reads (`LIVE_READ_COOLDOWN`): within it, a refresh
    // answers from the store and a full view is refused with 429; Plaid is not asked.
    let claimed = live
        && {
            let now = ctx.now();
            match ctx
                .store
                .claim_live_read(id, now, now - LIVE_READ_COOLDOWN)
                .await
            {
                Ok(claimed) => claimed,
                // An opportunistic refresh must not make a good answer fail.
                Err(e) if !(refresh || full) => {
                    tracing::warn!(idv_id = %id, error = %e, "could not take the read cool-down; answering from the store");
                    false
                }
                Err(e) => return Err(e.into()),
            }
        };
    if live && !claimed && full {
        return Err(ApiError::ReadCooldown {
            retry_after: LIVE_READ_RETRY_AFTER,
        });
    }
    if claimed {
        match refresh_owned(ctx, id, &owner, plaid).await? {
            Ok((iv, stored)) => {
                record = stored;
                if &owner == reader.user {
                    shareable_url = iv.shareable_url.clone();
                }
                if full {
                    result = Some(iv);
                }
            }
            // An opportunistic refresh must not make a good answer fail: serve what we have.
            Err(e) if !(refresh || full) => {
                tracing::warn!(idv_id = %id, error = %e, "refresh from plaid failed; answering from the store");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(SessionRead {
        record,
        full: result,
        shareable_url,
    })
}
