//! Plaid's endpoints: `/identity_verification/{create,get,list,retry}`, `/link/token/create`
//! and `/webhook_verification_key/get`, with Plaid's authentication, validation and errors.

use super::endpoints::{
    IDV_CREATE, IDV_GET, IDV_LIST, IDV_RETRY, LINK_TOKEN_CREATE, WEBHOOK_KEY_GET,
};
use super::errors::PlaidApiError;
use super::ids;
use super::state::{RequestLogEntry, State, ts};
use super::validate::Obj;
use super::{Inner, PLAID_VERSION, webhooks};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;

mod identity_verification;
mod keys;
mod link_token;

use identity_verification::{create, get, list, retry};
use keys::key_get;
use link_token::link_token_create;

type Handler =
    fn(&Inner, &mut State, &Obj) -> Result<(Value, Vec<super::state::Event>), PlaidApiError>;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    fn route(path: &'static str, h: Handler) -> axum::routing::MethodRouter<Arc<Inner>> {
        post(
            move |AxState(inner): AxState<Arc<Inner>>, headers: HeaderMap, body: Bytes| async move {
                handle(inner, path, headers, body, h).await
            },
        )
    }
    Router::new()
        .route(IDV_CREATE, route(IDV_CREATE, create))
        .route(IDV_GET, route(IDV_GET, get))
        .route(IDV_LIST, route(IDV_LIST, list))
        .route(IDV_RETRY, route(IDV_RETRY, retry))
        .route(
            LINK_TOKEN_CREATE,
            route(LINK_TOKEN_CREATE, link_token_create),
        )
        .route(WEBHOOK_KEY_GET, route(WEBHOOK_KEY_GET, key_get))
        .fallback(|uri: Uri| async move {
            if uri.path().starts_with("/emulator/") {
                super::errors::ControlError::NotFound(format!("control route {}", uri.path()))
                    .into_response()
            } else {
                PlaidApiError::not_found_route().into_response_with(&ids::request_id())
            }
        })
        .with_state(inner)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Authentication and the generic checks every Plaid endpoint applies, before its own rules.
fn preflight(inner: &Inner, headers: &HeaderMap, body: &[u8]) -> Result<Obj, PlaidApiError> {
    let content_type = header(headers, "content-type").unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(PlaidApiError::invalid_headers(
            "Content-Type header must be application/json",
        ));
    }
    if let Some(version) = header(headers, "plaid-version")
        && version != PLAID_VERSION
    {
        return Err(PlaidApiError::invalid_headers(format!(
            "Plaid-Version {version} is not supported by this emulator; use {PLAID_VERSION}"
        )));
    }
    let obj = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => o,
        _ => return Err(PlaidApiError::invalid_body()),
    };
    let body_str = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_owned);
    let client_id = header(headers, "plaid-client-id")
        .map(str::to_owned)
        .or_else(|| body_str("client_id"));
    let secret = header(headers, "plaid-secret")
        .map(str::to_owned)
        .or_else(|| body_str("secret"));
    match (client_id, secret) {
        (None, None) => Err(PlaidApiError::missing_fields(&[
            "client_id".into(),
            "secret".into(),
        ])),
        (None, Some(_)) => Err(PlaidApiError::missing_fields(&["client_id".into()])),
        (Some(_), None) => Err(PlaidApiError::missing_fields(&["secret".into()])),
        (Some(id), Some(secret)) if id == inner.client_id && secret == inner.secret => Ok(obj),
        _ => Err(PlaidApiError::invalid_api_keys()),
    }
}

/// Non-secret, non-PII fields of a request, for the request log.
fn log_ids(body: &[u8]) -> (Option<String>, Option<String>, Option<String>) {
    let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(body) else {
        return (None, None, None);
    };
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let cuid = s(o.get("client_user_id"))
        .or_else(|| s(o.get("user").and_then(|u| u.get("client_user_id"))));
    let template = s(o.get("template_id")).or_else(|| {
        s(o.get("identity_verification")
            .and_then(|i| i.get("template_id")))
    });
    (cuid, template, s(o.get("identity_verification_id")))
}

/// Counts a Plaid call in flight while it lives; dropped on answer or when axum drops the
/// call because its caller hung up.
struct InFlight(Arc<Inner>);

impl InFlight {
    fn enter(inner: &Arc<Inner>) -> Self {
        inner.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(inner.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    inner: Arc<Inner>,
    endpoint: &'static str,
    headers: HeaderMap,
    body: Bytes,
    h: Handler,
) -> Response {
    let _in_flight = InFlight::enter(&inner);
    let request_id = ids::request_id();
    let fault = inner.lock().take_fault(endpoint);
    let mut forced = None;
    if let Some(fault) = fault {
        if fault.delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(fault.delay_ms)).await;
        }
        forced = fault.status.map(PlaidApiError::for_fault_status);
    }
    let outcome = match forced {
        Some(err) => Err(err),
        None => preflight(&inner, &headers, &body).and_then(|obj| {
            let mut state = inner.lock();
            h(&inner, &mut state, &obj).map(|(value, events)| {
                let ids = webhooks::record(&mut state, &events, inner.environment.as_str());
                (value, ids)
            })
        }),
    };
    let (cuid, template, mut idv) = log_ids(&body);
    let (status, error_code, response) = match outcome {
        Ok((mut value, webhook_ids)) => {
            if idv.is_none() {
                idv = value.get("id").and_then(Value::as_str).map(str::to_owned);
            }
            if let Value::Object(o) = &mut value {
                o.insert("request_id".into(), json!(request_id));
            }
            if !webhook_ids.is_empty() {
                // Plaid fires webhooks after it has answered the call.
                let inner = inner.clone();
                tokio::spawn(async move { webhooks::deliver(&inner, &webhook_ids).await });
            }
            (200, None, axum::Json(value).into_response())
        }
        Err(e) => (
            e.status,
            Some(e.error_code.to_string()),
            e.clone().into_response_with(&request_id),
        ),
    };
    tracing::info!(endpoint, status, request_id = %request_id, error_code = ?error_code, "plaid call");
    let mut state = inner.lock();
    let seq = state.requests.len() as u64 + 1;
    state.requests.push(RequestLogEntry {
        seq,
        endpoint: endpoint.into(),
        at: ts(chrono::Utc::now()),
        status,
        request_id,
        client_user_id: cuid,
        template_id: template,
        identity_verification_id: idv,
        error_code,
    });
    response
}

fn known_template(
    state: &State,
    id: &str,
    field: &str,
) -> Result<super::state::Template, PlaidApiError> {
    state.templates.get(id).cloned().ok_or_else(|| {
        PlaidApiError::invalid_field(format!("{field} does not match a template of this client"))
    })
}

fn no_user_id(obj: &Obj) -> Result<(), PlaidApiError> {
    if obj.get("user_id").is_some_and(|u| !u.is_null()) {
        // The emulator implements no /user/create, so no user_id can exist.
        return Err(PlaidApiError::invalid_field(
            "user_id does not match a user of this client",
        ));
    }
    Ok(())
}
