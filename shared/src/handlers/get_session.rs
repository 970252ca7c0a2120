//! `GET /sessions/{id}` (one of the caller's sessions, [`read_session`]: refreshed from Plaid
//! when stale, with `?refresh=true` or `?view=full`) and `GET /sessions` (the caller's sessions,
//! newest first).

use super::session_body::{FullResult, SessionBody};
use super::{RequestLog, finish};
use crate::context::AppContext;
use crate::flows::read::{ReadOptions, Reader, list_sessions, read_session};
use crate::http::request::{caller, has_scope, query, session_id};
use crate::http::response::json;
use crate::http::route::HttpFunction;
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::types::IdvStatus;
use crate::store::SessionStore;
use lambda_http::{Body, Request, Response};
use serde::Serialize;

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

pub async fn handle<S: SessionStore>(ctx: &AppContext<S>, req: Request) -> Response<Body> {
    let route = match super::own_route(&req, HttpFunction::GetSession) {
        Ok(route) => route,
        Err(refused) => return *refused,
    };
    let id = session_id(&req);
    let mut log = RequestLog::new(route.key, &req);
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
    let reader = Reader {
        user,
        reviewer: has_scope(req, &ctx.config.reviewer_scope),
    };
    let read = read_session(
        ctx,
        reader,
        id,
        ReadOptions { refresh, full },
        &mut log.plaid,
    )
    .await;
    // The line names the session unless the answer is that there is none for this caller.
    if !matches!(read, Err(ApiError::NotFound)) {
        log.idv_id = Some(id.to_string());
    }
    let read = read?;
    let mut body = SessionBody::new(&read.record, ctx.now());
    body.result = read.full.as_ref().map(FullResult::from);
    // The link is only worth handing back while the session can still be completed with it.
    if body.status == IdvStatus::Active {
        body.shareable_url = read.shareable_url;
    }
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
    let page = list_sessions(ctx, user, template.as_ref(), limit, cursor.as_deref()).await?;
    let now = ctx.now();
    Ok(json(
        200,
        &ListAnswer {
            sessions: page
                .items
                .iter()
                .map(|r| SessionBody::new(r, now))
                .collect(),
            next_cursor: page.next_cursor,
        },
    ))
}
