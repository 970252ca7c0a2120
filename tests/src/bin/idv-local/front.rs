//! `idv-local serve`: the local front (see `main.rs`): the demo's files, `/demo/config.json`,
//! `/demo/events`, and the API's paths forwarded to `cargo lambda watch`, for loopback host
//! names only.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use std::io::Write as _;
use std::path::PathBuf;

pub(crate) struct Front {
    pub(crate) port: u16,
    pub(crate) functions: String,
    pub(crate) demo_dir: PathBuf,
    pub(crate) config: serde_json::Value,
    pub(crate) events_json: Option<PathBuf>,
    pub(crate) http: reqwest::Client,
}

/// How many of the latest outcome events `/demo/events` returns.
const RECENT_EVENTS: usize = 20;

/// The last `n` events of the JSON-lines file, oldest first; none when there is no file yet.
/// A line that is not JSON (one being written) is skipped.
fn recent_events(path: Option<&std::path::Path>, n: usize) -> Vec<serde_json::Value> {
    let Some(text) = path.and_then(|p| std::fs::read_to_string(p).ok()) else {
        return Vec::new();
    };
    let mut events: Vec<serde_json::Value> = text
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str(l).ok())
        .take(n)
        .collect();
    events.reverse();
    events
}

/// The demo's files, read per request (edits show on reload). Only these names are served.
const DEMO_FILES: &[(&str, &str, &str)] = &[
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/index.html", "index.html", "text/html; charset=utf-8"),
    ("/app.js", "app.js", "text/javascript; charset=utf-8"),
    // The typed API client app.js imports (tests/demo/client/, compiled by `make client`).
    (
        "/client.js",
        "client/client.js",
        "text/javascript; charset=utf-8",
    ),
    ("/app.css", "app.css", "text/css; charset=utf-8"),
];

fn is_api_path(path: &str) -> bool {
    path == "/sessions" || path.starts_with("/sessions/") || path.starts_with("/webhooks/")
}

/// What API Gateway answers itself for what the router (Cargo.toml) cannot hand to a function:
/// an API path that matches no route (404), or `/sessions`, which two functions share by method,
/// with another method (405). A path one function owns goes to it with any method, and the
/// function answers 405 itself.
fn unrouted(method: &Method, path: &str) -> Option<Response> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let routed = match segments.as_slice() {
        ["sessions"] => {
            if method == Method::GET || method == Method::POST {
                return None;
            }
            let mut resp = error(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed; use GET, POST",
            );
            resp.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            return Some(resp);
        }
        ["sessions", id] | ["sessions", id, "link-token"] => !id.is_empty(),
        ["webhooks", "plaid"] => true,
        _ => false,
    };
    (!routed).then(not_found)
}

/// The API's error shape. No Lambda ran, so the request id is the front's own, as API
/// Gateway's would be.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let request_id = format!("local-{:016x}", fastrand::u64(..));
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({
            "error": {"code": code, "message": message, "request_id": request_id}
        })),
    )
        .into_response()
}

fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "route_not_found", "no such route")
}

/// Whether the request names this front by a loopback name: the `Host` header (HTTP/1.1) or
/// the URI's authority (HTTP/2), with any port. A name that merely resolves to 127.0.0.1 is
/// not enough: that is what DNS rebinding does.
fn names_loopback(uri: &Uri, headers: &HeaderMap) -> bool {
    let host = match headers.get(header::HOST) {
        Some(value) => match value.to_str() {
            Ok(h) => h,
            Err(_) => return false,
        },
        None => match uri.authority() {
            Some(a) => a.as_str(),
            None => return false,
        },
    };
    let (name, rest) = match host.strip_prefix('[') {
        Some(inner) => match inner.split_once(']') {
            Some((ip, rest)) => (&host[..ip.len() + 2], rest),
            None => return false,
        },
        None => host.split_at(host.find(':').unwrap_or(host.len())),
    };
    let port_ok = rest.strip_prefix(':').map_or(rest.is_empty(), |p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
    });
    port_ok && (name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]")
}

async fn handle(
    front: std::sync::Arc<Front>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !names_loopback(&uri, &headers) {
        return error(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            "this local server answers only to localhost, 127.0.0.1 or [::1]",
        );
    }
    let path = uri.path();
    if is_api_path(path) {
        if let Some(refused) = unrouted(&method, path) {
            return refused;
        }
        return forward(&front, method, &uri, headers, body).await;
    }
    if method != Method::GET && method != Method::HEAD {
        return not_found();
    }
    if path == "/demo/config.json" {
        return (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(front.config.clone()),
        )
            .into_response();
    }
    if path == "/demo/events" {
        let events = recent_events(front.events_json.as_deref(), RECENT_EVENTS);
        return (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(serde_json::json!({ "events": events })),
        )
            .into_response();
    }
    let Some((_, file, content_type)) = DEMO_FILES.iter().find(|(p, _, _)| *p == path) else {
        return not_found();
    };
    match tokio::fs::read(front.demo_dir.join(file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(),
    }
}

/// The request as it came (method, path, query, headers, body) to `cargo lambda watch`, and its
/// answer back as it is.
async fn forward(
    front: &Front,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = format!(
        "{}{}",
        front.functions,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut req = front.http.request(method, target).body(body);
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONNECTION && name != header::CONTENT_LENGTH {
            req = req.header(name, value);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let mut out_headers = HeaderMap::new();
            for (name, value) in resp.headers() {
                if name != header::CONNECTION && name != header::TRANSFER_ENCODING {
                    out_headers.append(name, value.clone());
                }
            }
            let bytes = resp.bytes().await.unwrap_or_default();
            let mut out = Response::new(axum::body::Body::from(bytes));
            *out.status_mut() = status;
            *out.headers_mut() = out_headers;
            out
        }
        Err(e) => {
            eprintln!("idv-local serve: the functions did not answer: {e}");
            error(
                StatusCode::BAD_GATEWAY,
                "functions_unavailable",
                "the local functions (cargo lambda watch) did not answer",
            )
        }
    }
}

pub(crate) async fn serve(front: Front) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", front.port)).await?;
    let addr = listener.local_addr()?;
    let front = std::sync::Arc::new(front);
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            handle(front.clone(), method, uri, headers, body)
        },
    );
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    drop(out);
    let stop = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(method: Method, path: &str) -> Option<u16> {
        unrouted(&method, path).map(|r| r.status().as_u16())
    }

    fn host_ok(host: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        if let Some(h) = host {
            headers.insert(header::HOST, HeaderValue::from_str(h).unwrap());
        }
        names_loopback(&Uri::from_static("/sessions"), &headers)
    }

    #[test]
    fn only_loopback_host_names_are_answered() {
        for good in [
            "localhost",
            "localhost:8080",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.0.0.1:8080",
            "[::1]",
            "[::1]:8080",
        ] {
            assert!(host_ok(Some(good)), "{good}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.nip.io:8080",
            "localhost.evil.example",
            "127.0.0.2:8080",
            "0.0.0.0:8080",
            "[::1]x",
            "[::1]:80x",
            "localhost:",
            "",
        ] {
            assert!(!host_ok(Some(bad)), "{bad}");
        }
        assert!(!host_ok(None), "no Host and no authority");
        // HTTP/2 carries the name in the URI's authority instead.
        assert!(names_loopback(
            &Uri::from_static("http://127.0.0.1:8080/sessions"),
            &HeaderMap::new()
        ));
    }

    /// The whole front, as a browser on a rebound name would reach it: refused before any
    /// file is read or any request forwarded.
    #[tokio::test]
    async fn a_rebound_host_name_gets_421_and_loopback_gets_the_page() {
        let dir = std::env::temp_dir().join(format!("idv-local-host-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("index.html"), "<p>demo</p>").unwrap();
        let front = std::sync::Arc::new(Front {
            port: 0,
            // Nothing listens there: a forwarded request would be a 502, not a 421.
            functions: "http://127.0.0.1:9".into(),
            demo_dir: dir.clone(),
            config: serde_json::json!({}),
            events_json: None,
            http: reqwest::Client::new(),
        });
        let call = |host: &'static str, path: &'static str| {
            let front = front.clone();
            async move {
                let mut headers = HeaderMap::new();
                headers.insert(header::HOST, HeaderValue::from_static(host));
                handle(
                    front,
                    Method::GET,
                    Uri::from_static(path),
                    headers,
                    Bytes::new(),
                )
                .await
                .status()
                .as_u16()
            }
        };
        assert_eq!(call("attacker.example:8080", "/").await, 421);
        assert_eq!(call("attacker.example:8080", "/sessions").await, 421);
        assert_eq!(
            call("attacker.example:8080", "/demo/config.json").await,
            421
        );
        assert_eq!(call("127.0.0.1:8080", "/").await, 200);
        assert_eq!(call("localhost:8080", "/demo/config.json").await, 200);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The demo page's panel: the latest events `idv-local events` appended, oldest first.
    #[tokio::test]
    async fn demo_events_serves_the_latest_outcome_events() {
        let dir = std::env::temp_dir().join(format!("idv-local-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("events.jsonl");
        let mut lines: Vec<String> = (1..=RECENT_EVENTS + 5)
            .map(|i| serde_json::json!({"detail": {"sequence": i}}).to_string())
            .collect();
        lines.push("{\"detail\": {\"seq".into()); // a line still being written
        std::fs::write(&file, lines.join("\n")).unwrap();
        let front = std::sync::Arc::new(Front {
            port: 0,
            functions: "http://127.0.0.1:9".into(),
            demo_dir: dir.clone(),
            config: serde_json::json!({}),
            events_json: Some(file),
            http: reqwest::Client::new(),
        });
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        let resp = handle(
            front,
            Method::GET,
            Uri::from_static("/demo/events"),
            headers,
            Bytes::new(),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let got: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let seqs: Vec<u64> = got["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["detail"]["sequence"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (6..=RECENT_EVENTS as u64 + 5).collect::<Vec<_>>());
        assert!(recent_events(Some(&dir.join("none.jsonl")), 5).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_front_refuses_what_no_function_is_routed_for() {
        // Routed to a function (which refuses other methods on its own paths itself).
        assert_eq!(status(Method::POST, "/sessions"), None);
        assert_eq!(status(Method::GET, "/sessions"), None);
        assert_eq!(status(Method::GET, "/sessions/idv_1"), None);
        assert_eq!(status(Method::DELETE, "/sessions/idv_1"), None);
        assert_eq!(status(Method::POST, "/sessions/idv_1/link-token"), None);
        assert_eq!(status(Method::POST, "/webhooks/plaid"), None);
        // Answered here, as API Gateway would.
        assert_eq!(status(Method::PUT, "/sessions"), Some(405));
        assert_eq!(status(Method::GET, "/sessions/"), Some(404));
        assert_eq!(status(Method::GET, "/sessions/x/y/z"), Some(404));
        assert_eq!(status(Method::POST, "/webhooks/other"), Some(404));
        assert_eq!(status(Method::POST, "/sessions//link-token"), Some(404));
    }
}
