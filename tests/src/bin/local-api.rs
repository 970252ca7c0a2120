//! `local-api --port PORT`: our HTTP API on loopback, for HTTP tools (Schemathesis) that cannot
//! send Lambda events. Each request becomes the API Gateway HTTP API (payload 2.0) event the
//! real API would send, and goes to the real handlers over DynamoDB (moto, `AWS_ENDPOINT_URL`)
//! and an in-process Plaid emulator: the same `Stack` the Rust tests drive.
//!
//! The JWT authorizer is not here: `Authorization: Bearer <text>` makes `<text>` the caller's
//! `sub` claim, unverified; no bearer token means no claims, which the handlers answer with 401.
//! Test-only: never expose it beyond loopback.
//!
//! Prints `listening on http://127.0.0.1:PORT` as its first stdout line once it accepts
//! connections.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use clap::Parser;
use percent_encoding::percent_decode_str;
use std::io::Write as _;
use std::sync::Arc;
use testkit::apigw::ApiEvent;
use testkit::stack::Stack;

#[derive(Debug, Parser)]
#[command(
    name = "local-api",
    about = "The session API over HTTP on loopback (tests only)"
)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

/// The API Gateway route a request matches, and its `{id}` (decoded, as in `pathParameters`).
fn route(method: &Method, path: &str) -> Option<(&'static str, &'static str, Option<String>)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["sessions"]) => Some(("POST", "POST /sessions", None)),
        ("GET", ["sessions"]) => Some(("GET", "GET /sessions", None)),
        ("GET", ["sessions", id]) if !id.is_empty() => {
            Some(("GET", "GET /sessions/{id}", Some(decode(id)?)))
        }
        ("POST", ["sessions", id, "link-token"]) if !id.is_empty() => {
            Some(("POST", "POST /sessions/{id}/link-token", Some(decode(id)?)))
        }
        ("POST", ["webhooks", "plaid"]) => Some(("POST", "POST /webhooks/plaid", None)),
        _ => None,
    }
}

async fn serve(
    stack: Arc<Stack>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some((m, route_key, id)) = route(&method, uri.path()) else {
        // What API Gateway answers for a route it does not have.
        return (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"message": "Not Found"})),
        )
            .into_response();
    };
    let mut event = ApiEvent::new(m, uri.path(), route_key).no_headers();
    if let Some(id) = &id {
        event = event.path_id(id);
    }
    for (k, v) in url_pairs(uri.query().unwrap_or("")) {
        event = event.query(&k, &v);
    }
    for (k, v) in &headers {
        if let Ok(v) = v.to_str() {
            event = event.header(k.as_str(), v);
        }
    }
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(sub) = bearer {
        event = event.user(sub);
    }
    if !body.is_empty() {
        event = match std::str::from_utf8(&body) {
            // The webhook's signature covers the exact bytes: those always go base64, as API
            // Gateway does for bodies it does not treat as text.
            Ok(text) if route_key != "POST /webhooks/plaid" => event.body(text),
            _ => event.raw_body(&body),
        };
    }
    let resp = stack.respond(&event).await;
    let (parts, body) = resp.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    let mut out = Response::new(axum::body::Body::from(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (d(k), d(v))
        })
        .collect()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let stack = Arc::new(Stack::start().await);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("local-api: cannot listen on port {}: {e}", args.port);
            return std::process::ExitCode::FAILURE;
        }
    };
    let Ok(addr) = listener.local_addr() else {
        return std::process::ExitCode::FAILURE;
    };
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            serve(stack.clone(), method, uri, headers, body)
        },
    );
    let mut out = std::io::stdout().lock();
    if writeln!(out, "listening on http://{addr}")
        .and_then(|_| out.flush())
        .is_err()
    {
        return std::process::ExitCode::FAILURE;
    }
    drop(out);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("local-api: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
