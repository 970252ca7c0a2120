//! `POST /sessions/{id}/link-token`: a Plaid Link token for the caller's own session, made with
//! the session's own template and user, never with values from the request.

use super::{RequestLog, finish};
use crate::context::AppContext;
use crate::http::ApiError;
use crate::http::request::{caller, json_body, session_id};
use crate::http::response::json;
use crate::plaid::types::{LinkTokenCreateRequest, LinkTokenIdentityVerification, LinkTokenUser};
use crate::session::lifecycle::{LinkRefusal, link_allowed};
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

#[derive(Debug, Serialize)]
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
    // Another user's session answers exactly as an unknown one.
    let record = ctx
        .store
        .get(&id)
        .await?
        .filter(|r| r.client_user_id == user)
        .ok_or(ApiError::NotFound)?;
    log.idv_id = Some(record.id.to_string());
    link_allowed(&record, ctx.now()).map_err(|refusal| match refusal {
        LinkRefusal::Expired => ApiError::Gone,
        LinkRefusal::Finished => ApiError::Conflict {
            code: "session_finished",
            message: "the session is finished; start a new one with POST /sessions",
            retry_after: None,
        },
        LinkRefusal::InReview => ApiError::Conflict {
            code: "session_in_review",
            message: "the session is waiting for a review; there is nothing to do in Link",
            retry_after: None,
        },
    })?;
    if body.redirect_uri.is_some() && body.android_package_name.is_some() {
        return Err(ApiError::bad_request(
            "invalid_body",
            "redirect_uri and android_package_name are mutually exclusive",
        ));
    }
    if let Some(uri) = &body.redirect_uri
        && !ctx.config.redirect_uris.contains(uri)
    {
        return Err(ApiError::bad_request(
            "redirect_uri_not_allowed",
            "redirect_uri is not in the configured allow-list",
        ));
    }
    if let Some(pkg) = &body.android_package_name
        && !ctx.config.android_package_names.contains(pkg)
    {
        return Err(ApiError::bad_request(
            "android_package_name_not_allowed",
            "android_package_name is not in the configured allow-list",
        ));
    }
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
    log.plaid_request_id = token.request_id.clone();
    Ok(json(
        200,
        &LinkTokenAnswer {
            link_token: token.link_token,
            expiration: token
                .expiration
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            session_id: record.id.to_string(),
        },
    ))
}
