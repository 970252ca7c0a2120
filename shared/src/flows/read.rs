//! Reading one session for a caller: the owner, or a reviewer (any session, audited); refreshed
//! from Plaid when stale or asked to, within the reader's budget of live reads. And listing the
//! caller's own sessions, from the store only ([`list_sessions`]).
//!
//! **What a live read costs, and whom.** Plaid's rate limits are per client: every user's reads
//! share them with the webhooks and reconcile. So:
//! - a session whose status is final at Plaid (`success`, `failed`, `expired`, `canceled`) can no
//!   longer change: `refresh` answers it from the store, and only the reviewer's full view (whose
//!   whole result is never stored) still asks Plaid;
//! - a live read takes the reader's budget, one per [`LIVE_READ_COOLDOWN`] across all the
//!   sessions it reads ([`ReadBudget`]; the stamp's storage is described in
//!   `store/read_budget.rs`): an owner with many sessions gets no more reads than one with one.
//!   Within the cool-down a refresh answers from the store and a full view answers 429;
//! - a reviewer's reads (summary or full) take the reviewer's own budget, never the owner's, so
//!   an owner refreshing in a loop cannot make the reviewer's full view answer 429, nor can one
//!   reviewer's reads spend another's.

use super::plaid_calls::PlaidCalls;
use super::sync::{refresh_owned, repair_review};
use crate::context::AppContext;
use crate::http::ApiError;
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::types::IdentityVerification;
use crate::session::SessionRecord;
use crate::session::lifecycle::{LIVE_READ_COOLDOWN, LIVE_READ_RETRY_AFTER, needs_refresh};
use crate::store::{Page, ReadBudget, SessionStore, StoreError};

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
        // Its own target, on at every log level (`logging::AUDIT_TARGET`).
        tracing::info!(
            target: crate::logging::AUDIT_TARGET,
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
    // Plaid's word on a final session cannot change: only the full result, which is never
    // stored, is worth a read.
    let live = full || (!record.status.is_final() && (refresh || stale));
    let budget = if reader.reviewer {
        ReadBudget::Reviewer(reader.user.clone())
    } else {
        ReadBudget::Owner(reader.user.clone())
    };
    // The reader's cool-down of live reads (`LIVE_READ_COOLDOWN`): within it, a refresh answers
    // from the store and a full view is refused with 429; Plaid is not asked.
    let claimed = live
        && {
            let now = ctx.now();
            match ctx
                .store
                .claim_read_budget(&budget, now, now - LIVE_READ_COOLDOWN)
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

/// One page of `user`'s sessions, newest first, optionally for one template; each repaired as a
/// single read is ([`repair_review`]). Never asks Plaid: a list costs no live read.
pub async fn list_sessions<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: Option<&TemplateId>,
    limit: u32,
    cursor: Option<&str>,
) -> Result<Page<SessionRecord>, StoreError> {
    let page = ctx
        .store
        .list_for_user(user, template, limit, cursor)
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for r in page.items {
        items.push(repair_review(ctx, r).await);
    }
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}
