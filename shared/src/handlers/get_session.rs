//! `GET /sessions/{id}` (one of the caller's sessions, refreshed from Plaid when stale, with
//! `?refresh=true` or `?view=full`) and `GET /sessions` (the caller's sessions, newest first).

use super::session_body::{FullResult, SessionBody};
use super::{RequestLog, finish};
use crate::context::AppContext;
use crate::flows::sync::{refresh_owned, repair_review};
use crate::http::request::{caller, has_scope, query, session_id};
use crate::http::response::json;
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::session::lifecycle::{LIVE_READ_COOLDOWN, LIVE_READ_RETRY_AFTER, needs_refresh};
use crate::store::SessionStore;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

pub async fn handle<S: SessionStore>(ctx: &AppContext<S>, req: Request) -> Response<Body> {
    if let Some(refused) =
        super::refuse_other_routes(&req, &[("GET", "/sessions"), ("GET", "/sessions/{id}")])
    {
        return refused;
    }
    let id = session_id(&req);
    let route = match id {
        Ok(None) => "GET /sessions",
        _ => "GET /sessions/{id}",
    };
    let mut log = RequestLog::new(route, &req);
    let result = async {
        let user = caller(&req, &ctx.config)?;
        match id? {
            Some(id) => one(ctx, &req, &user, &id, &mut log).await,
            None => list(ctx, &req, &user).await,
        }
    }
    .await;
    finish(log, result)
}

fn flag(req: &Request, name: &'static str) -> Result<bool, ApiError> {
    match query(req, name).as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("{name} must be true or false"),
        )),
    }
}

async fn one<S: SessionStore>(
    ctx: &AppContext<S>,
    req: &Request,
    user: &ClientUserId,
    id: &IdvId,
    log: &mut RequestLog,
) -> Result<Response<Body>, ApiError> {
    let refresh = flag(req, "refresh")?;
    let full = match query(req, "view").as_deref() {
        None | Some("summary") => false,
        Some("full") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidQuery,
                "view must be summary or full",
            ));
        }
    };
    // A reviewer (token scope IDV_REVIEWER_SCOPE) may read any session by id; for everyone
    // else another user's session answers exactly as an unknown one, before any Plaid call.
    let reviewer = has_scope(req, &ctx.config.reviewer_scope);
    let record = ctx
        .store
        .get(id)
        .await?
        .filter(|r| reviewer || &r.client_user_id == user)
        .ok_or(ApiError::NotFound)?;
    if full && !reviewer {
        return Err(ApiError::Forbidden {
            message: "the full result is for reviewers only",
        });
    }
    log.idv_id = Some(record.id.to_string());
    if reviewer {
        // The audit trail of back-office reads: who (the reviewer's `sub`) read which session,
        // never anything about the person verified.
        tracing::info!(
            audit = "reviewer_read",
            reviewer_sub = %user,
            idv_id = %record.id,
            view = if full { "full" } else { "summary" },
            "audit: reviewer read a session"
        );
    }
    let owner = record.client_user_id.clone();
    let mut record = repair_review(ctx, record).await;

    let stale = needs_refresh(&record, ctx.now(), ctx.config.freshness_window);
    let mut result = None;
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
        match refresh_owned(ctx, id, &owner, &mut log.plaid).await? {
            Ok((iv, stored)) => {
                record = stored;
                if full {
                    result = Some(FullResult::from(&iv));
                }
            }
            // An opportunistic refresh must not make a good answer fail: serve what we have.
            Err(e) if !(refresh || full) => {
                tracing::warn!(idv_id = %id, error = %e, "refresh from plaid failed; answering from the store");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let mut body = SessionBody::new(&record, ctx.now());
    body.result = result;
    Ok(json(200, &body))
}

#[derive(Serialize)]
struct ListAnswer {
    sessions: Vec<SessionBody>,
    next_cursor: Option<String>,
}

async fn list<S: SessionStore>(
    ctx: &AppContext<S>,
    req: &Request,
    user: &ClientUserId,
) -> Result<Response<Body>, ApiError> {
    let template = query(req, "template_id")
        .map(|t| {
            TemplateId::parse(t).map_err(|_| {
                ApiError::bad_request(ErrorCode::InvalidQuery, "template_id is not a template id")
            })
        })
        .transpose()?;
    let limit = match query(req, "limit") {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("limit must be between 1 and {MAX_PAGE}"),
                )
            })?,
    };
    let cursor = query(req, "cursor");
    let page = ctx
        .store
        .list_for_user(user, template.as_ref(), limit, cursor.as_deref())
        .await?;
    let now = ctx.now();
    let mut items = Vec::with_capacity(page.items.len());
    for r in page.items {
        items.push(repair_review(ctx, r).await);
    }
    Ok(json(
        200,
        &ListAnswer {
            sessions: items.iter().map(|r| SessionBody::new(r, now)).collect(),
            next_cursor: page.next_cursor,
        },
    ))
}
