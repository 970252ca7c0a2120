//! `POST /webhooks/plaid`: verify, then re-read the session from Plaid and record it.
//!
//! With `PLAID_WEBHOOK_SOURCE_IPS` set, a delivery whose API Gateway `sourceIp` is not on the
//! list is refused first (401, the same answer as a bad signature), before the token is even
//! read. Nothing is written and Plaid is not called before the signature, freshness and body
//! hash check out. Failures on our side answer 5xx so that Plaid retries (for up to 24 hours).
//! Deliveries are never de-duplicated by body: two genuine `STATUS_UPDATED` webhooks for one
//! session have identical bodies, and each must re-read the session, unless its token was signed
//! before the session's last Plaid read (then it has nothing to tell; `flows::webhook`). A body
//! that verifies but makes no sense (not JSON, not an object, no usable session id) is answered
//! 200 with a warning and nothing written: Plaid would retry a 5xx for a day, to no end.

use super::{RequestLog, finish};
use crate::context::AppContext;
use crate::emf;
use crate::flows::webhook::{WebhookOutcome, record_webhook};
use crate::http::ApiError;
use crate::http::request::body_bytes;
use crate::http::response::json;
use crate::http::route::HttpFunction;
use crate::plaid::types::{IdvWebhook, WebhookCode, WebhookEnvelope};
use crate::store::SessionStore;
use crate::webhook_verify::{KeyFetcher, WebhookVerifier, find_header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Deserialize as _;

const IDV_WEBHOOK_TYPE: &str = "IDENTITY_VERIFICATION";

/// The caller's address as API Gateway saw it (`requestContext.http.sourceIp`).
fn source_ip(req: &Request) -> Option<&str> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref(),
        _ => None,
    }
}

/// The 200 answer, counted: its `status` is the metric's outcome.
fn ack(outcome: emf::WebhookOutcome) -> Response<Body> {
    emf::webhook(outcome);
    json(200, &serde_json::json!({ "status": outcome.as_str() }))
}

pub async fn handle<S: SessionStore, F: KeyFetcher>(
    ctx: &AppContext<S>,
    verifier: &WebhookVerifier<F>,
    req: Request,
) -> Response<Body> {
    let route = match super::own_route(&req, HttpFunction::Webhook) {
        Ok(route) => route,
        Err(refused) => return *refused,
    };
    let mut log = RequestLog::new(route.key, &req);
    let result = run(ctx, verifier, &req, &mut log).await;
    match &result {
        // Counted with its reason where it was refused.
        Err(ApiError::InvalidWebhook) | Ok(_) => {}
        Err(_) => emf::webhook(emf::WebhookOutcome::Failed),
    }
    finish(log, result)
}

async fn run<S: SessionStore, F: KeyFetcher>(
    ctx: &AppContext<S>,
    verifier: &WebhookVerifier<F>,
    req: &Request,
    log: &mut RequestLog,
) -> Result<Response<Body>, ApiError> {
    // Before any work: no token parsing, no key fetch, nothing written. The address itself is
    // not logged (the API's logs hold no client addresses).
    if !ctx.config.webhook_source_ips.allows(source_ip(req)) {
        tracing::warn!(
            webhook_rejected = true,
            reason = "source address not in PLAID_WEBHOOK_SOURCE_IPS",
            "webhook rejected"
        );
        emf::webhook_rejected("source_address");
        return Err(ApiError::InvalidWebhook);
    }
    let body = body_bytes(req);
    let signed = match verifier
        .verify_detailed(find_header(req.headers()), body, ctx.now())
        .await
    {
        Ok(signed) => signed,
        Err(e) => return Err(refused(e)),
    };

    // Verified: from here on the body is Plaid's own words, but words that make no sense are
    // still answered 200 (and logged): Plaid retries anything else for a day, and retrying
    // cannot make them make sense. Only a JSON object is a webhook: serde would also fill the
    // structs below from a JSON array of the same values in order.
    let value = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            tracing::warn!("verified webhook body is JSON but not an object; ignored");
            return Ok(ack(emf::WebhookOutcome::Ignored));
        }
        Err(_) => {
            tracing::warn!("verified webhook body is not JSON; ignored");
            return Ok(ack(emf::WebhookOutcome::Ignored));
        }
    };
    let Ok(envelope) = WebhookEnvelope::deserialize(&value) else {
        tracing::warn!("verified webhook is not a webhook envelope; ignored");
        return Ok(ack(emf::WebhookOutcome::Ignored));
    };
    if envelope.webhook_type != IDV_WEBHOOK_TYPE {
        return Ok(ack(emf::WebhookOutcome::Ignored));
    }
    if envelope.environment != Some(ctx.config.plaid_env) {
        tracing::info!(environment = ?envelope.environment, "webhook from another plaid environment; ignored");
        return Ok(ack(emf::WebhookOutcome::Ignored));
    }
    let Ok(hook) = IdvWebhook::deserialize(&value) else {
        tracing::warn!(webhook_code = %envelope.webhook_code, "identity verification webhook without a usable session id; ignored");
        return Ok(ack(emf::WebhookOutcome::Ignored));
    };
    log.idv_id = Some(hook.identity_verification_id.to_string());

    match record_webhook(ctx, &hook, signed.iat, &mut log.plaid).await? {
        WebhookOutcome::Recorded(session) => {
            // Plaid sends STATUS_UPDATED when the status changes: a final one is a finish.
            if hook.webhook_code == WebhookCode::StatusUpdated {
                emf::verification_finished(session.status);
            }
            Ok(ack(emf::WebhookOutcome::Processed))
        }
        WebhookOutcome::UnknownSession => Ok(ack(emf::WebhookOutcome::Ignored)),
        WebhookOutcome::NoNews(_) => {
            tracing::info!(
                webhook_code = %envelope.webhook_code,
                "webhook signed before the session's last plaid read; answered from the store"
            );
            Ok(ack(emf::WebhookOutcome::Ignored))
        }
    }
}

/// The answer to a delivery that did not verify: 401, or 503 when the key could not be had.
fn refused(e: crate::webhook_verify::VerifyError) -> ApiError {
    if e.is_retryable() {
        tracing::error!(error = %e, "webhook verification key unavailable");
        return ApiError::PlaidUnavailable {
            retry_after: std::time::Duration::from_secs(30),
        };
    }
    tracing::warn!(webhook_rejected = true, reason = %e, "webhook rejected");
    // What `WebhookRejectedAlarm` in infra/template.yaml counts.
    emf::webhook_rejected(e.reason_class());
    ApiError::InvalidWebhook
}
