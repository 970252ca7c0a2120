//! `POST /sessions/{id}/link-token`: a Plaid Link token for the caller's own session
//! ([`issue_link_token`]); the caller may choose only where Link sends the person back.

use super::{RequestLog, finish};
use crate::context::AppContext;
use crate::flows::link_token::{LinkTarget, issue_link_token};
use crate::http::request::{caller, json_body, session_id};
use crate::http::response::json;
use crate::http::route::HttpFunction;
use crate::http::{ApiError, ErrorCode};
use crate::store::SessionStore;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

/// The only things a caller may choose, each from the configured allow-list. Anything else
/// (a `template_id`, say) is refused as an unknown field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkTokenBody {
    pub redirect_uri: Option<String>,
    pub android_package_name: Option<String>,
}

pub async fn handle<S: SessionStore>(ctx: &AppContext<S>, req: Request) -> Response<Body> {
    let route = match super::own_route(&req, HttpFunction::LinkToken) {
        Ok(route) => route,
        Err(refused) => return *refused,
    };
    let mut log = RequestLog::new(route.key, &req);
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
    let target = LinkTarget {
        redirect_uri: body.redirect_uri,
        android_package_name: body.android_package_name,
    };
    let issued = issue_link_token(ctx, &user, &id, target, &mut log.plaid).await;
    // The line names the session unless the answer is that there is none for this caller.
    if !matches!(issued, Err(ApiError::NotFound)) {
        log.idv_id = Some(id.to_string());
    }
    Ok(json(200, &issued?))
}
