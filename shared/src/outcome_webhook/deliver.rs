//! One delivery attempt: the Standard Webhooks body and headers for an outcome event, the POST,
//! and what its answer means for the retry schedule.

use super::sign::{SigningKey, signature_header};
use serde::Serialize;
use serde_json::value::RawValue;
use std::time::Duration;

/// The body's `type`.
pub const EVENT_TYPE: &str = "identity_verification.status_changed";

/// The Standard Webhooks payload: `{"type", "timestamp", "data"}`. `data` is the event's
/// `detail` exactly as published (its bytes, not re-serialised), `timestamp` its `occurred_at`:
/// the same event gives the same body on every retry.
#[derive(Serialize)]
struct Payload<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    timestamp: &'a str,
    data: &'a RawValue,
}

pub fn body(occurred_at: &str, detail: &RawValue) -> Vec<u8> {
    serde_json::to_vec(&Payload {
        kind: EVENT_TYPE,
        timestamp: occurred_at,
        data: detail,
    })
    .expect("a struct of strings and valid JSON serialises")
}

/// What one POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx.
    Delivered,
    /// 410 Gone: the endpoint asks for no more deliveries.
    Gone,
    /// 429: the receiver is rate-limiting us; `retry_after` when it said.
    RateLimited { retry_after: Option<Duration> },
    /// Any other status (3xx are not followed, as the spec asks), or no answer: try again later.
    /// `retry_after` when a 503 said.
    Failed {
        status: Option<u16>,
        retry_after: Option<Duration>,
    },
}

/// POST `body` to `url`, signed for `id` at `timestamp` with `keys` (current first).
pub async fn post(
    http: &reqwest::Client,
    url: &url::Url,
    keys: &[&SigningKey],
    id: &str,
    timestamp: i64,
    body: Vec<u8>,
) -> Answer {
    let signature = signature_header(keys, id, timestamp, &body);
    let sent = http
        .post(url.clone())
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => classify(response.status().as_u16(), response.headers()),
        Err(e) => {
            // No URL in the log line: it may carry a customer's token in its path or query.
            tracing::warn!(error = %e.without_url(), "outcome webhook: no answer from the endpoint");
            Answer::Failed {
                status: None,
                retry_after: None,
            }
        }
    }
}

pub fn classify(status: u16, headers: &http::HeaderMap) -> Answer {
    let retry_after = || retry_after(headers);
    match status {
        200..=299 => Answer::Delivered,
        410 => Answer::Gone,
        429 => Answer::RateLimited {
            retry_after: retry_after(),
        },
        _ => Answer::Failed {
            status: Some(status),
            retry_after: retry_after(),
        },
    }
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3); a date in the past is 0.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// SQS's longest visibility timeout (ChangeMessageVisibility takes 0..=43200 seconds).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);
/// The wait after a first failure; it doubles with each receive up to [`MAX_VISIBILITY`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(60);

/// How long a message stays hidden after its `receive_count`-th attempt failed: exponential
/// (60 s, 120 s, 240 s, ...) capped at 12 h, plus up to a quarter more as jitter so that a
/// burst of failures does not come back as one burst, and never less than the receiver's
/// `Retry-After`. The jitter only adds: the schedule's floor is what
/// `infra/template.yaml`'s `maxReceiveCount` arithmetic (module docs) counts on.
pub fn backoff(receive_count: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(20);
    let base = FIRST_BACKOFF
        .saturating_mul(1u32 << doublings)
        .min(MAX_VISIBILITY);
    let jittered = base.mul_f64(1.0 + 0.25 * jitter.clamp(0.0, 1.0));
    jittered
        .max(retry_after.unwrap_or(Duration::ZERO))
        .min(MAX_VISIBILITY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(retry_after: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, retry_after.parse().unwrap());
        h
    }

    #[test]
    fn body_carries_the_detail_bytes_untouched() {
        let detail = RawValue::from_string(r#"{"event_id":"e","sequence":2}"#.into()).unwrap();
        let b = body("2026-12-06T10:00:00Z", &detail);
        assert_eq!(
            std::str::from_utf8(&b).unwrap(),
            r#"{"type":"identity_verification.status_changed","timestamp":"2026-12-06T10:00:00Z","data":{"event_id":"e","sequence":2}}"#
        );
    }

    #[test]
    fn answers_are_classified() {
        let none = http::HeaderMap::new();
        assert_eq!(classify(204, &none), Answer::Delivered);
        assert_eq!(classify(410, &none), Answer::Gone);
        assert_eq!(
            classify(429, &headers("120")),
            Answer::RateLimited {
                retry_after: Some(Duration::from_secs(120))
            }
        );
        assert_eq!(
            classify(301, &none),
            Answer::Failed {
                status: Some(301),
                retry_after: None
            }
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after(&headers(" 30 ")), Some(Duration::from_secs(30)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(600)).to_rfc2822();
        let wait = retry_after(&headers(&later)).unwrap();
        assert!(wait > Duration::from_secs(590) && wait <= Duration::from_secs(600));
        assert_eq!(
            retry_after(&headers("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon")), None);
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_honours_retry_after() {
        assert_eq!(backoff(1, None, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(2, None, 0.0), Duration::from_secs(120));
        assert_eq!(backoff(10, None, 0.0), Duration::from_secs(30_720));
        assert_eq!(backoff(11, None, 0.0), MAX_VISIBILITY);
        assert_eq!(backoff(u32::MAX, None, 1.0), MAX_VISIBILITY);
        assert_eq!(backoff(1, None, 1.0), Duration::from_secs(75));
        assert_eq!(
            backoff(1, Some(Duration::from_secs(3600)), 0.5),
            Duration::from_secs(3600)
        );
        assert_eq!(
            backoff(1, Some(Duration::from_secs(999_999)), 0.0),
            MAX_VISIBILITY
        );
    }

    /// The arithmetic behind the queue's `maxReceiveCount` (module docs): the waits after
    /// attempts 1..=11 alone, without jitter, span more than 24 hours.
    #[test]
    fn the_retry_schedule_covers_a_day() {
        let span: Duration = (1..super::super::MAX_RECEIVE_COUNT)
            .map(|n| backoff(n, None, 0.0))
            .sum();
        assert_eq!(span, Duration::from_secs(104_580));
        assert!(span >= Duration::from_secs(24 * 3600));
    }
}
