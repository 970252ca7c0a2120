//! `make run`'s signed webhooks (issue #20, "with `OutcomeWebhookUrl` pointed at a small local
//! receiver"): on the local bus, a second rule feeds a second SQS queue (with its DLQ), a
//! `whsec_` signing secret sits in moto's Secrets Manager, `tests/webhooks/receiver.py` (the
//! `standardwebhooks` package, the spec authors' verifier) listens on a free loopback port, and
//! the sender (`shared::outcome_webhook::handler::Sender`) runs in process over the queue, as
//! Lambda's SQS poller would hand it the messages.

use crate::outcome_webhook::{PythonReceiver, WebhookStack};
use base64::Engine;
use serde_json::{Value, json};
use shared::outcome_webhook::handler::{Outcome, Sender};
use std::time::Duration;

/// One message the sender handled, and what the receiver said about the request it got.
#[derive(Debug)]
pub struct Delivery {
    /// The event's `detail`, as the queue held it.
    pub detail: Value,
    pub outcome: Outcome,
    /// The receiver's JSON line (`{"verified": true, ...}` or `{"verified": false, "error"}`);
    /// None when no request reached it (a message parked without a POST, or no answer in time).
    pub verdict: Option<Value>,
}

impl Delivery {
    /// `verified`, `rejected`, or `no request`.
    pub fn verdict_word(&self) -> &'static str {
        match self.verdict.as_ref().map(|v| v["verified"] == true) {
            Some(true) => "verified",
            Some(false) => "rejected",
            None => "no request",
        }
    }
}

pub struct LocalWebhooks {
    pub stack: WebhookStack,
    pub receiver: PythonReceiver,
    sender: Sender,
}

/// A fresh `whsec_` key: 32 random bytes.
pub fn new_secret() -> String {
    let bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl LocalWebhooks {
    /// Rule, queue, DLQ and secret named after `name` on the existing `bus`, the receiver, and
    /// the sender pointed at it. Call from a multi-thread runtime (the receiver's start blocks).
    pub async fn start(sdk: aws_config::SdkConfig, bus: &str, name: &str) -> LocalWebhooks {
        let secret = new_secret();
        let receiver = tokio::task::block_in_place(|| PythonReceiver::start(&secret));
        let stack =
            WebhookStack::attach(sdk, bus, name, &json!({ "current": secret }).to_string()).await;
        let sender = stack.sender(&receiver.url, 300);
        LocalWebhooks {
            stack,
            receiver,
            sender,
        }
    }

    /// One poll of the queue: each message handed to the sender, with the receiver's verdict.
    pub async fn poll_once(&self) -> Vec<Delivery> {
        let batch = self.stack.receive(10).await;
        if batch.records.is_empty() {
            return Vec::new();
        }
        let details: Vec<Value> = batch
            .records
            .iter()
            .map(|m| {
                let body: Value = serde_json::from_str(m.body.as_deref().unwrap_or_default())
                    .unwrap_or(Value::Null);
                body["detail"].clone()
            })
            .collect();
        let report = self.sender.handle_batch(batch).await;
        let mut out = Vec::with_capacity(details.len());
        for (detail, (_, outcome)) in details.into_iter().zip(report.outcomes) {
            // One request per delivery attempt, handled one at a time, so the receiver's lines
            // come in the batch's order; a message parked without a POST printed none.
            let posted = !matches!(
                outcome,
                Outcome::Parked | Outcome::Malformed | Outcome::Error
            );
            let verdict = if posted {
                tokio::task::block_in_place(|| self.receiver.try_next(Duration::from_secs(5)))
            } else {
                None
            };
            out.push(Delivery {
                detail,
                outcome,
                verdict,
            });
        }
        out
    }
}
