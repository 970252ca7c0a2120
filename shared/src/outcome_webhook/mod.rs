//! Signed outcome webhooks: each outcome event (`publish-events`' EventBridge events, see
//! `shared/DESIGN.md` "Outcome events") POSTed to the customer's HTTPS endpoint as a Standard
//! Webhooks delivery (standardwebhooks.com), optional (`OutcomeWebhookUrl` in
//! `infra/template.yaml`; empty = off).
//!
//! **Path.** A rule on the bus forwards every outcome event to an SQS queue; the sender (the
//! `publish-events` binary, dispatching `aws:sqs` events to [`handler`]) POSTs each message's
//! event. Headers `webhook-id` (= the event's `event_id`, stable across retries, so the
//! receiver dedupes on it), `webhook-timestamp` (unix seconds of this attempt) and
//! `webhook-signature` ([`sign`]); body `{"type": "identity_verification.status_changed",
//! "timestamp": <occurred_at>, "data": <detail>}` ([`deliver::body`]). The signing secret is
//! JSON in Secrets Manager ([`secret`] has its shape and rotation).
//!
//! **Retries.** Any answer but 2xx (3xx are not followed), or none within
//! `OUTCOME_WEBHOOK_TIMEOUT_SECONDS`, is retried: the sender hides the message for
//! [`deliver::backoff`] (ChangeMessageVisibility: 60 s doubling per receive, capped at SQS's
//! 12 h, plus up to 25% jitter, and never sooner than a 429's or 503's `Retry-After`) and reports
//! it as a batch item failure. The queue's redrive policy moves a message to the dead-letter
//! queue after [`MAX_RECEIVE_COUNT`] receives. The arithmetic, jitter left out (it only adds):
//! the waits after attempts 1 to 10 are 60 × (2¹⁰ − 1) = 61,380 s, after attempt 11 another
//! 43,200 s, so the 12th and last attempt comes at least 104,580 s ≈ 29 h after the first
//! (more than the 24 h asked), and the message reaches the DLQ 12 h after that (≈ 41 h). The
//! source queue keeps messages 4 days, longer than that; the DLQ 14 days, counted (SQS's rule
//! for standard queues) from the original enqueue.
//!
//! **410 Gone** stops deliveries to the endpoint: the sender disables the rule that feeds the
//! queue (`events:DisableRule` on that rule only; nothing new is queued, and the bus's archive
//! keeps the events for replay), counts `WebhookDeliveries` with `Outcome=gone` (an alarm
//! watches it) and moves the message to the DLQ at once. Messages already queued are moved
//! there too without a POST while the rule is disabled (the sender reads the rule's state at
//! most once a minute), so the DLQ holds every undelivered event. To resume: fix the endpoint,
//! enable the rule, redrive the DLQ to the queue, and replay from the archive what the disabled
//! rule did not forward. A message that is not an outcome event (it cannot come from our rule)
//! goes to the DLQ the same way, counted `malformed`.

pub mod deliver;
pub mod handler;
pub mod secret;
pub mod sign;

use std::time::Duration;

/// The source queue's `maxReceiveCount` (`infra/template.yaml`, checked there by
/// `tests/tests/it/template`): 12 attempts, spanning ≥ 29 h (module docs).
pub const MAX_RECEIVE_COUNT: u32 = 12;

/// The sender's settings, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `OUTCOME_WEBHOOK_URL`: https, or http to 127.0.0.1 (local runs and tests) only.
    pub url: url::Url,
    /// `OUTCOME_WEBHOOK_SECRET_ID`: the Secrets Manager id of the signing secret.
    pub secret_id: String,
    /// `OUTCOME_WEBHOOK_SECRET_MAX_AGE_SECONDS` (default 300): a rotation reaches every
    /// execution environment within this.
    pub secret_max_age: Duration,
    /// `OUTCOME_WEBHOOK_QUEUE_URL`: the queue the messages come from (to move their visibility).
    pub queue_url: String,
    /// `OUTCOME_WEBHOOK_DLQ_URL`: where messages that will not be delivered go at once.
    pub dead_letter_queue_url: String,
    /// `OUTCOME_WEBHOOK_RULE_NAME`: the rule that feeds the queue, disabled on a 410. CloudFormation's
    /// `Ref` of a rule on a custom bus is `bus|rule`: the part after `|` is the rule.
    pub rule_name: String,
    /// `EVENT_BUS_NAME` (name or ARN): the rule's bus.
    pub event_bus: String,
    /// `OUTCOME_WEBHOOK_TIMEOUT_SECONDS` (default 10): one POST, connection included.
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required when OUTCOME_WEBHOOK_URL is set")]
    Missing(&'static str),
    #[error("{0} must be a whole number of seconds between 1 and 86400")]
    Seconds(&'static str),
    #[error(
        "OUTCOME_WEBHOOK_URL must be an https:// URL (http:// only to 127.0.0.1, for local runs)"
    )]
    Url,
    #[error("could not build the HTTP client: {0}")]
    Http(String),
}

impl Config {
    /// `None` when `OUTCOME_WEBHOOK_URL` is unset or empty: webhooks are off.
    pub fn from_env() -> Result<Option<Config>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Config>, ConfigError> {
        let get = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(url) = get("OUTCOME_WEBHOOK_URL") else {
            return Ok(None);
        };
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let seconds = |name: &'static str, default: u64| match get(name) {
            None => Ok(Duration::from_secs(default)),
            Some(v) => match v.parse::<u64>() {
                Ok(s @ 1..=86_400) => Ok(Duration::from_secs(s)),
                _ => Err(ConfigError::Seconds(name)),
            },
        };
        Ok(Some(Config {
            url: endpoint(&url)?,
            secret_id: required("OUTCOME_WEBHOOK_SECRET_ID")?,
            secret_max_age: seconds("OUTCOME_WEBHOOK_SECRET_MAX_AGE_SECONDS", 300)?,
            queue_url: required("OUTCOME_WEBHOOK_QUEUE_URL")?,
            dead_letter_queue_url: required("OUTCOME_WEBHOOK_DLQ_URL")?,
            rule_name: rule_name(&required("OUTCOME_WEBHOOK_RULE_NAME")?),
            event_bus: required("EVENT_BUS_NAME")?,
            timeout: seconds("OUTCOME_WEBHOOK_TIMEOUT_SECONDS", 10)?,
        }))
    }
}

fn rule_name(value: &str) -> String {
    value
        .rsplit_once('|')
        .map_or(value, |(_, rule)| rule)
        .to_owned()
}

/// HTTPS anywhere; plain HTTP only to 127.0.0.1, written out (a local receiver in tests and
/// `make run`), so a typo cannot send signed outcomes over the internet in clear.
fn endpoint(raw: &str) -> Result<url::Url, ConfigError> {
    let url = url::Url::parse(raw).map_err(|_| ConfigError::Url)?;
    let loopback = url.host() == Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST));
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err(ConfigError::Url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const FULL: &[(&str, &str)] = &[
        ("OUTCOME_WEBHOOK_URL", "https://hooks.example.com/idv"),
        ("OUTCOME_WEBHOOK_SECRET_ID", "stack/outcome-webhook"),
        ("OUTCOME_WEBHOOK_QUEUE_URL", "https://sqs/q"),
        ("OUTCOME_WEBHOOK_DLQ_URL", "https://sqs/dlq"),
        ("OUTCOME_WEBHOOK_RULE_NAME", "rule"),
        ("EVENT_BUS_NAME", "bus"),
    ];

    #[test]
    fn off_when_the_url_is_empty() {
        assert_eq!(Config::from_lookup(env(&[])), Ok(None));
        assert_eq!(
            Config::from_lookup(env(&[("OUTCOME_WEBHOOK_URL", " ")])),
            Ok(None)
        );
    }

    #[test]
    fn full_settings_with_defaults() {
        let c = Config::from_lookup(env(FULL)).unwrap().unwrap();
        assert_eq!(c.secret_max_age, Duration::from_secs(300));
        assert_eq!(c.timeout, Duration::from_secs(10));
        assert_eq!(c.rule_name, "rule");
        let mut piped = FULL.to_vec();
        piped.retain(|(k, _)| *k != "OUTCOME_WEBHOOK_RULE_NAME");
        piped.push((
            "OUTCOME_WEBHOOK_RULE_NAME",
            "bus|stack-OutcomeWebhookRule-1",
        ));
        let c = Config::from_lookup(env(&piped)).unwrap().unwrap();
        assert_eq!(c.rule_name, "stack-OutcomeWebhookRule-1");
    }

    #[test]
    fn a_missing_setting_is_named() {
        let partial: Vec<_> = FULL
            .iter()
            .copied()
            .filter(|(k, _)| *k != "OUTCOME_WEBHOOK_DLQ_URL")
            .collect();
        assert_eq!(
            Config::from_lookup(env(&partial)),
            Err(ConfigError::Missing("OUTCOME_WEBHOOK_DLQ_URL"))
        );
    }

    #[test]
    fn only_https_or_loopback_http() {
        for ok in [
            "https://hooks.example.com/x?token=1",
            "http://127.0.0.1:8080/hook",
        ] {
            assert!(endpoint(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://hooks.example.com/x",
            "http://localhost:8080/",
            "http://127.0.0.2/",
            "ftp://127.0.0.1/",
            "hooks.example.com",
        ] {
            assert_eq!(endpoint(bad), Err(ConfigError::Url), "{bad}");
        }
    }
}
