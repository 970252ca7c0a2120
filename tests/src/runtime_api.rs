//! A local AWS Lambda Runtime API (the `2018-06-01` protocol a function's runtime loop speaks
//! through `AWS_LAMBDA_RUNTIME_API`), so a real function binary, or any language's runtime
//! client, can be run and timed on loopback exactly as Lambda drives it.
//!
//! - `GET  /2018-06-01/runtime/invocation/next`: long-polls until an event is queued, then answers
//!   it with `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms`,
//!   `Lambda-Runtime-Invoked-Function-Arn` and `Lambda-Runtime-Trace-Id`. The first call marks
//!   the end of the function's init.
//! - `POST /2018-06-01/runtime/invocation/{id}/response` and `.../{id}/error`: complete an
//!   invocation (202); an unknown or already completed id is refused (400), as Lambda does.
//! - `POST /2018-06-01/runtime/init/error`: the function could not start.
//!
//! A driver queues events with [`RuntimeApi::submit`] and awaits their outcome, and learns when
//! init ended with [`RuntimeApi::wait_ready`].

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

pub const RUNTIME_API_VERSION: &str = "2018-06-01";
const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RuntimeApiError {
    #[error("the function reported an init error ({error_type}): {body}")]
    InitError { error_type: String, body: String },
    #[error("the invocation was abandoned: the runtime API server stopped")]
    Abandoned,
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Response(Bytes),
    /// `.../error`, with the `Lambda-Runtime-Function-Error-Type` header if it was sent.
    Error {
        error_type: Option<String>,
        body: Bytes,
    },
}

#[derive(Debug, Clone)]
pub struct Completed {
    pub request_id: String,
    pub outcome: Outcome,
    /// From [`RuntimeApi::submit`] until the function posted its answer.
    pub latency: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Readiness {
    Starting,
    Ready(Instant),
    InitFailed { error_type: String, body: String },
}

struct Queued {
    request_id: String,
    payload: Bytes,
}

struct Shared {
    queue: Mutex<mpsc::UnboundedReceiver<Queued>>,
    pending: std::sync::Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    readiness: watch::Sender<Readiness>,
    function_arn: String,
    timeout: Duration,
}

/// A running Runtime API server on a free loopback port. Dropping it stops the server.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Queued>,
    counter: AtomicU64,
    server: tokio::task::JoinHandle<()>,
}

/// An event handed to the function; await [`PendingInvocation::outcome`].
pub struct PendingInvocation {
    pub request_id: String,
    submitted: Instant,
    answer: oneshot::Receiver<Outcome>,
}

impl PendingInvocation {
    pub async fn outcome(self) -> Result<Completed, RuntimeApiError> {
        let outcome = self.answer.await.map_err(|_| RuntimeApiError::Abandoned)?;
        Ok(Completed {
            request_id: self.request_id,
            outcome,
            latency: self.submitted.elapsed(),
        })
    }
}

impl RuntimeApi {
    /// Serves the API for function `function_name` (its ARN is made up in account
    /// 000000000000) whose invocations get `timeout` as their deadline.
    pub async fn start(function_name: &str, timeout: Duration) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(rx),
            pending: std::sync::Mutex::new(HashMap::new()),
            readiness: watch::Sender::new(Readiness::Starting),
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{function_name}"),
            timeout,
        });
        let base = format!("/{RUNTIME_API_VERSION}/runtime");
        let app = Router::new()
            .route(&format!("{base}/invocation/next"), get(next))
            .route(
                &format!("{base}/invocation/{{id}}/response"),
                post(response),
            )
            .route(
                &format!("{base}/invocation/{{id}}/error"),
                post(invocation_error),
            )
            .route(&format!("{base}/init/error"), post(init_error))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            shared,
            queue: tx,
            counter: AtomicU64::new(0),
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API` (`host:port`, no scheme).
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for an event (its init ended), or its init error.
    pub async fn wait_ready(&self) -> Result<Instant, RuntimeApiError> {
        let mut rx = self.shared.readiness.subscribe();
        let state = rx
            .wait_for(|r| *r != Readiness::Starting)
            .await
            .map_err(|_| RuntimeApiError::Abandoned)?
            .clone();
        match state {
            Readiness::Ready(at) => Ok(at),
            Readiness::InitFailed { error_type, body } => {
                Err(RuntimeApiError::InitError { error_type, body })
            }
            Readiness::Starting => Err(RuntimeApiError::Abandoned),
        }
    }

    /// Queues an event for the next `/next` call.
    pub fn submit(&self, payload: impl Into<Bytes>) -> PendingInvocation {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // Lambda's ids are UUIDs; any unique string satisfies the runtimes.
        let request_id = format!("{:08x}-0000-4000-8000-{:012x}", self.addr.port(), n);
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.pending).insert(request_id.clone(), tx);
        let submitted = Instant::now();
        // The receiver lives in `shared`, which this struct owns, so the send cannot fail.
        let _ = self.queue.send(Queued {
            request_id: request_id.clone(),
            payload: payload.into(),
        });
        PendingInvocation {
            request_id,
            submitted,
            answer: rx,
        }
    }

    /// [`submit`](Self::submit) and wait for the answer.
    pub async fn invoke(&self, payload: impl Into<Bytes>) -> Result<Completed, RuntimeApiError> {
        self.submit(payload).outcome().await
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicked holder cannot leave the map half-updated (single insert/remove calls).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn epoch_ms(after: Duration) -> u128 {
    (SystemTime::now() + after)
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

fn lambda_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "errorType": error_type, "errorMessage": message })),
    )
        .into_response()
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({ "status": "OK" })),
    )
        .into_response()
}

async fn next(State(shared): State<Arc<Shared>>) -> Response {
    let now = Instant::now();
    shared.readiness.send_if_modified(|r| {
        if *r == Readiness::Starting {
            *r = Readiness::Ready(now);
            true
        } else {
            false
        }
    });
    // One poller at a time, as Lambda serves one runtime per environment; `recv` is
    // cancel-safe, so a poller that disconnects loses no event.
    let event = shared.queue.lock().await.recv().await;
    let Some(event) = event else {
        return lambda_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServiceException",
            "the runtime API is shutting down",
        );
    };
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", header(&event.request_id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(&epoch_ms(shared.timeout).to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header(&shared.function_arn),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        header(&format!(
            "Root=1-{:08x}-{:024x};Parent={:016x};Sampled=0",
            epoch_ms(Duration::ZERO) / 1000,
            fastrand::u128(..) >> 32,
            fastrand::u64(..)
        )),
    );
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    (StatusCode::OK, headers, event.payload).into_response()
}

fn complete(shared: &Shared, id: &str, outcome: Outcome) -> Response {
    match lock(&shared.pending).remove(id) {
        Some(tx) => {
            // The driver may have stopped waiting; the function still gets its 202.
            let _ = tx.send(outcome);
            accepted()
        }
        None => lambda_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "unknown or already completed request id",
        ),
    }
}

async fn response(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    complete(&shared, &id, Outcome::Response(body))
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn invocation_error(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let outcome = Outcome::Error {
        error_type: error_type(&headers),
        body,
    };
    complete(&shared, &id, outcome)
}

async fn init_error(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let failed = Readiness::InitFailed {
        error_type: error_type(&headers).unwrap_or_else(|| "Unknown".into()),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    shared.readiness.send_replace(failed);
    accepted()
}

#[cfg(test)]
mod tests;
