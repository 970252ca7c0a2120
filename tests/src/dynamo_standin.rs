//! A DynamoDB stand-in for measuring handler overhead: it answers with responses recorded from a
//! real DynamoDB-protocol server (moto) in the same run, at a fixed small cost, so that what is
//! left of an invocation's latency is the function's own work and not moto's jitter.
//!
//! Two phases. While recording, every request is forwarded to the upstream server as is, and the
//! first answer to each operation (`X-Amz-Target`, e.g. `DynamoDB_20120810.Query`) is kept: its
//! status, content type and body, byte for byte, so the SDK parses the real shape. After
//! [`DynamoStandIn::replay`], each operation is answered with its recording without touching
//! upstream. An operation that was never recorded is answered with a `ValidationException`, so
//! a run that strays from the recorded flow fails instead of measuring something else.
//!
//! Only valid for flows whose answers do not depend on the request, which is what the bench
//! replays: a Query for a user with no session, a conditional PutItem that succeeds, a GetItem
//! of one seeded session.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone)]
struct Recorded {
    status: StatusCode,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

struct State {
    upstream: String,
    http: reqwest::Client,
    replaying: AtomicBool,
    recordings: Mutex<HashMap<String, Recorded>>,
    replayed: AtomicU64,
    unrecorded: AtomicU64,
}

pub struct DynamoStandIn {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl DynamoStandIn {
    /// Listen on loopback, recording from `upstream` (e.g. moto's `http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> std::io::Result<DynamoStandIn> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            replaying: AtomicBool::new(false),
            recordings: Mutex::default(),
            replayed: AtomicU64::new(0),
            unrecorded: AtomicU64::new(0),
        });
        let s = state.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let s = s.clone();
            async move { answer(&s, headers, body).await }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(DynamoStandIn { addr, state, task })
    }

    /// `http://127.0.0.1:PORT`: the function's `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stop forwarding: from now on every operation is answered with its recording.
    pub fn replay(&self) {
        self.state.replaying.store(true, Ordering::SeqCst);
    }

    /// The operations recorded so far, sorted.
    pub fn recorded(&self) -> Vec<String> {
        let mut ops: Vec<String> = lock(&self.state.recordings).keys().cloned().collect();
        ops.sort();
        ops
    }

    /// Requests answered from a recording.
    pub fn replayed(&self) -> u64 {
        self.state.replayed.load(Ordering::SeqCst)
    }

    /// Requests for an operation with no recording while replaying (each was refused).
    pub fn unrecorded(&self) -> u64 {
        self.state.unrecorded.load(Ordering::SeqCst)
    }
}

impl Drop for DynamoStandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn respond(r: &Recorded) -> Response {
    let mut resp = (r.status, r.body.clone()).into_response();
    if let Some(ct) = &r.content_type {
        resp.headers_mut().insert(header::CONTENT_TYPE, ct.clone());
    }
    resp
}

fn refuse(message: String) -> Response {
    let body = serde_json::json!({
        "__type": "com.amazon.coral.validate#ValidationException",
        "message": message,
    });
    let mut resp = (StatusCode::BAD_REQUEST, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    resp
}

async fn answer(s: &State, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if s.replaying.load(Ordering::SeqCst) {
        let found = lock(&s.recordings).get(&target).cloned();
        return match found {
            Some(r) => {
                s.replayed.fetch_add(1, Ordering::Relaxed);
                respond(&r)
            }
            None => {
                s.unrecorded.fetch_add(1, Ordering::Relaxed);
                refuse(format!("the stand-in has no recording of {target:?}"))
            }
        };
    }
    // Forward with the caller's headers (moto does not check SigV4 signatures, so the changed
    // Host does not matter); the length is recomputed by the client.
    let mut req = s.http.post(format!("{}/", s.upstream)).body(body);
    for (name, value) in &headers {
        if name != header::HOST && name != header::CONTENT_LENGTH && name != header::CONNECTION {
            req = req.header(name, value);
        }
    }
    let upstream = match req.send().await {
        Ok(r) => r,
        Err(e) => return refuse(format!("upstream: {e}")),
    };
    let status = upstream.status();
    let content_type = upstream.headers().get(header::CONTENT_TYPE).cloned();
    let body = match upstream.bytes().await {
        Ok(b) => b,
        Err(e) => return refuse(format!("upstream body: {e}")),
    };
    let recorded = Recorded {
        status,
        content_type,
        body,
    };
    // Only answers that succeeded are kept: replaying an error would measure the error path.
    if status.is_success() {
        lock(&s.recordings)
            .entry(target)
            .or_insert_with(|| recorded.clone());
    }
    respond(&recorded)
}
