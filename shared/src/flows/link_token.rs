//! Issuing a Plaid Link token for one of the caller's sessions, made with the session's own
//! template and user, never with values from the request.

use super::plaid_calls::PlaidCalls;
use super::sync::{refresh_owned, repair_review};
use crate::context::AppContext;
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientUserId, IdvId};
use crate::plaid::types::{LinkTokenCreateRequest, LinkTokenIdentityVerification, LinkTokenUser};
use crate::session::lifecycle::{
    LIVE_READ_COOLDOWN, LIVE_READ_RETRY_AFTER, LinkRefusal, link_allowed, needs_refresh,
};
use crate::store::SessionStore;
use serde::Serialize;

/// Where Link sends the person back, already checked against the configured allow-lists by the
/// caller; at most one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkTarget {
    pub redirect_uri: Option<String>,
    pub android_package_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IssuedLinkToken {
    pub link_token: String,
    pub expiration: String,
    pub session_id: String,
}

/// A Link token for session `id` of `user`. Another user's session is refused exactly as an
/// unknown one (`NotFound`), before any Plaid call.
pub async fn issue_link_token<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    id: &IdvId,
    target: LinkTarget,
    plaid: &mut PlaidCalls,
) -> Result<IssuedLinkToken, ApiError> {
    let record = ctx
        .store
        .get(id)
        .await?
        .filter(|r| &r.client_user_id == user)
        .ok_or(ApiError::NotFound)?;
    let mut record = repair_review(ctx, record).await;
    // A token for a session Plaid has already finished is useless: a session not read from Plaid
    // for longer than the freshness window (its webhooks may be late or lost) is re-read first,
    // and recorded (hence this function's dynamodb:UpdateItem). Not past the app window: an
    // expired session is refused without asking Plaid.
    let now = ctx.now();
    let refresh_first =
        needs_refresh(&record, now, ctx.config.freshness_window) && !record.is_app_expired(now);
    if !refresh_first {
        // What the store knows is fresh enough to refuse on, without a write or Plaid.
        link_allowed(&record, now).map_err(refusal)?;
    }
    // The per-session cool-down of live Plaid reads (`LIVE_READ_COOLDOWN`) covers the refresh
    // and the token request: within it, the token this instance just made for the same session
    // and redirect is handed back again, else 429.
    if !ctx
        .store
        .claim_live_read(&record.id, now, now - LIVE_READ_COOLDOWN)
        .await?
    {
        return match recent::recall(&record.id, &target, now) {
            Some(answer) => Ok(answer),
            None => Err(ApiError::ReadCooldown {
                retry_after: LIVE_READ_RETRY_AFTER,
            }),
        };
    }
    if refresh_first {
        let owner = record.client_user_id.clone();
        match refresh_owned(ctx, id, &owner, plaid).await? {
            Ok((_, stored)) => record = stored,
            // Plaid is unreachable: the token request below will tell; answer from the store.
            Err(e) => {
                tracing::warn!(idv_id = %record.id, error = %e, "refresh from plaid failed; deciding from the store");
            }
        }
    }
    link_allowed(&record, ctx.now()).map_err(refusal)?;
    let token = ctx
        .plaid
        .link_token_create(&LinkTokenCreateRequest {
            client_name: ctx.config.client_name.clone(),
            language: ctx.config.language.clone(),
            country_codes: ctx.config.country_codes.clone(),
            user: LinkTokenUser {
                client_user_id: record.client_user_id.clone(),
            },
            products: vec!["identity_verification".to_owned()],
            identity_verification: LinkTokenIdentityVerification {
                template_id: record.template_id.clone(),
                gave_consent: None,
            },
            redirect_uri: target.redirect_uri.clone(),
            android_package_name: target.android_package_name.clone(),
        })
        .await
        .inspect_err(|e| plaid.failed(e))?;
    plaid.answered(token.request_id.as_deref());
    let answer = IssuedLinkToken {
        link_token: token.link_token,
        expiration: token
            .expiration
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        session_id: record.id.to_string(),
    };
    recent::remember(&record.id, target, &answer, now);
    Ok(answer)
}

fn refusal(refusal: LinkRefusal) -> ApiError {
    match refusal {
        LinkRefusal::Expired => ApiError::Gone,
        LinkRefusal::Finished => ApiError::Conflict {
            code: ErrorCode::SessionFinished,
            message: "the session is finished; start a new one with POST /sessions",
            retry_after: None,
        },
        LinkRefusal::InReview => ApiError::Conflict {
            code: ErrorCode::SessionInReview,
            message: "the session is waiting for a review; there is nothing to do in Link",
            retry_after: None,
        },
    }
}

/// The tokens this instance made within the read cool-down, so that a caller asking again at
/// once (a double-mounted component, a loop) gets the same token without a Plaid call. Kept in
/// memory only, for `LIVE_READ_COOLDOWN`, at most `MAX` of them; a link token is not PII, and it
/// is only handed back to the session's owner (checked before), for the same redirect.
mod recent {
    use super::{IssuedLinkToken, LinkTarget};
    use crate::ids::IdvId;
    use crate::session::lifecycle::LIVE_READ_COOLDOWN;
    use chrono::{DateTime, Utc};
    use std::sync::Mutex;

    const MAX: usize = 256;

    struct Recent {
        id: IdvId,
        target: LinkTarget,
        issued_at: DateTime<Utc>,
        answer: IssuedLinkToken,
    }

    static RECENT: Mutex<Vec<Recent>> = Mutex::new(Vec::new());

    fn fresh(r: &Recent, now: DateTime<Utc>) -> bool {
        r.issued_at <= now && now - r.issued_at < LIVE_READ_COOLDOWN
    }

    pub(super) fn recall(
        id: &IdvId,
        target: &LinkTarget,
        now: DateTime<Utc>,
    ) -> Option<IssuedLinkToken> {
        let recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .rev()
            .find(|r| &r.id == id && &r.target == target && fresh(r, now))
            .map(|r| r.answer.clone())
    }

    pub(super) fn remember(
        id: &IdvId,
        target: LinkTarget,
        answer: &IssuedLinkToken,
        now: DateTime<Utc>,
    ) {
        let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|r| fresh(r, now) && &r.id != id);
        if recent.len() >= MAX {
            recent.remove(0);
        }
        recent.push(Recent {
            id: id.clone(),
            target,
            issued_at: now,
            answer: answer.clone(),
        });
    }
}
