//! The Plaid HTTP client (reqwest + rustls).
//!
//! Every call is a POST with a JSON body; the credentials travel as the `PLAID-CLIENT-ID` /
//! `PLAID-SECRET` headers (never in a body that might end up in a log) and the API version is
//! pinned with `Plaid-Version`.
//!
//! Retries: 429, 500, 502, 503, 504, timeouts and connection failures are retried with
//! full-jitter exponential backoff (raised to Plaid's `Retry-After`, capped at `max_backoff`),
//! up to `max_attempts`, and only while the time left allows another *full* attempt (backoff
//! plus `timeout`) before the call's deadline: the earlier of `budget` after the call started
//! and the Lambda invocation's own deadline less a reserve (see [`deadline`]). No attempt's
//! timeout runs past that deadline either. So failures that answer fast (a 500 in a few
//! milliseconds, a refused connection) get every attempt, and a Plaid that hangs costs at most
//! the budget, never the function's timeout. Only calls that are safe to repeat are retried:
//! - `/identity_verification/get`, `/list`, `/webhook_verification_key/get`: read-only;
//! - `/identity_verification/create` only with `is_idempotent: true` (Plaid then returns the
//!   session the first attempt may have created);
//! - `/link/token/create`: a repeat at worst mints a second token that is never used; IDV keys
//!   the session on `client_user_id` + template, so both tokens open the same session;
//! - never `/identity_verification/retry`: every call that reaches Plaid starts a new, billed
//!   session, and a timeout does not tell us whether it did.
//!
//! [`deadline`]: crate::plaid::deadline
//!
//! `INVALID_API_KEYS` is different: Plaid rejected the request before doing anything, so any
//! call is resent once with freshly read credentials (the secret was probably rotated).

use crate::credentials::{Credentials, CredentialsProvider};
use crate::ids::IdvId;
use crate::plaid::error::PlaidError;
use crate::plaid::types::*;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The API version this code is written against (`Plaid-Version` header).
pub const PLAID_VERSION: &str = "2020-09-14";

/// Larger answers are refused rather than buffered: an IDV session is tens of KB.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// With less time than this before the deadline, a request is not sent at all: it could only
/// time out, after Plaid may have acted on it.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(50);

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request timeout of one attempt.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts for calls that are safe to repeat (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, with full jitter, capped at `max_backoff`.
    /// A `Retry-After` from Plaid raises the delay to at most `max_backoff` too.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The most one call may take, all attempts and backoffs included. A new attempt starts
    /// only if a full one (backoff + `timeout`) still fits; an invocation deadline set with
    /// [`deadline::within`](crate::plaid::deadline::within) can only shorten it.
    pub budget: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(2),
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            budget: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct PlaidClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: url::Url,
    credentials: Arc<CredentialsProvider>,
    options: ClientOptions,
}

impl std::fmt::Debug for PlaidClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaidClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("credentials", &self.inner.credentials)
            .field("options", &self.inner.options)
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Create,
    Get,
    List,
    Retry,
    LinkTokenCreate,
    WebhookVerificationKeyGet,
}

impl Endpoint {
    /// Relative to the base URL (no leading slash, so a base path prefix is kept).
    fn path(self) -> &'static str {
        match self {
            Endpoint::Create => "identity_verification/create",
            Endpoint::Get => "identity_verification/get",
            Endpoint::List => "identity_verification/list",
            Endpoint::Retry => "identity_verification/retry",
            Endpoint::LinkTokenCreate => "link/token/create",
            Endpoint::WebhookVerificationKeyGet => "webhook_verification_key/get",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Never,
}

/// Responses carry Plaid's `request_id`, which support asks for: it goes into the log line.
trait PlaidResponse: DeserializeOwned {
    fn request_id(&self) -> Option<&str>;
}

impl PlaidResponse for IdentityVerification {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}
impl PlaidResponse for ListResponse {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}
impl PlaidResponse for LinkTokenCreateResponse {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}
impl PlaidResponse for WebhookVerificationKeyGetResponse {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl PlaidClient {
    pub fn new(
        base_url: url::Url,
        credentials: Arc<CredentialsProvider>,
        options: ClientOptions,
    ) -> Result<Self, PlaidError> {
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(PlaidError::Config(format!(
                "base URL {base_url} is not an http(s) URL"
            )));
        }
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(PlaidError::Config(format!(
                "base URL {base_url} must not have a query or fragment"
            )));
        }
        let mut base_url = base_url;
        // `Url::join` replaces the last segment unless the path ends in '/':
        // `http://h/prefix` + `identity_verification/get` must keep `prefix`.
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let tls = crate::tls::reqwest_config()
            .map_err(|e| PlaidError::Config(format!("could not set up TLS: {e}")))?;
        let http = reqwest::Client::builder()
            // The roots the AWS SDK's client uses too, read once per process (see `tls`).
            .tls_backend_preconfigured(tls)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            // Plaid never redirects; following one would hand PLAID-SECRET to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("plaid-idv-lambda/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlaidError::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(PlaidClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                credentials,
                options,
            }),
        })
    }

    /// `/identity_verification/create`; retried only when `req.is_idempotent`.
    pub async fn create(&self, req: &CreateRequest) -> Result<IdentityVerification, PlaidError> {
        let repeat = if req.is_idempotent {
            Repeat::Safe
        } else {
            Repeat::Never
        };
        self.call(Endpoint::Create, req, repeat).await
    }

    pub async fn get(&self, id: &IdvId) -> Result<IdentityVerification, PlaidError> {
        let req = GetRequest {
            identity_verification_id: id.clone(),
        };
        self.call(Endpoint::Get, &req, Repeat::Safe).await
    }

    pub async fn list(&self, req: &ListRequest) -> Result<ListResponse, PlaidError> {
        self.call(Endpoint::List, req, Repeat::Safe).await
    }

    /// `/identity_verification/retry`: never retried (each call makes a new session).
    pub async fn retry(&self, req: &RetryRequest) -> Result<IdentityVerification, PlaidError> {
        if req.strategy == RetryStrategy::Custom && req.steps.is_none() {
            return Err(PlaidError::InvalidRequest(
                "the custom retry strategy needs `steps`".into(),
            ));
        }
        self.call(Endpoint::Retry, req, Repeat::Never).await
    }

    pub async fn link_token_create(
        &self,
        req: &LinkTokenCreateRequest,
    ) -> Result<LinkTokenCreateResponse, PlaidError> {
        if req.products.len() != 1 || req.products[0] != PRODUCT_IDENTITY_VERIFICATION {
            return Err(PlaidError::InvalidRequest(
                "an IDV link token takes exactly products: [\"identity_verification\"]".into(),
            ));
        }
        if req.client_name.trim().is_empty() || req.language.trim().is_empty() {
            return Err(PlaidError::InvalidRequest(
                "client_name and language must not be empty".into(),
            ));
        }
        if req.country_codes.is_empty() {
            return Err(PlaidError::InvalidRequest(
                "country_codes needs at least one code".into(),
            ));
        }
        if req.redirect_uri.is_some() && req.android_package_name.is_some() {
            return Err(PlaidError::InvalidRequest(
                "redirect_uri and android_package_name are mutually exclusive".into(),
            ));
        }
        self.call(Endpoint::LinkTokenCreate, req, Repeat::Safe)
            .await
    }

    pub async fn webhook_verification_key_get(
        &self,
        key_id: &str,
    ) -> Result<JwkPublicKey, PlaidError> {
        if key_id.is_empty() {
            return Err(PlaidError::InvalidRequest("key_id is empty".into()));
        }
        let req = WebhookVerificationKeyGetRequest {
            key_id: key_id.to_owned(),
        };
        let resp: WebhookVerificationKeyGetResponse = self
            .call(Endpoint::WebhookVerificationKeyGet, &req, Repeat::Safe)
            .await?;
        Ok(resp.key)
    }

    async fn call<Req, Resp>(
        &self,
        endpoint: Endpoint,
        req: &Req,
        repeat: Repeat,
    ) -> Result<Resp, PlaidError>
    where
        Req: Serialize,
        Resp: PlaidResponse,
    {
        let body = serde_json::to_vec(req)
            .map_err(|e| PlaidError::InvalidRequest(format!("could not serialise: {e}")))?;
        let url = self
            .inner
            .base_url
            .join(endpoint.path())
            .map_err(|e| PlaidError::Config(format!("could not build the URL: {e}")))?;
        let max_attempts = match repeat {
            Repeat::Safe => self.inner.options.max_attempts.max(1),
            Repeat::Never => 1,
        };
        let options = &self.inner.options;
        let deadline = call_deadline(Instant::now(), options.budget);
        let mut attempt = 0;
        let mut sent = 0;
        let mut rekeyed = false;
        loop {
            attempt += 1;
            sent += 1;
            let credentials = self.inner.credentials.get().await?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left < MIN_ATTEMPT_TIME {
                tracing::info!(
                    endpoint = endpoint.path(),
                    attempt = sent,
                    "no time left for a plaid call"
                );
                return Err(PlaidError::Timeout);
            }
            let result = self
                .send_once::<Resp>(
                    endpoint,
                    &url,
                    &body,
                    &credentials,
                    sent,
                    options.timeout.min(left),
                )
                .await;
            let err = match result {
                Ok(resp) => return Ok(resp),
                Err(err) => err,
            };
            if err.is_invalid_api_keys() && !rekeyed {
                rekeyed = true;
                self.inner
                    .credentials
                    .invalidate_if_current(&credentials)
                    .await;
                let fresh = self.inner.credentials.get().await?;
                if fresh.same_as(&credentials) {
                    // Nothing was rotated: the keys are simply wrong for this environment.
                    return Err(err);
                }
                tracing::warn!(
                    endpoint = endpoint.path(),
                    "plaid rejected the API keys; resending with the rotated credentials"
                );
                // The rejected request did nothing at Plaid: it does not use up an attempt.
                attempt -= 1;
                continue;
            }
            if attempt < max_attempts && is_transient_http(&err) {
                let delay = self.backoff(attempt, err.retry_after());
                // Another attempt only if a full one fits: a cut-short attempt at a slow Plaid
                // would fail anyway, after Plaid may have acted on it.
                let full_attempt = delay.saturating_add(options.timeout);
                if full_attempt <= deadline.saturating_duration_since(Instant::now()) {
                    tokio::time::sleep(delay).await;
                    continue;
                }
            }
            return Err(err);
        }
    }

    /// Full jitter: uniform in `[0, min(max_backoff, base_backoff * 2^(attempt-1))]`, then
    /// raised to Plaid's `Retry-After` (itself capped at `max_backoff`: a Lambda must not sleep
    /// away its deadline; the caller sees the 429 and its `retry_after` instead).
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        backoff_delay(&self.inner.options, attempt, retry_after)
    }

    async fn send_once<Resp: PlaidResponse>(
        &self,
        endpoint: Endpoint,
        url: &url::Url,
        body: &[u8],
        credentials: &Credentials,
        attempt: u32,
        timeout: Duration,
    ) -> Result<Resp, PlaidError> {
        let headers = auth_headers(credentials)?;
        let started = Instant::now();
        let outcome = async {
            let resp = self
                .inner
                .http
                .post(url.clone())
                .timeout(timeout)
                .headers(headers)
                .body(body.to_vec())
                .send()
                .await
                .map_err(map_reqwest_error)?;
            let status = resp.status().as_u16();
            let retry_after = parse_retry_after(resp.headers());
            let content_type = resp
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none")
                .chars()
                .take(64)
                .collect::<String>();
            let bytes = read_capped(resp, status).await?;
            if (200..300).contains(&status) {
                serde_json::from_slice::<Resp>(&bytes).map_err(|e| PlaidError::Decode {
                    status,
                    detail: describe_json_error(&e),
                })
            } else {
                match serde_json::from_slice::<PlaidErrorBody>(&bytes) {
                    Ok(body) => Err(PlaidError::Api {
                        status,
                        body: Box::new(body),
                        retry_after,
                    }),
                    Err(_) => Err(PlaidError::Decode {
                        status,
                        detail: format!(
                            "error body is not Plaid's error JSON ({} bytes, content-type {content_type})",
                            bytes.len()
                        ),
                    }),
                }
            }
        }
        .await;
        log_attempt(
            endpoint,
            attempt,
            started.elapsed(),
            outcome.as_ref().map(|r| r.request_id()),
        );
        outcome
    }
}

/// The earlier of `budget` after `start` and the invocation's deadline, if one is set. A budget
/// too large for `Instant` means no budget.
fn call_deadline(start: Instant, budget: Duration) -> Instant {
    let invocation = crate::plaid::deadline::current();
    match (start.checked_add(budget), invocation) {
        (Some(b), Some(i)) => b.min(i),
        (Some(b), None) => b,
        (None, Some(i)) => i,
        // About 30 years: effectively unbounded, and far from overflowing.
        (None, None) => start + Duration::from_secs(1 << 30),
    }
}

fn backoff_delay(o: &ClientOptions, attempt: u32, retry_after: Option<Duration>) -> Duration {
    let factor = 1u32
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u32::MAX);
    let ceiling = o.base_backoff.saturating_mul(factor).min(o.max_backoff);
    // Integer nanoseconds: `Duration::mul_f64` panics when rounding overflows a huge value.
    let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    let jittered = Duration::from_nanos(fastrand::u64(0..=ceiling_nanos));
    match retry_after {
        Some(ra) => jittered.max(ra.min(o.max_backoff)),
        None => jittered,
    }
}

fn auth_headers(credentials: &Credentials) -> Result<HeaderMap, PlaidError> {
    let bad =
        || PlaidError::Config("the credentials contain characters not allowed in a header".into());
    let mut h = HeaderMap::with_capacity(4);
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("plaid-version", HeaderValue::from_static(PLAID_VERSION));
    h.insert(
        "plaid-client-id",
        HeaderValue::from_str(&credentials.client_id).map_err(|_| bad())?,
    );
    let mut secret =
        HeaderValue::from_str(credentials.secret.expose_secret()).map_err(|_| bad())?;
    // Keeps the value out of hyper's debug output and HPACK tables.
    secret.set_sensitive(true);
    h.insert("plaid-secret", secret);
    Ok(h)
}

/// The transient failures worth another attempt. Credentials errors are not among them: the
/// AWS SDK already retried Secrets Manager.
fn is_transient_http(err: &PlaidError) -> bool {
    matches!(
        err,
        PlaidError::Api { .. }
            | PlaidError::Decode { .. }
            | PlaidError::Timeout
            | PlaidError::Transport(_)
    ) && err.is_retryable()
}

fn map_reqwest_error(err: reqwest::Error) -> PlaidError {
    if err.is_timeout() {
        return PlaidError::Timeout;
    }
    // reqwest's own message is generic ("error sending request"): add the root cause
    // ("Connection refused"). Neither carries headers, so no credentials leak here.
    let err = err.without_url();
    let mut detail = err.to_string();
    let mut source = std::error::Error::source(&err);
    let mut last = None;
    while let Some(s) = source {
        last = Some(s.to_string());
        source = s.source();
    }
    if let Some(root) = last {
        detail.push_str(": ");
        detail.push_str(&root);
    }
    PlaidError::Transport(detail)
}

/// `Retry-After` in delta-seconds, the form rate limiters send. HTTP dates are ignored.
fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

async fn read_capped(mut resp: reqwest::Response, status: u16) -> Result<Vec<u8>, PlaidError> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(map_reqwest_error)? {
        if buf.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(PlaidError::Decode {
                status,
                detail: format!("body larger than {MAX_BODY_BYTES} bytes"),
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// Where parsing failed, without serde's message: it quotes the offending value, which may be
/// personal data from the session.
fn describe_json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "body is not valid JSON",
        Category::Eof => "body ends early",
        Category::Data => "body does not have the expected shape",
        Category::Io => "body could not be read",
    };
    format!("{what} (line {}, column {})", e.line(), e.column())
}

fn log_attempt(
    endpoint: Endpoint,
    attempt: u32,
    latency: Duration,
    outcome: Result<Option<&str>, &PlaidError>,
) {
    let endpoint = endpoint.path();
    crate::emf::plaid_attempt(endpoint, latency, outcome.err());
    let latency_ms = latency.as_millis() as u64;
    match outcome {
        Ok(request_id) => tracing::debug!(
            endpoint,
            status = 200u16,
            plaid_request_id = request_id.unwrap_or("-"),
            attempt,
            latency_ms,
            "plaid call"
        ),
        Err(err) => tracing::info!(
            endpoint,
            status = err.status().unwrap_or(0),
            plaid_request_id = err.request_id().unwrap_or("-"),
            error_code = err.error_code().unwrap_or("-"),
            error = error_kind(err),
            attempt,
            latency_ms,
            "plaid call failed"
        ),
    }
}

fn error_kind(err: &PlaidError) -> &'static str {
    match err {
        PlaidError::Api { .. } => "api",
        PlaidError::Timeout => "timeout",
        PlaidError::Transport(_) => "transport",
        PlaidError::Decode { .. } => "decode",
        PlaidError::Credentials(_) => "credentials",
        PlaidError::InvalidRequest(_) => "invalid_request",
        PlaidError::Config(_) => "config",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(options: ClientOptions, base: &str) -> Result<PlaidClient, PlaidError> {
        PlaidClient::new(
            url::Url::parse(base).unwrap(),
            Arc::new(CredentialsProvider::fixed(Credentials::new(
                "id", "hunter2",
            ))),
            options,
        )
    }

    #[test]
    fn base_url_prefix_is_kept() {
        for base in [
            "http://h/prefix",
            "http://h/prefix/",
            "http://h",
            "http://h/",
        ] {
            let c = client(ClientOptions::default(), base).unwrap();
            let url = c.inner.base_url.join(Endpoint::Get.path()).unwrap();
            let want = if base.contains("prefix") {
                "http://h/prefix/identity_verification/get"
            } else {
                "http://h/identity_verification/get"
            };
            assert_eq!(url.as_str(), want, "{base}");
        }
    }

    #[test]
    fn unusable_base_urls_are_refused() {
        for base in ["mailto:x@example.com", "http://h/?a=b", "ftp://h/"] {
            assert!(
                matches!(
                    client(ClientOptions::default(), base),
                    Err(PlaidError::Config(_))
                ),
                "{base}"
            );
        }
    }

    #[test]
    fn backoff_is_capped_jittered_and_respects_retry_after() {
        let opts = ClientOptions {
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(400),
            ..ClientOptions::default()
        };
        let c = client(opts, "http://h").unwrap();
        let mut distinct = std::collections::HashSet::new();
        for attempt in 1..40 {
            let d = c.backoff(attempt, None);
            let ceiling = Duration::from_millis(100 * 2u64.pow((attempt - 1).min(20)))
                .min(Duration::from_millis(400));
            assert!(d <= ceiling, "attempt {attempt}: {d:?}");
            distinct.insert(d);
            let with_ra = c.backoff(attempt, Some(Duration::from_secs(30)));
            assert_eq!(with_ra, Duration::from_millis(400), "Retry-After is capped");
            let small_ra = c.backoff(attempt, Some(Duration::from_millis(300)));
            assert!(small_ra >= Duration::from_millis(300));
        }
        assert!(distinct.len() > 10, "no jitter: {distinct:?}");
    }

    proptest::proptest! {
        #![proptest_config(crate::proptest_seed::config(256))]

        #[test]
        fn backoff_never_panics_and_stays_within_bounds(
            base_ms in 0u64..=u64::MAX / 2_000_000,
            max_ms in 0u64..=u64::MAX / 2_000_000,
            attempt in 0u32..=u32::MAX,
            retry_after_s in proptest::option::of(0u64..=u64::MAX),
        ) {
            let o = ClientOptions {
                base_backoff: Duration::from_millis(base_ms),
                max_backoff: Duration::from_millis(max_ms),
                ..ClientOptions::default()
            };
            let d = backoff_delay(&o, attempt, retry_after_s.map(Duration::from_secs));
            proptest::prop_assert!(d <= Duration::from_millis(max_ms));
        }
    }

    #[tokio::test]
    async fn call_deadlines_never_overflow_and_respect_the_invocation() {
        let now = Instant::now();
        assert_eq!(
            call_deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert!(call_deadline(now, Duration::MAX) > now + Duration::from_secs(86_400));
        let soon = now + Duration::from_millis(300);
        let d = crate::plaid::deadline::within(soon, async {
            (
                call_deadline(now, Duration::from_secs(5)),
                call_deadline(now, Duration::MAX),
                call_deadline(now, Duration::from_millis(100)),
            )
        })
        .await;
        assert_eq!(d, (soon, soon, now + Duration::from_millis(100)));
    }

    #[test]
    fn retry_after_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static(" 7 "));
        assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(parse_retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-3"));
        assert_eq!(parse_retry_after(&h), None);
    }

    #[test]
    fn json_error_description_never_quotes_values() {
        let err = serde_json::from_str::<IdentityVerification>(r#"{"id": "1975-01-18 Leslie"}"#)
            .unwrap_err();
        let d = describe_json_error(&err);
        assert!(!d.contains("Leslie"), "{d}");
        assert!(
            d.starts_with("body does not have the expected shape"),
            "{d}"
        );
    }

    #[test]
    fn debug_output_has_no_secret() {
        let c = client(ClientOptions::default(), "http://h").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("http://h/"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
