//! The Plaid client against a local axum server that answers like Plaid and records every
//! request: headers, bodies, retries, timeouts, key rotation, error mapping, and what must never
//! show up in Debug output or logs.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use shared::credentials::{Credentials, CredentialsError, CredentialsProvider};
use shared::ids::{ClientUserId, IdvId, TemplateId};
use shared::plaid::types::*;
use shared::plaid::{ClientOptions, PlaidClient, PlaidError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SESSION: &str = include_str!("../fixtures/plaid/identity_verification_get_response.json");
const LIST: &str = include_str!("../fixtures/plaid/identity_verification_list_response.json");
const LINK_TOKEN: &str = include_str!("../fixtures/plaid/link_token_create_response.json");
const KEY: &str = include_str!("../fixtures/plaid/webhook_verification_key_get_response.json");
const SECRET: &str = "s3cr3t-never-shown";

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Value,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Reply {
    status: u16,
    body: String,
    content_type: &'static str,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
}

fn ok(body: &str) -> Reply {
    Reply {
        status: 200,
        body: body.to_owned(),
        content_type: "application/json",
        headers: vec![],
        delay: Duration::ZERO,
    }
}

fn plaid_error(status: u16, error_type: &str, code: &str) -> Reply {
    Reply {
        status,
        body: json!({
            "error_type": error_type,
            "error_code": code,
            "error_message": "something went wrong",
            "display_message": null,
            "request_id": format!("req-{code}"),
        })
        .to_string(),
        ..ok("")
    }
}

type Responder = dyn Fn(usize, &Recorded) -> Reply + Send + Sync;

struct ServerState {
    log: Mutex<Vec<Recorded>>,
    respond: Box<Responder>,
}

struct Mock {
    base: url::Url,
    state: Arc<ServerState>,
}

impl Mock {
    /// Answers the n-th request (0-based) with `respond(n, request)`.
    async fn start(respond: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static) -> Mock {
        Self::start_at("", respond).await
    }

    async fn start_at(
        prefix: &str,
        respond: impl Fn(usize, &Recorded) -> Reply + Send + Sync + 'static,
    ) -> Mock {
        let state = Arc::new(ServerState {
            log: Mutex::new(Vec::new()),
            respond: Box::new(respond),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Mock {
            base: url::Url::parse(&format!("http://{addr}{prefix}")).unwrap(),
            state,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.state.log.lock().unwrap().clone()
    }
}

async fn handle(
    State(s): State<Arc<ServerState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rec = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    let reply = {
        let mut log = s.log.lock().unwrap();
        let reply = (s.respond)(log.len(), &rec);
        log.push(rec);
        reply
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    resp.headers_mut()
        .insert("content-type", reply.content_type.parse().unwrap());
    for (k, v) in reply.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

fn fast() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_millis(500),
        max_attempts: 3,
        base_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(20),
        budget: Duration::from_secs(10),
    }
}

fn fixed() -> Arc<CredentialsProvider> {
    Arc::new(CredentialsProvider::fixed(Credentials::new(
        "client-42",
        SECRET,
    )))
}

fn client(mock: &Mock, options: ClientOptions) -> PlaidClient {
    PlaidClient::new(mock.base.clone(), fixed(), options).unwrap()
}

fn user() -> ClientUserId {
    ClientUserId::parse("user-8f3a1c").unwrap()
}

fn template() -> TemplateId {
    TemplateId::parse("idvtmp_4FrXJvfQU3zGUR").unwrap()
}

fn idv() -> IdvId {
    IdvId::parse("idv_52xR9LKo77r1Np").unwrap()
}

fn create_req(is_idempotent: bool) -> CreateRequest {
    CreateRequest {
        client_user_id: user(),
        template_id: template(),
        gave_consent: false,
        is_shareable: true,
        is_idempotent,
        user: None,
    }
}

fn retry_req(strategy: RetryStrategy) -> RetryRequest {
    RetryRequest {
        client_user_id: user(),
        template_id: template(),
        strategy,
        steps: None,
        user: None,
        is_shareable: None,
    }
}

#[tokio::test]
async fn every_call_posts_json_with_credentials_and_version_under_the_base_prefix() {
    let mock = Mock::start_at("/plaid/v1", |_, r| match r.path.as_str() {
        "/plaid/v1/identity_verification/list" => ok(LIST),
        "/plaid/v1/link/token/create" => ok(LINK_TOKEN),
        "/plaid/v1/webhook_verification_key/get" => ok(KEY),
        _ => ok(SESSION),
    })
    .await;
    let c = client(&mock, fast());

    let iv = c.create(&create_req(true)).await.unwrap();
    assert_eq!(iv.id, idv());
    assert_eq!(c.get(&idv()).await.unwrap().status, IdvStatus::Success);
    let page = c
        .list(&ListRequest {
            template_id: template(),
            client_user_id: user(),
            cursor: Some("cur-1".into()),
        })
        .await
        .unwrap();
    assert_eq!(page.identity_verifications.len(), 1);
    c.retry(&retry_req(RetryStrategy::Infer)).await.unwrap();
    let lt = c
        .link_token_create(&LinkTokenCreateRequest::identity_verification(
            "Acme",
            "en",
            vec!["US".into()],
            user(),
            template(),
        ))
        .await
        .unwrap();
    assert!(lt.link_token.starts_with("link-sandbox-"));
    let key = c.webhook_verification_key_get("kid-1").await.unwrap();
    assert_eq!(key.kid, "bfbd5111-8e33-4643-8ced-b2e642a72f3c");

    let reqs = mock.requests();
    let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/plaid/v1/identity_verification/create",
            "/plaid/v1/identity_verification/get",
            "/plaid/v1/identity_verification/list",
            "/plaid/v1/identity_verification/retry",
            "/plaid/v1/link/token/create",
            "/plaid/v1/webhook_verification_key/get",
        ]
    );
    for r in &reqs {
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.header("plaid-client-id"), Some("client-42"));
        assert_eq!(r.header("plaid-secret"), Some(SECRET));
        assert_eq!(r.header("plaid-version"), Some("2020-09-14"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        // Credentials travel only as headers.
        assert!(r.body.get("secret").is_none() && r.body.get("client_id").is_none());
    }
    assert_eq!(
        reqs[0].body,
        json!({"client_user_id": "user-8f3a1c", "template_id": "idvtmp_4FrXJvfQU3zGUR",
               "gave_consent": false, "is_shareable": true, "is_idempotent": true})
    );
    assert_eq!(
        reqs[1].body,
        json!({"identity_verification_id": "idv_52xR9LKo77r1Np"})
    );
    assert_eq!(
        reqs[2].body,
        json!({"template_id": "idvtmp_4FrXJvfQU3zGUR", "client_user_id": "user-8f3a1c",
               "cursor": "cur-1"})
    );
    assert_eq!(
        reqs[3].body,
        json!({"client_user_id": "user-8f3a1c", "template_id": "idvtmp_4FrXJvfQU3zGUR",
               "strategy": "infer"})
    );
    assert_eq!(reqs[4].body["products"], json!(["identity_verification"]));
    assert_eq!(
        reqs[4].body["identity_verification"],
        json!({"template_id": "idvtmp_4FrXJvfQU3zGUR"})
    );
    assert_eq!(reqs[5].body, json!({"key_id": "kid-1"}));
}

#[tokio::test]
async fn rate_limit_is_retried_after_the_capped_retry_after() {
    let mock = Mock::start(|n, _| {
        if n == 0 {
            let mut r = plaid_error(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT");
            r.headers.push(("retry-after", "30".into()));
            r
        } else {
            ok(SESSION)
        }
    })
    .await;
    let opts = ClientOptions {
        max_backoff: Duration::from_millis(80),
        ..fast()
    };
    let started = Instant::now();
    let iv = client(&mock, opts).get(&idv()).await.unwrap();
    let took = started.elapsed();
    assert_eq!(iv.id, idv());
    assert_eq!(mock.requests().len(), 2);
    // Retry-After is the floor of the delay (jitter alone could be ~0), capped at max_backoff.
    assert!(took >= Duration::from_millis(80), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn server_errors_give_up_after_max_attempts_with_the_typed_error() {
    let mock = Mock::start(|_, _| plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR")).await;
    let err = client(&mock, fast()).get(&idv()).await.unwrap_err();
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(err.status(), Some(500));
    assert_eq!(err.error_type(), Some("API_ERROR"));
    assert_eq!(err.error_code(), Some("INTERNAL_SERVER_ERROR"));
    assert_eq!(err.request_id(), Some("req-INTERNAL_SERVER_ERROR"));
    assert!(err.is_retryable());
}

#[tokio::test]
async fn each_retryable_status_is_retried_and_other_4xx_are_not() {
    for status in [429u16, 500, 502, 503, 504] {
        let mock = Mock::start(move |n, _| {
            if n < 2 {
                plaid_error(status, "API_ERROR", "X")
            } else {
                ok(LIST)
            }
        })
        .await;
        let req = ListRequest {
            template_id: template(),
            client_user_id: user(),
            cursor: None,
        };
        client(&mock, fast()).list(&req).await.unwrap();
        assert_eq!(mock.requests().len(), 3, "status {status}");
    }
    for status in [400u16, 401, 403, 404, 409, 422] {
        let mock =
            Mock::start(move |_, _| plaid_error(status, "INVALID_REQUEST", "INVALID_FIELD")).await;
        let err = client(&mock, fast()).get(&idv()).await.unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert_eq!(mock.requests().len(), 1, "status {status}");
    }
}

#[tokio::test]
async fn identity_verification_retry_is_never_repeated() {
    let mock = Mock::start(|_, _| plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR")).await;
    let err = client(&mock, fast())
        .retry(&retry_req(RetryStrategy::Reset))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(mock.requests().len(), 1);

    // Nor after a timeout: Plaid may have made the new session.
    let slow = Mock::start(|_, _| Reply {
        delay: Duration::from_secs(3),
        ..ok(SESSION)
    })
    .await;
    let opts = ClientOptions {
        timeout: Duration::from_millis(200),
        ..fast()
    };
    let err = client(&slow, opts)
        .retry(&retry_req(RetryStrategy::Reset))
        .await
        .unwrap_err();
    assert!(matches!(err, PlaidError::Timeout), "{err:?}");
    assert_eq!(slow.requests().len(), 1);
}

#[tokio::test]
async fn create_is_repeated_only_when_idempotent() {
    let mock = Mock::start(|_, _| plaid_error(503, "API_ERROR", "PLANNED_MAINTENANCE")).await;
    let c = client(&mock, fast());
    c.create(&create_req(false)).await.unwrap_err();
    assert_eq!(mock.requests().len(), 1);
    c.create(&create_req(true)).await.unwrap_err();
    assert_eq!(mock.requests().len(), 1 + 3);
}

#[tokio::test]
async fn a_slow_server_times_out_within_bounded_time() {
    let mock = Mock::start(|_, _| Reply {
        delay: Duration::from_secs(5),
        ..ok(SESSION)
    })
    .await;
    let opts = ClientOptions {
        timeout: Duration::from_millis(150),
        max_attempts: 2,
        ..fast()
    };
    let started = Instant::now();
    let err = client(&mock, opts).get(&idv()).await.unwrap_err();
    assert!(matches!(err, PlaidError::Timeout), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(mock.requests().len(), 2, "a read-only call is retried");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_failures_stop_when_another_full_attempt_would_not_fit_the_budget() {
    let mock = Mock::start(|_, _| Reply {
        delay: Duration::from_secs(3),
        ..ok(SESSION)
    })
    .await;
    // 300 ms attempts in a 700 ms budget: a second attempt fits after the first times out
    // (300 + backoff + 300 <= 700), a third does not.
    let opts = ClientOptions {
        timeout: Duration::from_millis(300),
        max_attempts: 3,
        budget: Duration::from_millis(700),
        ..fast()
    };
    let started = Instant::now();
    let err = client(&mock, opts).get(&idv()).await.unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, PlaidError::Timeout), "{err:?}");
    assert_eq!(mock.requests().len(), 2);
    assert!(took < Duration::from_millis(800), "{took:?}");
}

#[tokio::test]
async fn fast_failures_use_every_attempt_the_budget_allows() {
    // Three quick 500s fit easily: all three attempts are made, the last answer wins.
    let mock = Mock::start(|n, _| {
        if n < 2 {
            plaid_error(500, "API_ERROR", "INTERNAL_SERVER_ERROR")
        } else {
            ok(SESSION)
        }
    })
    .await;
    let opts = ClientOptions {
        timeout: Duration::from_millis(300),
        max_attempts: 3,
        budget: Duration::from_millis(700),
        ..fast()
    };
    client(&mock, opts).create(&create_req(true)).await.unwrap();
    assert_eq!(mock.requests().len(), 3);
}

#[tokio::test]
async fn the_invocation_deadline_bounds_attempts_and_their_timeouts() {
    let mock = Mock::start(|_, _| Reply {
        delay: Duration::from_secs(5),
        ..ok(SESSION)
    })
    .await;
    // A generous per-call budget, but the Lambda invocation ends in 600 ms: one attempt, cut
    // short at the deadline, and no second one.
    let c = client(&mock, fast());
    let started = Instant::now();
    let err = shared::plaid::deadline::within(started + Duration::from_millis(600), c.get(&idv()))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, PlaidError::Timeout), "{err:?}");
    assert_eq!(mock.requests().len(), 1);
    assert!(took < Duration::from_millis(900), "{took:?}");
    // Outside the scope the client is unbounded by it again.
    assert!(shared::plaid::deadline::current().is_none());
}

#[tokio::test]
async fn identity_verification_retry_is_never_repeated_even_with_time_to_spare() {
    let mock = Mock::start(|_, _| plaid_error(503, "API_ERROR", "PLANNED_MAINTENANCE")).await;
    let opts = ClientOptions {
        budget: Duration::from_secs(60),
        ..fast()
    };
    let err = shared::plaid::deadline::within(
        Instant::now() + Duration::from_secs(60),
        client(&mock, opts).retry(&retry_req(RetryStrategy::Incomplete)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    // Bound and never listened on, and held: refused, and no other test's server can take it.
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = held.local_addr().unwrap();
    let c = PlaidClient::new(
        url::Url::parse(&format!("http://{addr}")).unwrap(),
        fixed(),
        fast(),
    )
    .unwrap();
    let err = c.get(&idv()).await.unwrap_err();
    match &err {
        PlaidError::Transport(detail) => assert!(!detail.contains(SECRET)),
        other => panic!("expected Transport, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
}

/// A credentials source that returns `secret-1`, then `secret-2`, … on each fetch.
fn rotating() -> (Arc<AtomicUsize>, Arc<CredentialsProvider>) {
    let fetches = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&fetches);
    let provider = CredentialsProvider::from_fn(Duration::from_secs(300), move || {
        let n = f.fetch_add(1, Ordering::SeqCst) + 1;
        async move { Ok(Credentials::new("client-42", format!("secret-{n}"))) }
    });
    (fetches, Arc::new(provider))
}

fn accepts_only(secret: &'static str, body: &'static str) -> impl Fn(usize, &Recorded) -> Reply {
    move |_, r| {
        if r.header("plaid-secret") == Some(secret) {
            ok(body)
        } else {
            plaid_error(400, "INVALID_INPUT", "INVALID_API_KEYS")
        }
    }
}

#[tokio::test]
async fn rotated_keys_are_refetched_and_the_call_resent_once() {
    // Even /retry, which is otherwise never resent: Plaid rejected the first request outright.
    let mock = Mock::start(accepts_only("secret-2", SESSION)).await;
    let (fetches, provider) = rotating();
    let c = PlaidClient::new(mock.base.clone(), provider, fast()).unwrap();
    let iv = c.retry(&retry_req(RetryStrategy::Reset)).await.unwrap();
    assert_eq!(iv.id, idv());
    let seen: Vec<_> = mock
        .requests()
        .iter()
        .map(|r| r.header("plaid-secret").unwrap().to_owned())
        .collect();
    assert_eq!(seen, ["secret-1", "secret-2"]);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // The new keys stay cached.
    c.get(&idv()).await.unwrap();
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn wrong_keys_are_not_resent_forever() {
    // Rotated, but the new keys are wrong too: exactly one resend, then the error.
    let mock = Mock::start(accepts_only("never", SESSION)).await;
    let (fetches, provider) = rotating();
    let c = PlaidClient::new(mock.base.clone(), provider, fast()).unwrap();
    let err = c.get(&idv()).await.unwrap_err();
    assert!(err.is_invalid_api_keys(), "{err:?}");
    assert_eq!(err.error_type(), Some("INVALID_INPUT"));
    assert_eq!(mock.requests().len(), 2);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);

    // Not rotated at all (the secret store still has the same keys): no resend.
    let mock = Mock::start(accepts_only("never", SESSION)).await;
    let same = Arc::new(CredentialsProvider::from_fn(
        Duration::from_secs(300),
        || async { Ok(Credentials::new("client-42", "stale")) },
    ));
    let c = PlaidClient::new(mock.base.clone(), same, fast()).unwrap();
    assert!(c.get(&idv()).await.unwrap_err().is_invalid_api_keys());
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn credentials_failures_surface_without_a_request() {
    let mock = Mock::start(|_, _| ok(SESSION)).await;
    let provider = Arc::new(CredentialsProvider::from_fn(
        Duration::from_secs(300),
        || async {
            Err(CredentialsError::NotFound {
                secret_id: "plaid/sandbox".into(),
            })
        },
    ));
    let c = PlaidClient::new(mock.base.clone(), provider, fast()).unwrap();
    let err = c.get(&idv()).await.unwrap_err();
    assert!(matches!(err, PlaidError::Credentials(_)), "{err:?}");
    assert!(err.to_string().contains("plaid/sandbox"));
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn error_bodies_map_to_typed_errors() {
    let mock = Mock::start(|_, _| Reply {
        status: 400,
        body: json!({
            "error_type": "INVALID_REQUEST",
            "error_code": "INVALID_FIELD",
            "error_message": "client_user_id must not contain an email address",
            "display_message": null,
            "request_id": "HNTDNrA8F1shFEW",
            "documentation_url": "https://plaid.com/docs/errors/",
            "causes": [],
            "a_field_from_the_future": 1
        })
        .to_string(),
        ..ok("")
    })
    .await;
    let err = client(&mock, fast())
        .create(&create_req(true))
        .await
        .unwrap_err();
    let PlaidError::Api {
        status,
        body,
        retry_after,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*status, *retry_after), (400, None));
    assert_eq!(
        body.error_message,
        "client_user_id must not contain an email address"
    );
    assert_eq!(err.error_type(), Some("INVALID_REQUEST"));
    assert_eq!(err.error_code(), Some("INVALID_FIELD"));
    assert_eq!(err.request_id(), Some("HNTDNrA8F1shFEW"));
    assert!(!err.is_retryable());
    assert_eq!(err.to_string(), "plaid 400 INVALID_REQUEST: INVALID_FIELD");
}

/// Refusals only the operator can fix (team reference §1.5) arrive as typed errors, are not
/// retried, and become their own API codes (502), never the bare `plaid_error`.
#[tokio::test]
async fn operator_refusals_map_to_their_own_api_codes() {
    use shared::http::ApiError;
    for (code, message, want) in [
        (
            "INVALID_PRODUCT",
            r#"client is not authorized to access the following products: ["identity_verification"]"#,
            "plaid_product_not_enabled",
        ),
        (
            "UNAUTHORIZED_ENVIRONMENT",
            "you are not authorized to use this environment",
            "plaid_environment_not_allowed",
        ),
        (
            "UNAUTHORIZED_ROUTE_ACCESS",
            "you are not authorized to access this route",
            "plaid_product_not_enabled",
        ),
        (
            "INVALID_API_KEYS",
            "invalid client_id or secret provided",
            "plaid_credentials_invalid",
        ),
    ] {
        let mock = Mock::start(move |_, _| Reply {
            status: 400,
            body: json!({
                "error_type": "INVALID_INPUT",
                "error_code": code,
                "error_message": message,
                "display_message": null,
                "request_id": "req-operator",
            })
            .to_string(),
            ..ok("")
        })
        .await;
        let err = client(&mock, fast())
            .create(&create_req(true))
            .await
            .unwrap_err();
        assert_eq!(err.error_code(), Some(code));
        // Not retried (fixed keys: nothing new to resend with either).
        assert_eq!(mock.requests().len(), 1, "{code}");
        let api = ApiError::from(err);
        assert_eq!((api.code(), api.status()), (want, 502), "{code}");
        assert!(!api.to_string().contains(message), "{api}");
    }
}

#[tokio::test]
async fn retry_after_is_kept_on_the_error() {
    let mock = Mock::start(|_, _| {
        let mut r = plaid_error(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT");
        r.headers.push(("retry-after", "7".into()));
        r
    })
    .await;
    let opts = ClientOptions {
        max_attempts: 1,
        ..fast()
    };
    let err = client(&mock, opts).get(&idv()).await.unwrap_err();
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
    assert_eq!(err.status(), Some(429));
}

#[tokio::test]
async fn non_json_bodies_become_short_decode_errors() {
    let html = "<html><body>502 Bad Gateway from some proxy, very long page</body></html>";
    let mock = Mock::start(move |_, _| Reply {
        status: 502,
        body: html.into(),
        content_type: "text/html",
        ..ok("")
    })
    .await;
    let err = client(&mock, fast()).get(&idv()).await.unwrap_err();
    let PlaidError::Decode { status, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 502);
    assert!(!detail.contains("Bad Gateway"), "body dumped: {detail}");
    assert!(detail.contains("text/html"), "{detail}");
    assert!(err.is_retryable());
    assert_eq!(
        mock.requests().len(),
        3,
        "a 502 is retried whatever its body"
    );

    // A 200 that is not an IDV session is a decode error, not retried, and quotes nothing.
    let mock = Mock::start(|_, _| ok(r#"{"id": "idv_1", "client_user_id": "Leslie Knope"}"#)).await;
    let err = client(&mock, fast()).get(&idv()).await.unwrap_err();
    let PlaidError::Decode { status, detail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*status, 200);
    assert!(!detail.contains("Knope"), "{detail}");
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test]
async fn requests_plaid_would_refuse_are_not_sent() {
    let mock = Mock::start(|_, _| ok(SESSION)).await;
    let c = client(&mock, fast());
    let err = c
        .retry(&retry_req(RetryStrategy::Custom))
        .await
        .unwrap_err();
    assert!(matches!(err, PlaidError::InvalidRequest(_)), "{err:?}");
    let mut lt = LinkTokenCreateRequest::identity_verification(
        "Acme",
        "en",
        vec!["US".into()],
        user(),
        template(),
    );
    lt.products.push("auth".into());
    assert!(matches!(
        c.link_token_create(&lt).await,
        Err(PlaidError::InvalidRequest(_))
    ));
    lt.products.pop();
    lt.redirect_uri = Some("https://app.example.com/cb".into());
    lt.android_package_name = Some("com.example".into());
    assert!(matches!(
        c.link_token_create(&lt).await,
        Err(PlaidError::InvalidRequest(_))
    ));
    assert!(mock.requests().is_empty());

    // `custom` with steps is fine, and carries them.
    let mut req = retry_req(RetryStrategy::Custom);
    req.steps = Some(RetrySteps {
        verify_sms: true,
        kyc_check: true,
        documentary_verification: false,
        selfie_check: false,
    });
    c.retry(&req).await.unwrap();
    assert_eq!(mock.requests()[0].body["steps"]["verify_sms"], json!(true));
}

#[tokio::test]
async fn debug_and_display_never_contain_the_secret() {
    let mock = Mock::start(|_, _| plaid_error(400, "INVALID_INPUT", "INVALID_API_KEYS")).await;
    let c = client(&mock, fast());
    let err = c.get(&idv()).await.unwrap_err();
    let creds = fixed().get().await.unwrap();
    assert_eq!(
        creds.secret.expose_secret(),
        SECRET,
        "the secret is there to leak"
    );
    let shown = format!("{c:?} {err:?} {err} {creds:?} {:?}", fixed());
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("INVALID_API_KEYS"));
}

/// Collects everything the client logs during a test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide subscriber, installed once. A thread-local one (`set_default`) loses events
/// while tests on other threads register the same callsites, so the log test filters the shared
/// output by its own span instead.
fn global_log() -> &'static Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber");
        captured
    })
}

#[tokio::test]
async fn logs_carry_endpoint_status_request_id_but_no_secret_token_or_pii() {
    use tracing::Instrument;
    let captured = global_log();
    let span = tracing::info_span!("log_test_scenario");
    let lt = async {
        let mock = Mock::start(|n, r| match (n, r.path.as_str()) {
            (0, _) => plaid_error(503, "API_ERROR", "PLANNED_MAINTENANCE"),
            (_, "/link/token/create") => ok(LINK_TOKEN),
            _ => ok(SESSION),
        })
        .await;
        let c = client(&mock, fast());
        let mut req = create_req(true);
        req.user = Some(RequestUser {
            email_address: Some("leslie@example.com".into()),
            name: Some(UserName {
                given_name: "Leslie".into(),
                family_name: "Knope".into(),
            }),
            ..RequestUser::default()
        });
        c.create(&req).await.unwrap();
        c.link_token_create(&LinkTokenCreateRequest::identity_verification(
            "Acme",
            "en",
            vec!["US".into()],
            user(),
            template(),
        ))
        .await
        .unwrap()
    }
    .instrument(span)
    .await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<_> = logs
        .lines()
        .filter(|l| l.contains("log_test_scenario") && l.contains("plaid call"))
        .collect();
    assert_eq!(lines.len(), 3, "one line per attempt:\n{logs}");
    assert!(lines[0].contains("identity_verification/create") && lines[0].contains("503"));
    assert!(lines[0].contains("req-PLANNED_MAINTENANCE") && lines[0].contains("attempt=1"));
    assert!(lines[1].contains("saKrIBuEB9qJZng") && lines[1].contains("attempt=2"));
    assert!(lines[2].contains("link/token/create") && lines[2].contains("latency_ms="));
    for forbidden in [
        SECRET,
        lt.link_token.as_str(),
        "Knope",
        "leslie@example.com",
    ] {
        assert!(!logs.contains(forbidden), "{forbidden} logged:\n{logs}");
    }
}

/// Issue #12: a key fetch Plaid refuses for good is an unknown kid (401, remembered), not a
/// 503 that makes every forged delivery cost a fetch; a failure that may pass still is a 503.
#[tokio::test]
async fn a_key_fetch_plaid_refuses_for_good_is_an_unknown_kid_and_a_passing_failure_is_not() {
    use shared::webhook_verify::{KeyFetchError, KeyFetcher, VerifyError, WebhookVerifier};
    const KID: &str = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";
    let refused_for_good = [
        (400, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID"),
        (400, "INVALID_INPUT", "INVALID_FIELD"),
        (400, "INVALID_REQUEST", "MISSING_FIELDS"),
        (404, "INVALID_REQUEST", "NOT_FOUND"),
    ];
    for (status, error_type, code) in refused_for_good {
        let mock = Mock::start(move |_, _| plaid_error(status, error_type, code)).await;
        let got = client(&mock, fast()).fetch_key(KID).await;
        assert!(
            matches!(got, Err(KeyFetchError::UnknownKid)),
            "{code}: {got:?}"
        );
        assert_eq!(mock.requests().len(), 1, "{code}: not retried");

        // Through the verifier: 401, and the answer is remembered, so a repeat costs nothing.
        let verifier = WebhookVerifier::new(client(&mock, fast()));
        let token = format!(
            "{}.e30.{}",
            base64_url(&format!(r#"{{"alg":"ES256","kid":"{KID}"}}"#)),
            base64_url(&"\u{1}".repeat(64))
        );
        for _ in 0..3 {
            let err = verifier
                .verify(Some(&token), b"{}", chrono::Utc::now())
                .await
                .unwrap_err();
            assert_eq!(err, VerifyError::UnknownKey, "{code}");
            assert!(!err.is_retryable());
        }
        assert_eq!(
            mock.requests().len(),
            2,
            "{code}: one more fetch, then cached"
        );
    }
    let may_pass = [
        (429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT"),
        (500, "API_ERROR", "INTERNAL_SERVER_ERROR"),
        (503, "API_ERROR", "PLANNED_MAINTENANCE"),
        (400, "INVALID_INPUT", "INVALID_API_KEYS"),
    ];
    for (status, error_type, code) in may_pass {
        let mock = Mock::start(move |_, _| plaid_error(status, error_type, code)).await;
        let got = client(&mock, fast()).fetch_key(KID).await;
        assert!(
            matches!(got, Err(KeyFetchError::Unavailable(_))),
            "{code}: {got:?}"
        );
    }
}

fn base64_url(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s.as_bytes())
}
