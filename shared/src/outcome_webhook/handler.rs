//! The SQS-event handler: one delivery per message, partial batch failures for the ones to try
//! again (`ReportBatchItemFailures` on the event source mapping). See the module docs of
//! `outcome_webhook` for the design.

use super::deliver::{self, Answer};
use super::secret::SecretCache;
use super::{Config, ConfigError};
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How one message ended; also the `Outcome` dimension of `WebhookDeliveries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: the message is deleted.
    Delivered,
    /// Not delivered, hidden for `after` and retried (a batch item failure).
    Retried {
        status: Option<u16>,
        after: Duration,
    },
    /// 429: as `Retried`, counted apart.
    RateLimited { after: Duration },
    /// 410: rule disabled, message moved to the DLQ.
    Gone,
    /// The rule is disabled (an earlier 410): moved to the DLQ without a POST.
    Parked,
    /// Not an outcome event: moved to the DLQ.
    Malformed,
    /// Our side failed (the secret, moving the message): retried at the queue's pace.
    Error,
}

impl Outcome {
    pub const fn as_str(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Retried { .. } => "retried",
            Outcome::RateLimited { .. } => "rate_limited",
            Outcome::Gone => "gone",
            Outcome::Parked => "parked",
            Outcome::Malformed => "malformed",
            Outcome::Error => "error",
        }
    }

    /// Whether the message stays on the queue for another attempt.
    fn retry(&self) -> bool {
        matches!(
            self,
            Outcome::Retried { .. } | Outcome::RateLimited { .. } | Outcome::Error
        )
    }
}

/// Every dimension value of `WebhookDeliveries`, for the dashboard test.
pub const OUTCOMES: &[&str] = &[
    "delivered",
    "retried",
    "rate_limited",
    "gone",
    "parked",
    "malformed",
    "error",
];

/// A batch's answer to Lambda, and what happened to each message (for logs and tests).
#[derive(Debug)]
pub struct BatchReport {
    pub response: SqsBatchResponse,
    /// `(message id, outcome)`, in the batch's order.
    pub outcomes: Vec<(String, Outcome)>,
}

/// The rule's state is read at most this often (`DescribeRule`), so re-enabling it resumes
/// deliveries within a minute without a call per batch.
const RULE_STATE_MAX_AGE: Duration = Duration::from_secs(60);

/// Built once per cold start. Nothing here calls AWS before the first batch: the secret is read
/// by the first message, beside the rule's state (two services, one wait), and the SQS client,
/// which only a retry or a dead-letter move needs, is built by the first of those (a client's
/// construction parses its endpoint rules, ~0.45 M instructions, work most cold starts never
/// need).
pub struct Sender {
    config: Config,
    http: reqwest::Client,
    sdk: aws_config::SdkConfig,
    sqs: std::sync::OnceLock<aws_sdk_sqs::Client>,
    events: aws_sdk_eventbridge::Client,
    secret: SecretCache,
    /// The rule's last known state: `(enabled, read at)`.
    rule: Mutex<Option<(bool, Instant)>>,
}

impl Sender {
    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Result<Sender, ConfigError> {
        let tls = crate::tls::reqwest_config().map_err(|e| ConfigError::Http(e.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // Standard Webhooks counts a redirect as a failure; following one would also sign
            // for a host the customer did not configure.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("plaid-idv-lambda/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConfigError::Http(e.to_string()))?;
        let secret = SecretCache::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            config.secret_id.clone(),
            config.secret_max_age,
        );
        Ok(Sender {
            http,
            sdk: sdk.clone(),
            sqs: std::sync::OnceLock::new(),
            events: aws_sdk_eventbridge::Client::new(sdk),
            secret,
            config,
            rule: Mutex::new(None),
        })
    }

    fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs.get_or_init(|| aws_sdk_sqs::Client::new(&self.sdk))
    }

    /// The Lambda answer for one SQS event.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_batch(event).await.response
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> BatchReport {
        let mut outcomes = Vec::with_capacity(event.records.len());
        let mut response = SqsBatchResponse::default();
        // One at a time: a customer endpoint sees at most one request per concurrent batch.
        for message in &event.records {
            let outcome = self.one(message).await;
            crate::emf::webhook_delivery(outcome.as_str());
            let id = message.message_id.clone().unwrap_or_default();
            if outcome.retry() {
                let mut failure = BatchItemFailure::default();
                failure.item_identifier = id.clone();
                response.batch_item_failures.push(failure);
            }
            tracing::info!(message_id = %id, outcome = outcome.as_str(), "outcome webhook");
            outcomes.push((id, outcome));
        }
        BatchReport { response, outcomes }
    }

    async fn one(&self, message: &SqsMessage) -> Outcome {
        let Some(event) = message.body.as_deref().and_then(OutcomeEvent::parse) else {
            return self.park(message, Outcome::Malformed).await;
        };
        // Both are cached; on a cold start's first message the two reads overlap.
        let (enabled, keys) = tokio::join!(self.rule_enabled(), self.secret.keys());
        if !enabled {
            return self.park(message, Outcome::Parked).await;
        }
        let receive_count = message
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(1);
        let keys = match keys {
            Ok(keys) => keys,
            Err(e) => {
                tracing::error!(error = %e, "outcome webhook secret unusable");
                let after = deliver::backoff(receive_count, None, fastrand::f64());
                self.hide(message, after).await;
                return Outcome::Error;
            }
        };
        let body = deliver::body(&event.occurred_at, &event.detail);
        let now = chrono::Utc::now().timestamp();
        let answer = deliver::post(
            &self.http,
            &self.config.url,
            &keys.all(),
            &event.event_id,
            now,
            body,
        )
        .await;
        match answer {
            Answer::Delivered => Outcome::Delivered,
            Answer::Gone => {
                self.disable_rule().await;
                self.park(message, Outcome::Gone).await
            }
            Answer::RateLimited { retry_after } => {
                let after = deliver::backoff(receive_count, retry_after, fastrand::f64());
                self.hide(message, after).await;
                Outcome::RateLimited { after }
            }
            Answer::Failed {
                status,
                retry_after,
            } => {
                let after = deliver::backoff(receive_count, retry_after, fastrand::f64());
                self.hide(message, after).await;
                Outcome::Retried { status, after }
            }
        }
    }

    /// Keep the message hidden for `after` before its next attempt. On failure the queue's own
    /// visibility timeout applies instead (sooner, never lost).
    async fn hide(&self, message: &SqsMessage, after: Duration) {
        let Some(handle) = message.receipt_handle.as_deref() else {
            return;
        };
        let seconds = after.as_secs().min(deliver::MAX_VISIBILITY.as_secs()) as i32;
        if let Err(e) = self
            .sqs()
            .change_message_visibility()
            .queue_url(&self.config.queue_url)
            .receipt_handle(handle)
            .visibility_timeout(seconds)
            .send()
            .await
        {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not delay an outcome webhook retry");
        }
    }

    /// Move the message to the DLQ as it is (a redrive puts it back unchanged), then let Lambda
    /// delete it. When the move fails it stays on the queue: reported as an error, retried.
    async fn park(&self, message: &SqsMessage, outcome: Outcome) -> Outcome {
        let sent = self
            .sqs()
            .send_message()
            .queue_url(&self.config.dead_letter_queue_url)
            .message_body(message.body.clone().unwrap_or_default())
            .send()
            .await;
        match sent {
            Ok(_) => outcome,
            Err(e) => {
                tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "could not move an outcome webhook to the dead-letter queue");
                Outcome::Error
            }
        }
    }

    async fn rule_enabled(&self) -> bool {
        let mut rule = self.rule.lock().await;
        if let Some((enabled, at)) = *rule
            && at.elapsed() < RULE_STATE_MAX_AGE
        {
            return enabled;
        }
        let described = self
            .events
            .describe_rule()
            .name(&self.config.rule_name)
            .event_bus_name(&self.config.event_bus)
            .send()
            .await;
        let enabled = match described {
            Ok(out) => out.state() != Some(&aws_sdk_eventbridge::types::RuleState::Disabled),
            Err(e) => {
                // Deliver rather than park on a read error: a 410 will say if the endpoint is gone.
                tracing::warn!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(e), "could not read the outcome webhook rule's state");
                true
            }
        };
        *rule = Some((enabled, Instant::now()));
        enabled
    }

    async fn disable_rule(&self) {
        tracing::error!(
            rule = %self.config.rule_name,
            "the outcome webhook endpoint answered 410 Gone: disabling the rule that feeds it"
        );
        *self.rule.lock().await = Some((false, Instant::now()));
        if let Err(e) = self
            .events
            .disable_rule()
            .name(&self.config.rule_name)
            .event_bus_name(&self.config.event_bus)
            .send()
            .await
        {
            tracing::error!(error = %aws_sdk_eventbridge::error::DisplayErrorContext(e), "could not disable the outcome webhook rule");
        }
    }
}

/// Whether a Lambda payload is an SQS event (`Records[0].eventSource == "aws:sqs"`): the
/// `publish-events` binary serves both its table's stream and, as the sender, this queue.
pub fn is_sqs_event(payload: &serde_json::Value) -> bool {
    payload["Records"][0]["eventSource"] == "aws:sqs"
}

/// What the sender needs of an EventBridge event as an SQS target receives it (the whole
/// event JSON): the `detail`, kept as its bytes, and two of its fields.
struct OutcomeEvent {
    event_id: String,
    occurred_at: String,
    detail: Box<RawValue>,
}

impl OutcomeEvent {
    fn parse(body: &str) -> Option<OutcomeEvent> {
        #[derive(Deserialize)]
        struct Envelope {
            #[serde(rename = "detail-type")]
            detail_type: String,
            time: Option<String>,
            detail: Box<RawValue>,
        }
        #[derive(Deserialize)]
        struct Detail {
            event_id: String,
            occurred_at: Option<String>,
        }
        let envelope: Envelope = serde_json::from_str(body).ok()?;
        if envelope.detail_type != DETAIL_TYPE {
            return None;
        }
        let detail: Detail = serde_json::from_str(envelope.detail.get()).ok()?;
        if detail.event_id.is_empty() {
            return None;
        }
        Some(OutcomeEvent {
            event_id: detail.event_id,
            occurred_at: detail.occurred_at.or(envelope.time)?,
            detail: envelope.detail,
        })
    }
}

/// The outcome events' `detail-type` (`shared/DESIGN.md`, "Outcome events").
pub const DETAIL_TYPE: &str = "Identity Verification Status Changed";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_eventbridge_event_as_sqs_receives_it() {
        let body = r#"{"version":"0","id":"x","detail-type":"Identity Verification Status Changed","source":"plaid-idv","account":"1","time":"2026-12-06T10:00:01Z","region":"us-east-1","resources":[],"detail":{"schema_version":1,"event_id":"ev_1","occurred_at":"2026-12-06T10:00:00Z","status":"success"}}"#;
        let e = OutcomeEvent::parse(body).unwrap();
        assert_eq!(e.event_id, "ev_1");
        assert_eq!(e.occurred_at, "2026-12-06T10:00:00Z");
        assert!(e.detail.get().contains(r#""status":"success""#));
    }

    #[test]
    fn tells_sqs_events_from_stream_events() {
        let sqs = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]});
        let stream = serde_json::json!({"Records": [{"eventSource": "aws:dynamodb"}]});
        assert!(is_sqs_event(&sqs));
        assert!(!is_sqs_event(&stream));
        assert!(!is_sqs_event(&serde_json::json!({})));
    }

    #[test]
    fn anything_else_is_malformed() {
        for body in [
            "not json",
            r#"{"detail-type":"Other","detail":{"event_id":"e","occurred_at":"t"}}"#,
            r#"{"detail-type":"Identity Verification Status Changed","detail":{"occurred_at":"t"}}"#,
            r#"{"detail-type":"Identity Verification Status Changed","detail":{"event_id":"","occurred_at":"t"}}"#,
            r#"{"detail-type":"Identity Verification Status Changed","detail":{"event_id":"e"}}"#,
        ] {
            assert!(OutcomeEvent::parse(body).is_none(), "{body}");
        }
    }
}
