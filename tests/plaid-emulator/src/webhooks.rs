//! Signed IDV webhooks: body pretty-printed with a 2-space indent (as Plaid sends it), a
//! `Plaid-Verification` ES256 JWT over the exact bytes, an outbox of every delivery, and
//! delivery to the configured URL and/or an in-process sink.

use super::Inner;
use super::state::{DeliveryAttempt, Event, State, WebhookRecord};
use serde::Serialize;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// What an in-process webhook sink receives: the headers and the exact body bytes.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// An async callback standing in for the receiver; returns the HTTP status it "answered".
pub type WebhookSink =
    Arc<dyn Fn(WebhookRequest) -> Pin<Box<dyn Future<Output = u16> + Send>> + Send + Sync>;

/// Plaid waits this long for an answer before counting a delivery as failed.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Serialize)]
struct Payload<'a> {
    webhook_type: &'a str,
    webhook_code: &'a str,
    identity_verification_id: &'a str,
    environment: &'a str,
}

fn signed_headers(jwt: &str) -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("Plaid-Verification".into(), jwt.into()),
    ]
}

/// Signs each event with the current key and files it in the outbox; returns the record ids.
pub fn record(state: &mut State, events: &[Event], environment: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for event in events {
        let payload = Payload {
            webhook_type: "IDENTITY_VERIFICATION",
            webhook_code: event.code,
            identity_verification_id: &event.identity_verification_id,
            environment,
        };
        // A struct of four strings always serialises.
        let body = serde_json::to_string_pretty(&payload).unwrap_or_default();
        let iat = (state.signing_clock)();
        let key = state.keys.current();
        let jwt = key.sign_webhook(body.as_bytes(), iat);
        let id = format!("whd_{}", state.outbox.len() + 1);
        state.outbox.push(WebhookRecord {
            id: id.clone(),
            webhook_code: event.code.into(),
            identity_verification_id: event.identity_verification_id.clone(),
            headers: signed_headers(&jwt),
            body,
            kid: key.kid.clone(),
            iat,
            redelivery_of: None,
            attempts: Vec::new(),
        });
        ids.push(id);
    }
    ids
}

/// A copy of an earlier delivery, filed as a new record: the same bytes and JWT (a duplicate
/// as Plaid's retries can produce), or with `resign` a fresh JWT from the current key.
pub fn record_redelivery(state: &mut State, of: &str, resign: bool) -> Option<String> {
    let original = state.outbox.iter().find(|r| r.id == of)?.clone();
    let id = format!("whd_{}", state.outbox.len() + 1);
    let mut copy = WebhookRecord {
        id: id.clone(),
        redelivery_of: Some(original.id.clone()),
        attempts: Vec::new(),
        ..original
    };
    if resign {
        let key = state.keys.current();
        copy.iat = (state.signing_clock)();
        copy.kid = key.kid.clone();
        copy.headers = signed_headers(&key.sign_webhook(copy.body.as_bytes(), copy.iat));
    }
    state.outbox.push(copy);
    Some(id)
}

/// Sends the records, in order, to every target; results land on the records.
pub(crate) async fn deliver(inner: &Inner, ids: &[String]) {
    // One delivery at a time keeps the receiver's view in firing order.
    let _order = inner.delivery_lock.lock().await;
    for id in ids {
        let (record, url) = {
            let state = inner.lock();
            match state.outbox.iter().find(|r| &r.id == id) {
                Some(r) => (r.clone(), state.webhook_url.clone()),
                None => continue,
            }
        };
        let mut attempts = Vec::new();
        if let Some(url) = url {
            attempts.push(post(inner, &url, &record).await);
        }
        if let Some(sink) = &inner.sink {
            let mut headers = http::HeaderMap::new();
            for (k, v) in &record.headers {
                if let (Ok(k), Ok(v)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    http::HeaderValue::from_str(v),
                ) {
                    headers.insert(k, v);
                }
            }
            let request = WebhookRequest {
                headers,
                body: record.body.clone().into_bytes(),
            };
            let attempt = match tokio::time::timeout(DELIVERY_TIMEOUT, sink(request)).await {
                Ok(status) => DeliveryAttempt {
                    target: "sink".into(),
                    status: Some(status),
                    error: None,
                },
                Err(_) => DeliveryAttempt {
                    target: "sink".into(),
                    status: None,
                    error: Some("timed out after 10 s".into()),
                },
            };
            attempts.push(attempt);
        }
        for a in &attempts {
            tracing::info!(webhook = %record.id, code = %record.webhook_code, target = %a.target, status = ?a.status, error = ?a.error, "webhook delivered");
        }
        let mut state = inner.lock();
        if let Some(r) = state.outbox.iter_mut().find(|r| &r.id == id) {
            r.attempts.extend(attempts);
        }
    }
}

async fn post(inner: &Inner, url: &str, record: &WebhookRecord) -> DeliveryAttempt {
    let mut req = inner
        .http
        .post(url)
        .timeout(DELIVERY_TIMEOUT)
        .body(record.body.clone());
    for (k, v) in &record.headers {
        req = req.header(k, v);
    }
    match req.send().await {
        Ok(resp) => DeliveryAttempt {
            target: url.into(),
            status: Some(resp.status().as_u16()),
            error: None,
        },
        Err(e) => DeliveryAttempt {
            target: url.into(),
            status: None,
            error: Some(e.to_string()),
        },
    }
}
