//! The hosted flow: the page a session's `shareable_url` opens (Plaid serves it at
//! `https://flow.plaid.com/verify/idv_…?key=…`; here `{emulator}/verify/idv_…?key=…`, on the
//! emulator's own origin), so a link sent by SMS or e-mail can be walked offline.
//!
//! `GET /verify/{id}?key=K` checks the key against the session's link, starts a Link session for
//! the session's user and template (as Plaid does behind its hosted page) and hands the browser
//! to the Link stand-in's flow page (`/link/flow`), unframed: the same screens, the same step
//! machine, the same signed webhooks as in Link. Nothing is posted to an opener: Link's
//! callbacks do not exist in the hosted flow, the app learns the outcome from webhooks.

use super::Inner;
use super::ids;
use super::state::{LinkTokenRecord, Status, ts};
use axum::Router;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::sync::Arc;

/// Where shareable URLs point, under the emulator's base URL.
pub(crate) const VERIFY_PATH: &str = "/verify";

/// How long the Link session behind one opening of the link lasts (Link tokens last 4 h).
const HOSTED_TOKEN_HOURS: i64 = 4;

#[derive(Debug, Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(&format!("{VERIFY_PATH}/{{id}}"), get(verify))
        .with_state(inner)
}

/// The `key` of a session's shareable URL, when it has one.
fn key_of(url: &str) -> Option<&str> {
    url.split_once("?key=").map(|(_, k)| k)
}

async fn verify(
    AxState(inner): AxState<Arc<Inner>>,
    Path(id): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let now = chrono::Utc::now();
    let token = {
        let mut state = inner.lock();
        let Some(session) = state.sessions.get(&id) else {
            return not_valid();
        };
        // A wrong or missing key answers exactly as an unknown session: the link is the secret.
        let ok = session
            .shareable_url
            .as_deref()
            .and_then(key_of)
            .is_some_and(|k| Some(k) == q.key.as_deref());
        if !ok {
            return not_valid();
        }
        let (cuid, template) = (session.client_user_id.clone(), session.template_id.clone());
        // The link opens this session; once a newer attempt exists it is over, as at Plaid.
        let latest = state
            .sessions_of(&cuid, Some(&template))
            .first()
            .map(|s| s.id.clone());
        if latest.as_deref() != Some(id.as_str()) {
            return ended();
        }
        if !matches!(
            state.sessions.get(&id).map(|s| s.status),
            Some(Status::Active | Status::PendingReview)
        ) {
            return ended();
        }
        let token = format!(
            "link-{}-hosted-{}",
            inner.environment.as_str(),
            ids::uuid_v4()
        );
        state.link_tokens.insert(
            token.clone(),
            LinkTokenRecord {
                link_token: token.clone(),
                template_id: template,
                client_user_id: cuid,
                gave_consent: None,
                created_at: ts(now),
                expiration: ts(now + chrono::Duration::hours(HOSTED_TOKEN_HOURS)),
                invalidated_at: None,
                user: Default::default(),
            },
        );
        token
    };
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, format!("/link/flow?token={token}")),
            (header::CACHE_CONTROL, "no-store".to_string()),
            (header::REFERRER_POLICY, "no-referrer".to_string()),
        ],
    )
        .into_response()
}

fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{title} – Plaid (emulator)</title></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:420px;margin:48px auto;padding:0 16px\">\
         <h1>{title}</h1><p>{text}</p></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

fn not_valid() -> Response {
    page(
        StatusCode::NOT_FOUND,
        "This link is not valid",
        "Check that you opened the whole link you were sent, or ask the app for a new one.",
    )
}

fn ended() -> Response {
    page(
        StatusCode::GONE,
        "This verification has already ended",
        "Your latest verification is finished, so this link cannot be used again. Ask the app to start a new attempt.",
    )
}
