//! `POST /sessions/{id}/link-token`: a Plaid Link token for the caller's own session, made with
//! the session's own template and user, never with values from the request.

use super::{RequestLog, finish};
use crate::context::AppContext;
use crate::flows::sync::{refresh_owned, repair_review};
use crate::http::request::{caller, json_body, session_id};
use crate::http::response::json;
use crate::http::{ApiError, ErrorCode};
use crate::plaid::types::{LinkTokenCreateRequest, LinkTokenIdentityVerification, LinkTokenUser};
use crate::session::lifecycle::{
    LIVE_READ_COOLDOWN, LIVE_READ_RETRY_AFTER, LinkRefusal, link_allowed, needs_refresh,
};
use crate::store::SessionStore;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

/// The only things a caller may choose, each from the configured allow-list. Anything else
/// (a `template_id`, say) is refused as an unknown field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkTokenBody {
    pub redirect_uri: Option<String>,
    pub android_package_name: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct LinkTokenAnswer {
    link_token: String,
    expiration: String,
    session_id: String,
}

pub async fn handle<S: SessionStore>(ctx: &AppContext<S>, req: Request) -> Response<Body> {
    if let Some(refused) =
        super::refuse_other_routes(&req, &[("POST", "/sessions/{id}/link-token")])
    {
        return refused;
    }
    let mut log = RequestLog::new("POST /sessions/{id}/link-token", &req);
    let result = run(ctx, &req, &mut log).await;
    finish(log, result)
}

async fn run<S: SessionStore>(
    ctx: &AppContext<S>,
    req: &Request,
    log: &mut RequestLog,
) -> Result<Response<Body>, ApiError> {
    let user = caller(req, &ctx.config)?;
    let id = session_id(req)?.ok_or(ApiError::NotFound)?;
    let body: LinkTokenBody = json_body(req)?;
    // Bad input is refused before anything is read or asked of Plaid.
    if body.redirect_uri.is_some() && body.android_package_name.is_some() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidBody,
            "redirect_uri and android_package_name are mutually exclusive",
        ));
    }
    if let Some(uri) = &body.redirect_uri
        && !ctx.config.redirect_uris.contains(uri)
    {
        return Err(ApiError::bad_request(
            ErrorCode::RedirectUriNotAllowed,
            "redirect_uri is not in the configured allow-list",
        ));
    }
    if let Some(pkg) = &body.android_package_name
        && !ctx.config.android_package_names.contains(pkg)
    {
        return Err(ApiError::bad_request(
            ErrorCode::AndroidPackageNameNotAllowed,
            "android_package_name is not in the configured allow-list",
        ));
    }
    // Another user's session answers exactly as an unknown one.
    let record = ctx
        .store
        .get(&id)
        .await?
        .filter(|r| r.client_user_id == user)
        .ok_or(ApiError::NotFound)?;
    log.idv_id = Some(record.id.to_string());
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
        return match recent::recall(&record.id, &body, now) {
            Some(answer) => Ok(json(200, &answer)),
            None => Err(ApiError::ReadCooldown {
                retry_after: LIVE_READ_RETRY_AFTER,
            }),
        };
    }
    if refresh_first {
        let owner = record.client_user_id.clone();
        match refresh_owned(ctx, &id, &owner, &mut log.plaid).await? {
            Ok((_, stored)) => record = stored,
            // Plaid is unreachable: the token request below will tell; answer from the store.
            Err(e) => {
                tracing::warn!(idv_id = %record.id, error = %e, "refresh from plaid failed; deciding from the store");
            }
        }
    }
    link_allowed(&record, ctx.now()).map_err(refusal)?;
    let remember = (body.redirect_uri.clone(), body.android_package_name.clone());
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
            redirect_uri: body.redirect_uri,
            android_package_name: body.android_package_name,
        })
        .await
        .inspect_err(|e| log.plaid_error(e))?;
    log.plaid.answered(token.request_id.as_deref());
    let answer = LinkTokenAnswer {
        link_token: token.link_token,
        expiration: token
            .expiration
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        session_id: record.id.to_string(),
    };
    recent::remember(&record.id, remember, &answer, now);
    Ok(json(200, &answer))
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
    use super::{LinkTokenAnswer, LinkTokenBody};
    use crate::ids::IdvId;
    use crate::session::lifecycle::LIVE_READ_COOLDOWN;
    use chrono::{DateTime, Utc};
    use std::sync::Mutex;

    const MAX: usize = 256;

    struct Recent {
        id: IdvId,
        redirect: (Option<String>, Option<String>),
        issued_at: DateTime<Utc>,
        answer: LinkTokenAnswer,
    }

    static RECENT: Mutex<Vec<Recent>> = Mutex::new(Vec::new());

    fn fresh(r: &Recent, now: DateTime<Utc>) -> bool {
        r.issued_at <= now && now - r.issued_at < LIVE_READ_COOLDOWN
    }

    pub(super) fn recall(
        id: &IdvId,
        body: &LinkTokenBody,
        now: DateTime<Utc>,
    ) -> Option<LinkTokenAnswer> {
        let recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
        recent
            .iter()
            .rev()
            .find(|r| {
                &r.id == id
                    && r.redirect.0 == body.redirect_uri
                    && r.redirect.1 == body.android_package_name
                    && fresh(r, now)
            })
            .map(|r| r.answer.clone())
    }

    pub(super) fn remember(
        id: &IdvId,
        redirect: (Option<String>, Option<String>),
        answer: &LinkTokenAnswer,
        now: DateTime<Utc>,
    ) {
        let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
        recent.retain(|r| fresh(r, now) && &r.id != id);
        if recent.len() >= MAX {
            recent.remove(0);
        }
        recent.push(Recent {
            id: id.clone(),
            redirect,
            issued_at: now,
            answer: answer.clone(),
        });
    }
}
