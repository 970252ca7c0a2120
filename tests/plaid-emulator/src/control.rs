//! The control surface under `/emulator/`: what a user would do in Link or a reviewer in the
//! Dashboard (walk steps, submit data, review), plus webhooks, keys, faults, the request log
//! and reset. Every handler here has a `RunningEmulator` method twin.

use super::details::sandbox_outcome;
use super::errors::ControlError;
use super::signing::Jwk;
use super::state::{Event, Fault, Outcome, Status, Step, StepStatus, Template, WebhookRecord};
use super::{Inner, validate, webhooks};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

mod link_token;

pub(crate) use link_token::{OpenRefusal, invalidate_link_token, open_link, open_session};

/// Body of `complete_step`. Without `outcome` the Sandbox rules decide (test identity passes
/// KYC and documents; `code` must be 11111 for `verify_sms`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    pub step: Option<Step>,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub code: Option<String>,
}

/// Outcome asked of `finish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishOutcome {
    Success,
    Failed,
    PendingReview,
    Expired,
    Canceled,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FinishBody {
    #[serde(default)]
    outcome: Option<FinishOutcome>,
    #[serde(default)]
    failed_step: Option<Step>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewBody {
    outcome: Outcome,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeliverBody {
    id: String,
    #[serde(default)]
    resign: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UrlBody {
    url: Option<String>,
}

fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ControlError> {
    let raw: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(raw)
        .map_err(|e| ControlError::BadRequest(format!("invalid request body: {e}")))
}

fn reply(r: Result<Value, ControlError>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => e.into_response(),
    }
}

type S = AxState<Arc<Inner>>;

/// Every control POST must say `Content-Type: application/json`, body or not. A page on any
/// site can send a "simple" cross-site POST (a form, `text/plain`, no preflight) to loopback;
/// a JSON one needs a CORS preflight, which this server never grants. So no web page a
/// developer visits can finish, review or reset a session, or move the webhook URL.
async fn require_json(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if request.method() == axum::http::Method::POST {
        let json = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            // The control API's error shape (errors.rs), with the one status only this check
            // gives.
            let body = json!({"error": {
                "code": "unsupported_media_type",
                "message": "control requests must be sent with Content-Type: application/json",
            }});
            return (
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                axum::Json(body),
            )
                .into_response();
        }
    }
    next.run(request).await
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(
            "/emulator/health",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route(
            "/emulator/sessions/{id}",
            get(|AxState(i): S, Path(id): Path<String>| async move { reply(session(&i, &id)) }),
        )
        .route(
            "/emulator/sessions/{id}/complete_step",
            post(
                |AxState(i): S, Path(id): Path<String>, b: Bytes| async move {
                    match parse::<StepRequest>(&b) {
                        Ok(req) => reply(complete_step(&i, &id, req).await),
                        Err(e) => e.into_response(),
                    }
                },
            ),
        )
        .route(
            "/emulator/sessions/{id}/finish",
            post(
                |AxState(i): S, Path(id): Path<String>, b: Bytes| async move {
                    match parse::<FinishBody>(&b) {
                        Ok(req) => reply(finish(&i, &id, req.outcome, req.failed_step).await),
                        Err(e) => e.into_response(),
                    }
                },
            ),
        )
        .route(
            "/emulator/sessions/{id}/review",
            post(
                |AxState(i): S, Path(id): Path<String>, b: Bytes| async move {
                    match parse::<ReviewBody>(&b) {
                        Ok(req) => reply(review(&i, &id, req.outcome).await),
                        Err(e) => e.into_response(),
                    }
                },
            ),
        )
        .route(
            "/emulator/sessions/{id}/submit_user",
            post(
                |AxState(i): S, Path(id): Path<String>, b: Bytes| async move {
                    match parse::<Value>(&b) {
                        Ok(v) => reply(submit_user(&i, &id, v.get("user").cloned().unwrap_or(v))),
                        Err(e) => e.into_response(),
                    }
                },
            ),
        )
        .route(
            "/emulator/link_tokens/{token}",
            get(|AxState(i): S, Path(t): Path<String>| async move {
                let rec = i.lock().link_tokens.get(&t).cloned();
                match rec {
                    Some(r) => axum::Json(json!(r)).into_response(),
                    None => ControlError::NotFound(format!("link token {t}")).into_response(),
                }
            }),
        )
        .route(
            "/emulator/link_tokens/{token}/invalidate",
            post(|AxState(i): S, Path(t): Path<String>| async move {
                reply(invalidate_link_token(&i, &t).map(|r| json!(r)))
            }),
        )
        .route(
            "/emulator/link_tokens/{token}/open",
            post(|AxState(i): S, Path(t): Path<String>| async move { reply(open_link(&i, &t)) }),
        )
        .route(
            "/emulator/webhooks",
            get(|AxState(i): S| async move { axum::Json(json!(i.lock().outbox)) }),
        )
        .route(
            "/emulator/webhooks/redeliver",
            post(|AxState(i): S, b: Bytes| async move {
                match parse::<RedeliverBody>(&b) {
                    Ok(req) => reply(redeliver(&i, &req.id, req.resign).await.map(|r| json!(r))),
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(
            "/emulator/webhook_url",
            post(|AxState(i): S, b: Bytes| async move {
                match parse::<UrlBody>(&b) {
                    Ok(req) => {
                        i.lock().webhook_url = req.url.clone();
                        axum::Json(json!({"url": req.url})).into_response()
                    }
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(
            "/emulator/keys",
            get(|AxState(i): S| async move {
                let state = i.lock();
                axum::Json(json!({
                    "current_kid": state.keys.current().kid,
                    "keys": state.keys.all().map(|k| k.jwk()).collect::<Vec<Jwk>>(),
                }))
            }),
        )
        .route(
            "/emulator/keys/rotate",
            post(|AxState(i): S| async move { reply(rotate_key(&i).map(|k| json!(k))) }),
        )
        .route(
            "/emulator/keys/{kid}/expire",
            post(|AxState(i): S, Path(kid): Path<String>| async move {
                reply(expire_key(&i, &kid).map(|k| json!(k)))
            }),
        )
        .route(
            "/emulator/faults",
            get(|AxState(i): S| async move { axum::Json(json!(i.lock().faults)) }).post(
                |AxState(i): S, b: Bytes| async move {
                    match parse::<Fault>(&b) {
                        Ok(f) => reply(inject_fault(&i, f.clone()).map(|_| json!(f))),
                        Err(e) => e.into_response(),
                    }
                },
            ),
        )
        .route(
            "/emulator/requests",
            get(
                |AxState(i): S, Query(q): Query<HashMap<String, String>>| async move {
                    let state = i.lock();
                    let list: Vec<_> = state
                        .requests
                        .iter()
                        .filter(|r| q.get("endpoint").is_none_or(|e| &r.endpoint == e))
                        .cloned()
                        .collect();
                    axum::Json(json!(list))
                },
            ),
        )
        .route(
            "/emulator/templates",
            get(|AxState(i): S| async move {
                let state = i.lock();
                let mut list: Vec<&Template> = state.templates.values().collect();
                list.sort_by(|a, b| a.id.cmp(&b.id));
                axum::Json(json!(list)).into_response()
            })
            .post(|AxState(i): S, b: Bytes| async move {
                match parse::<Template>(&b) {
                    Ok(t) if t.id.trim().is_empty() => {
                        ControlError::BadRequest("template id must not be empty".into())
                            .into_response()
                    }
                    Ok(t) => {
                        i.lock().templates.insert(t.id.clone(), t.clone());
                        axum::Json(json!(t)).into_response()
                    }
                    Err(e) => e.into_response(),
                }
            }),
        )
        .route(
            "/emulator/reset",
            post(|AxState(i): S| async move {
                reset(&i);
                axum::Json(json!({"reset": true}))
            }),
        )
        .route_layer(axum::middleware::from_fn(require_json))
        .with_state(inner)
}

pub(crate) fn session(inner: &Inner, id: &str) -> Result<Value, ControlError> {
    inner
        .lock()
        .sessions
        .get(id)
        .map(|s| s.to_json())
        .ok_or_else(|| ControlError::NotFound(format!("session {id}")))
}

/// Applies `change` to one session, files the webhooks it calls for, and delivers them before
/// returning, so a test sees them in the outbox (and at its receiver) once the call is back.
pub(crate) async fn mutate(
    inner: &Inner,
    id: &str,
    change: impl FnOnce(&mut super::state::Session) -> Result<Vec<Event>, ControlError>,
) -> Result<Value, ControlError> {
    let (value, ids) = {
        let mut state = inner.lock();
        let session = state
            .sessions
            .get_mut(id)
            .ok_or_else(|| ControlError::NotFound(format!("session {id}")))?;
        // Work on a copy so a refused change leaves the session as it was.
        let mut copy = session.clone();
        let events = change(&mut copy)?;
        *session = copy;
        let value = session.to_json();
        let ids = webhooks::record(&mut state, &events, inner.environment.as_str());
        (value, ids)
    };
    webhooks::deliver(inner, &ids).await;
    Ok(json!({"session": value, "webhooks": ids}))
}

pub(crate) async fn complete_step(
    inner: &Inner,
    id: &str,
    req: StepRequest,
) -> Result<Value, ControlError> {
    mutate(inner, id, |s| {
        let step = match req.step {
            Some(step) => step,
            None => s
                .active_step()
                .ok_or_else(|| ControlError::Conflict("session has no active step".into()))?,
        };
        let outcome = match req.outcome {
            Some(o) => o,
            None if step == Step::VerifySms && req.code.is_none() => {
                return Err(ControlError::BadRequest(
                    "verify_sms needs the SMS `code` (Sandbox: 11111) or an `outcome`".into(),
                ));
            }
            None => sandbox_outcome(s, step, req.code.as_deref()),
        };
        s.complete_step(step, outcome, chrono::Utc::now())
            .map_err(ControlError::Conflict)
    })
    .await
}

pub(crate) async fn finish(
    inner: &Inner,
    id: &str,
    outcome: Option<FinishOutcome>,
    failed_step: Option<Step>,
) -> Result<Value, ControlError> {
    mutate(inner, id, |s| {
        let now = chrono::Utc::now();
        match outcome {
            Some(FinishOutcome::Expired) => {
                return s.end(Status::Expired, now).map_err(ControlError::Conflict);
            }
            Some(FinishOutcome::Canceled) => {
                return s.end(Status::Canceled, now).map_err(ControlError::Conflict);
            }
            _ => {}
        }
        if s.status != Status::Active {
            return Err(ControlError::Conflict("session is not active".into()));
        }
        let open =
            |st: StepStatus| matches!(st, StepStatus::Active | StepStatus::WaitingForPrerequisite);
        let target = match outcome {
            Some(FinishOutcome::Failed) => {
                let t = failed_step
                    .or_else(|| {
                        Step::ORDER
                            .into_iter()
                            .find(|st| *st != Step::AcceptTos && open(s.step(*st)))
                    })
                    .ok_or_else(|| ControlError::Conflict("no step left that could fail".into()))?;
                if t == Step::AcceptTos || !open(s.step(t)) {
                    return Err(ControlError::Conflict(format!(
                        "step {} cannot fail in this session",
                        t.as_str()
                    )));
                }
                Some(t)
            }
            Some(FinishOutcome::PendingReview) => {
                if !open(s.step(Step::WatchlistScreening)) {
                    return Err(ControlError::Conflict(
                        "pending_review needs a watchlist_screening step still to run".into(),
                    ));
                }
                Some(Step::WatchlistScreening)
            }
            _ => None,
        };
        let mut events = Vec::new();
        while s.status == Status::Active {
            let Some(step) = s.active_step() else { break };
            let o = match outcome {
                None => sandbox_outcome(s, step, None),
                Some(FinishOutcome::Failed) if Some(step) == target => Outcome::Failed,
                // A failed data-source check falls back to documents, which must fail too.
                Some(FinishOutcome::Failed)
                    if target == Some(Step::KycCheck) && step == Step::DocumentaryVerification =>
                {
                    Outcome::Failed
                }
                Some(FinishOutcome::PendingReview) if Some(step) == target => {
                    Outcome::PendingReview
                }
                _ => Outcome::Success,
            };
            events.extend(
                s.complete_step(step, o, now)
                    .map_err(ControlError::Conflict)?,
            );
        }
        Ok(events)
    })
    .await
}

pub(crate) async fn review(
    inner: &Inner,
    id: &str,
    outcome: Outcome,
) -> Result<Value, ControlError> {
    mutate(inner, id, |s| {
        s.review(outcome, chrono::Utc::now())
            .map_err(ControlError::Conflict)
    })
    .await
}

pub(crate) fn submit_user(inner: &Inner, id: &str, user: Value) -> Result<Value, ControlError> {
    let Value::Object(obj) = user else {
        return Err(ControlError::BadRequest(
            "user must be a JSON object".into(),
        ));
    };
    let data = validate::user_data(&obj, "user", false)
        .map_err(|e| ControlError::BadRequest(e.message))?;
    let mut state = inner.lock();
    let session = state
        .sessions
        .get_mut(id)
        .ok_or_else(|| ControlError::NotFound(format!("session {id}")))?;
    if session.status != Status::Active {
        return Err(ControlError::Conflict(
            "identity data can only be submitted to an active session".into(),
        ));
    }
    session.user.merge(data);
    Ok(json!({"session": session.to_json()}))
}

pub(crate) async fn redeliver(
    inner: &Inner,
    id: &str,
    resign: bool,
) -> Result<WebhookRecord, ControlError> {
    let new_id = webhooks::record_redelivery(&mut inner.lock(), id, resign)
        .ok_or_else(|| ControlError::NotFound(format!("webhook delivery {id}")))?;
    webhooks::deliver(inner, std::slice::from_ref(&new_id)).await;
    inner
        .lock()
        .outbox
        .iter()
        .find(|r| r.id == new_id)
        .cloned()
        .ok_or_else(|| ControlError::NotFound(format!("webhook delivery {new_id}")))
}

pub(crate) fn rotate_key(inner: &Inner) -> Result<Jwk, ControlError> {
    let mut state = inner.lock();
    state
        .keys
        .rotate(chrono::Utc::now().timestamp())
        .map(|k| k.jwk())
        .map_err(|e| ControlError::Conflict(e.to_string()))
}

pub(crate) fn expire_key(inner: &Inner, kid: &str) -> Result<Jwk, ControlError> {
    let mut state = inner.lock();
    state
        .keys
        .expire(kid, chrono::Utc::now().timestamp())
        .map(|k| k.jwk())
        .ok_or_else(|| ControlError::NotFound(format!("key {kid}")))
}

const PLAID_ENDPOINTS: &[&str] = &crate::endpoints::ALL;

pub(crate) fn inject_fault(inner: &Inner, mut fault: Fault) -> Result<(), ControlError> {
    if !fault.endpoint.starts_with('/') {
        fault.endpoint.insert(0, '/');
    }
    if !PLAID_ENDPOINTS.contains(&fault.endpoint.as_str()) {
        return Err(ControlError::BadRequest(format!(
            "endpoint must be one of {}",
            PLAID_ENDPOINTS.join(", ")
        )));
    }
    if let Some(status) = fault.status
        && ![429, 500, 503].contains(&status)
    {
        return Err(ControlError::BadRequest(
            "status must be 429, 500 or 503".into(),
        ));
    }
    if fault.status.is_none() && fault.delay_ms == 0 {
        return Err(ControlError::BadRequest(
            "a fault needs a status, a delay_ms, or both".into(),
        ));
    }
    if fault.count == 0 {
        return Err(ControlError::BadRequest("count must be at least 1".into()));
    }
    inner.lock().faults.push(fault);
    Ok(())
}

/// Back to a fresh start: sessions, link tokens, outbox, faults, request log and templates
/// as configured at start. Signing keys survive, so receivers' cached keys stay valid.
pub(crate) fn reset(inner: &Inner) {
    let mut state = inner.lock();
    state.sessions.clear();
    state.link_tokens.clear();
    state.outbox.clear();
    state.faults.clear();
    state.requests.clear();
    state.sms_attempts.clear();
    state.templates = inner
        .initial_templates
        .iter()
        .map(|t| (t.id.clone(), t.clone()))
        .collect();
}
