//! One Plaid call: the attempts, the backoff between them, the deadline they run under, and
//! what is logged for each.

use super::{ClientOptions, Endpoint, PLAID_VERSION, PlaidClient, PlaidResponse, Repeat};
use crate::credentials::Credentials;
use crate::plaid::error::PlaidError;
use crate::plaid::types::PlaidErrorBody;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use secrecy::ExposeSecret;
use serde::Serialize;
use std::time::{Duration, Instant};

/// Larger answers are refused rather than buffered: an IDV session is tens of KB.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// With less time than this before the deadline, a request is not sent at all: it could only
/// time out, after Plaid may have acted on it.
const MIN_ATTEMPT_TIME: Duration = Duration::from_millis(50);

impl PlaidClient {
    pub(super) async fn call<Req, Resp>(
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
    use crate::plaid::client::tests::client;
    use crate::plaid::types::IdentityVerification;

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
}
