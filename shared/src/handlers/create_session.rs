//! `POST /sessions`: start, resume or retry the caller's verification.

use super::session_body::SessionBody;
use super::{RequestLog, finish};
use crate::context::AppContext;
use crate::flows::start::{StartOptions, start_session};
use crate::http::request::{caller, json_body};
use crate::http::route::HttpFunction;
use crate::http::{ApiError, ErrorCode};
use crate::ids::TemplateId;
use crate::session::user_input::UserInput;
use crate::store::SessionStore;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    pub template_id: Option<String>,
    pub user: Option<UserInput>,
    pub is_shareable: Option<bool>,
    pub gave_consent: Option<bool>,
}

pub async fn handle<S: SessionStore>(ctx: &AppContext<S>, req: Request) -> Response<Body> {
    let route = match super::own_route(&req, HttpFunction::CreateSession) {
        Ok(route) => route,
        Err(refused) => return *refused,
    };
    let mut log = RequestLog::new(route.key, &req);
    let result = run(ctx, &req, &mut log).await;
    if let Err(e) = &result {
        crate::emf::start_refused(e.error_code().as_str());
    }
    finish(log, result)
}

async fn run<S: SessionStore>(
    ctx: &AppContext<S>,
    req: &Request,
    log: &mut RequestLog,
) -> Result<Response<Body>, ApiError> {
    let user = caller(req, &ctx.config)?;
    let body: StartBody = json_body(req)?;
    let template = match body.template_id {
        None => ctx.config.default_template_id.clone(),
        Some(raw) => TemplateId::parse(raw)
            .ok()
            .filter(|t| ctx.config.template_allowed(t))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::TemplateNotAllowed,
                    "template_id is not one of the configured templates",
                )
            })?,
    };
    let prefill = body
        .user
        .map(|u| u.parse(ctx.now().date_naive()))
        .transpose()?
        .filter(|u| !u.is_empty());
    let opts = StartOptions {
        prefill,
        is_shareable: body.is_shareable.unwrap_or(false),
        gave_consent: body.gave_consent.unwrap_or(false),
    };
    let started = start_session(ctx, &user, &template, &opts, &mut log.plaid).await?;
    crate::emf::start(started.outcome.as_str());
    log.idv_id = Some(started.record.id.to_string());
    let mut out = SessionBody::new(&started.record, ctx.now());
    out.shareable_url = started.shareable_url;
    Ok(crate::http::response::json(
        if started.outcome.made_session() {
            201
        } else {
            200
        },
        &out,
    ))
}
