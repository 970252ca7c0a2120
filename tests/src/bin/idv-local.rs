//! The local stack's helper (`make run`, the browser tests):
//!
//! - `idv-local setup`: the sessions table, created from `infra/template.yaml` (the one
//!   definition), and the Plaid secret, in whatever endpoint the standard AWS variables name
//!   (moto on loopback under `make run`).
//! - `idv-local serve`: the one local origin a person opens. It serves the demo app
//!   (`tests/demo/`) at `/`, a small `/demo/config.json` (which Link script the page loads), and
//!   forwards the API's paths (`/sessions…`, `/webhooks/…`) as they are to `cargo lambda watch`,
//!   whose router (Cargo.toml, `workspace.metadata.lambda.watch.router`) hands each route to
//!   its function. Loopback only; any other path is a 404 in the API's error shape. It answers
//!   only requests whose `Host` is a loopback name (`localhost`, `127.0.0.1`, `[::1]`, any
//!   port): a page on another site whose name an attacker points at 127.0.0.1 (DNS rebinding)
//!   is the same origin as its attacker, not as this front, and gets 421.
//! - `idv-local expire`: moves one session's `expires_at` into the past in the local table, as
//!   if the app's expiry window had passed (the browser test of an expired session uses it).
//!   Refused unless the AWS endpoint is set (moto).
//! - `idv-local events`: `publish-events` over the local table's stream, in process (moto's
//!   stream is polled with the SDK; a moto Lambda trigger would clear it): creates the bus, a
//!   rule to an SQS queue, and prints each event the queue receives as it happens.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use clap::{Parser, Subcommand};
use std::io::Write as _;
use std::path::PathBuf;
use testkit::localstack::{
    LocalStackError, create_plaid_secret, create_sessions_table_from, template_path,
};

#[derive(Parser)]
#[command(about = "Local set-up for the Plaid IDV bundle")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the sessions table and the Plaid credentials secret (both skipped if present).
    Setup {
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        #[arg(long, env = "PLAID_SECRET_ID")]
        secret_id: String,
        #[arg(long, env = "PLAID_CLIENT_ID")]
        client_id: String,
        #[arg(long, env = "PLAID_SECRET", hide_env_values = true)]
        secret: String,
    },
    /// Serve the demo app and forward the API routes to `cargo lambda watch`, on one origin.
    /// Prints `listening on http://127.0.0.1:PORT` once it accepts connections.
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Where `cargo lambda watch` listens (its router serves the API's paths).
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        functions: String,
        /// The demo app's files.
        #[arg(long, default_value = "tests/demo")]
        demo_dir: PathBuf,
        /// The Link web SDK the page loads: the emulator's stand-in, or Plaid's own.
        #[arg(long)]
        link_script: String,
        /// `emulator` or `plaid`: shown on the page.
        #[arg(long, default_value = "emulator")]
        plaid_mode: String,
        /// The JSON-lines file `idv-local events` appends each outcome event to: its last
        /// events are served at `/demo/events` (the demo page's panel).
        #[arg(long, env = "IDV_EVENTS_JSON")]
        events_json: Option<PathBuf>,
    },
    /// Run publish-events over the local table's stream: creates the bus, a rule and its SQS
    /// queue in moto, and prints every outcome event the queue receives, as it happens.
    Events {
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        #[arg(long, env = "EVENT_BUS_NAME", default_value = "idv-events")]
        bus: String,
        /// Also deliver every event as a signed webhook: a second rule and queue on the bus, a
        /// `whsec_` secret, `tests/webhooks/receiver.py` (the `standardwebhooks` verifier) on a
        /// free loopback port, and the sender over that queue; prints each delivery's verdict.
        #[arg(long)]
        webhooks: bool,
        /// Also append each event, one JSON line, to this file (`idv-local serve` shows them).
        #[arg(long, env = "IDV_EVENTS_JSON")]
        events_json: Option<PathBuf>,
    },
    /// Move a session's `expires_at` (the app's expiry window) into the past, in the local table.
    Expire {
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// The session's id (`idv_…`).
        id: String,
    },
}

fn local_endpoint() -> Result<String, Box<dyn std::error::Error>> {
    Ok(std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL_DYNAMODB"))
        .map_err(
            |_| "refusing to run without AWS_ENDPOINT_URL: this tool works on a local stack only",
        )?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Setup {
            table,
            secret_id,
            client_id,
            secret,
        } => setup(table, secret_id, client_id, secret).await,
        Command::Serve {
            port,
            functions,
            demo_dir,
            link_script,
            plaid_mode,
            events_json,
        } => {
            serve(Front {
                port,
                functions: functions.trim_end_matches('/').to_owned(),
                demo_dir,
                config: serde_json::json!({ "link_script": link_script, "plaid": plaid_mode }),
                events_json,
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
            })
            .await
        }
        Command::Expire { table, id } => expire(table, id).await,
        Command::Events {
            table,
            bus,
            webhooks,
            events_json,
        } => {
            local_endpoint()?;
            let sdk = testkit::localstack::aws_config().await;
            println!("outcome events: bus {bus}, rule -> SQS queue {bus}, stream of {table}");
            if webhooks {
                tokio::spawn(deliver_webhooks(sdk.clone(), bus.clone()));
            }
            let mut log = match &events_json {
                Some(path) => Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ),
                None => None,
            };
            testkit::outcome_events::watch(&sdk, &table, &bus, |e| {
                if let Some(file) = log.as_mut()
                    && let Err(err) = writeln!(file, "{e}")
                {
                    eprintln!("idv-local events: could not append to the events file: {err}");
                }
                let d = &e["detail"];
                println!(
                    "event {} {} -> {} (sequence {}, {}) {}",
                    d["session_id"].as_str().unwrap_or("?"),
                    d["previous_status"].as_str().unwrap_or("(new)"),
                    d["status"].as_str().unwrap_or("?"),
                    d["sequence"],
                    d["event_id"].as_str().unwrap_or("?"),
                    e
                );
            })
            .await?;
            Ok(())
        }
    }
}

/// `idv-local events --webhooks`: once `watch` has created the bus, the signed-webhook path on
/// it (`testkit::webhook_walkthrough`), polled and printed until killed.
async fn deliver_webhooks(sdk: aws_config::SdkConfig, bus: String) {
    use testkit::webhook_walkthrough::LocalWebhooks;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    while events.describe_event_bus().name(&bus).send().await.is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let name = "idv-webhooks";
    let hooks = LocalWebhooks::start(sdk, &bus, name).await;
    println!(
        "outcome webhooks: bus {bus}, rule {name}-rule -> SQS queue {name} -> sender -> {} \
         (tests/webhooks/receiver.py, standardwebhooks; secret {name}/secret)",
        hooks.receiver.url
    );
    loop {
        for d in hooks.poll_once().await {
            let detail = &d.detail;
            println!(
                "webhook {} {} -> {} ({}): sender {}, receiver {}",
                detail["session_id"].as_str().unwrap_or("?"),
                detail["previous_status"].as_str().unwrap_or("(new)"),
                detail["status"].as_str().unwrap_or("?"),
                detail["event_id"].as_str().unwrap_or("?"),
                d.outcome.as_str(),
                d.verdict_word(),
            );
            if let Some(error) = d.verdict.as_ref().and_then(|v| v["error"].as_str()) {
                println!("  receiver: {error}");
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

async fn setup(
    table: String,
    secret_id: String,
    client_id: String,
    secret: String,
) -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = local_endpoint()?;
    let sdk = shared::bootstrap::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    match create_sessions_table_from(&dynamo, &table, &template_path()).await {
        Ok(()) => println!("created table {table} from infra/template.yaml at {endpoint}"),
        Err(LocalStackError::TableExists(_)) => println!("table {table} already exists"),
        Err(e) => return Err(e.into()),
    }
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    match create_plaid_secret(&sm, &secret_id, &client_id, &secret).await {
        Ok(arn) => println!("created secret {secret_id} ({arn})"),
        Err(e) if e.to_string().contains("ResourceExists") => {
            println!("secret {secret_id} already exists")
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn expire(table: String, id: String) -> Result<(), Box<dyn std::error::Error>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    local_endpoint()?;
    let sdk = shared::bootstrap::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    dynamo
        .update_item()
        .table_name(&table)
        .key("id", AttributeValue::S(id.clone()))
        .update_expression("SET expires_at = :past")
        .condition_expression("attribute_exists(id)")
        .expression_attribute_values(":past", AttributeValue::S(past.clone()))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot expire {id}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        })?;
    println!("{id}: expires_at is now {past}");
    Ok(())
}

struct Front {
    port: u16,
    functions: String,
    demo_dir: PathBuf,
    config: serde_json::Value,
    events_json: Option<PathBuf>,
    http: reqwest::Client,
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

async fn serve(front: Front) -> Result<(), Box<dyn std::error::Error>> {
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
