//! Outcome webhooks against the local stack: an EventBridge bus whose rule feeds an SQS queue
//! (with its DLQ) and the signing secret, all in moto through the real SDK; a scripted receiver
//! on 127.0.0.1 that records what it gets; and `tests/webhooks/receiver.py`, the customer's
//! receiver verifying with the `standardwebhooks` package from PyPI.

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{Value, json};
use shared::outcome_webhook::Config;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The outcome events' `source` and `detail-type` (`shared/DESIGN.md`).
pub const SOURCE: &str = "plaid-idv";
pub const DETAIL_TYPE: &str = shared::outcome_webhook::handler::DETAIL_TYPE;

/// One bus, rule, queue, DLQ and secret in moto, uniquely named per test.
pub struct WebhookStack {
    pub sqs: aws_sdk_sqs::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sdk: aws_config::SdkConfig,
    pub bus: String,
    pub rule: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub secret_id: String,
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{:08x}", std::process::id(), fastrand::u32(..))
}

impl WebhookStack {
    /// `secret_json` is the signing secret's value (`{"current": ..., "previous": ...}`).
    pub async fn start(secret_json: &str) -> WebhookStack {
        let sdk = crate::localstack::aws_config().await;
        let name = unique("outcome-webhook");
        let bus = format!("{name}-bus");
        aws_sdk_eventbridge::Client::new(&sdk)
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("CreateEventBus");
        WebhookStack::attach(sdk, &bus, &name, secret_json).await
    }

    /// On an existing `bus`: queue `name` (and `name-dlq`), rule `name-rule` feeding it, and
    /// secret `name/secret` holding `secret_json` (`make run`'s webhook walk-through).
    pub async fn attach(
        sdk: aws_config::SdkConfig,
        bus: &str,
        name: &str,
        secret_json: &str,
    ) -> WebhookStack {
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let events = aws_sdk_eventbridge::Client::new(&sdk);
        let secrets = aws_sdk_secretsmanager::Client::new(&sdk);
        let bus = bus.to_owned();
        let dlq_url = create_queue(&sqs, &format!("{name}-dlq")).await;
        let dlq_arn = queue_arn(&sqs, &dlq_url).await;
        let queue_url = create_queue(&sqs, name).await;
        let queue_arn = queue_arn(&sqs, &queue_url).await;
        let redrive = json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": shared::outcome_webhook::MAX_RECEIVE_COUNT.to_string(),
        });
        sqs.set_queue_attributes()
            .queue_url(&queue_url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
                redrive.to_string(),
            )
            .send()
            .await
            .expect("SetQueueAttributes");
        let rule = format!("{name}-rule");
        let pattern = json!({"source": [SOURCE], "detail-type": [DETAIL_TYPE]});
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(pattern.to_string())
            .send()
            .await
            .expect("PutRule");
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .expect("a target with id and arn"),
            )
            .send()
            .await
            .expect("PutTargets");
        let secret_id = secrets
            .create_secret()
            .name(format!("{name}/secret"))
            .secret_string(secret_json)
            .send()
            .await
            .expect("CreateSecret")
            .arn
            .expect("an ARN");
        WebhookStack {
            sqs,
            events,
            secrets,
            sdk,
            bus,
            rule,
            queue_url,
            dlq_url,
            secret_id,
        }
    }

    /// The sender's settings for an endpoint at `url`.
    pub fn config(&self, url: &str, secret_max_age_secs: u64) -> Config {
        let vars = self.env(url, secret_max_age_secs);
        Config::from_lookup(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| v.clone())
        })
        .expect("a valid config")
        .expect("webhooks on")
    }

    /// The same settings as the environment of a `publish-events` process (`lambda-bench`).
    pub fn env(&self, url: &str, secret_max_age_secs: u64) -> Vec<(&'static str, String)> {
        vec![
            ("OUTCOME_WEBHOOK_URL", url.to_owned()),
            ("OUTCOME_WEBHOOK_SECRET_ID", self.secret_id.clone()),
            (
                "OUTCOME_WEBHOOK_SECRET_MAX_AGE_SECONDS",
                secret_max_age_secs.to_string(),
            ),
            ("OUTCOME_WEBHOOK_QUEUE_URL", self.queue_url.clone()),
            ("OUTCOME_WEBHOOK_DLQ_URL", self.dlq_url.clone()),
            (
                "OUTCOME_WEBHOOK_RULE_NAME",
                format!("{}|{}", self.bus, self.rule),
            ),
            ("EVENT_BUS_NAME", self.bus.clone()),
            ("OUTCOME_WEBHOOK_TIMEOUT_SECONDS", "5".to_owned()),
        ]
    }

    pub fn sender(
        &self,
        url: &str,
        secret_max_age_secs: u64,
    ) -> shared::outcome_webhook::handler::Sender {
        shared::outcome_webhook::handler::Sender::new(
            self.config(url, secret_max_age_secs),
            &self.sdk,
        )
        .expect("a sender")
    }

    /// PutEvents one outcome event on the bus, as `publish-events` does.
    pub async fn publish(&self, detail: &Value) {
        let out = self
            .events
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(SOURCE)
                    .detail_type(DETAIL_TYPE)
                    .detail(detail.to_string())
                    .build(),
            )
            .send()
            .await
            .expect("PutEvents");
        assert_eq!(out.failed_entry_count, 0, "{out:?}");
    }

    /// What Lambda's SQS poller would hand the function: up to `max` visible messages of the
    /// queue, with their receive counts.
    pub async fn receive(&self, max: i32) -> SqsEvent {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(max)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .expect("ReceiveMessage");
        let mut event = SqsEvent::default();
        for m in out.messages.unwrap_or_default() {
            let mut message = SqsMessage::default();
            message.message_id = m.message_id.clone();
            message.receipt_handle = m.receipt_handle.clone();
            message.body = m.body.clone();
            message.event_source = Some("aws:sqs".into());
            for (k, v) in m.attributes.unwrap_or_default() {
                message.attributes.insert(k.as_str().to_owned(), v);
            }
            event.records.push(message);
        }
        event
    }

    /// Make a hidden message visible again now (the test's stand-in for waiting out a back-off).
    pub async fn show_again(&self, message: &SqsMessage) {
        self.sqs
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(message.receipt_handle.clone().expect("a receipt handle"))
            .visibility_timeout(0)
            .send()
            .await
            .expect("ChangeMessageVisibility");
    }

    /// The bodies waiting in the DLQ.
    pub async fn dead_letters(&self) -> Vec<String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.dlq_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("ReceiveMessage (DLQ)");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }

    /// `ENABLED` or `DISABLED`.
    pub async fn rule_state(&self) -> String {
        let out = self
            .events
            .describe_rule()
            .name(&self.rule)
            .event_bus_name(&self.bus)
            .send()
            .await
            .expect("DescribeRule");
        out.state.map(|s| s.as_str().to_owned()).unwrap_or_default()
    }

    pub async fn put_secret(&self, secret_json: &str) {
        self.secrets
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(secret_json)
            .send()
            .await
            .expect("PutSecretValue");
    }
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a queue URL")
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("a queue ARN")
}

/// An outcome event's `detail` in the contract's shape (`shared/DESIGN.md`, "Outcome events").
pub fn detail(session: &str, sequence: u64, status: &str, previous: Option<&str>) -> Value {
    json!({
        "schema_version": 1,
        "event_id": format!("{session}.{sequence}"),
        "session_id": session,
        "client_user_id": "user-webhook-test",
        "template_id": "idvtmp_webhook_test",
        "status": status,
        "previous_status": previous,
        "previous_attempt_id": null,
        "sequence": sequence,
        "occurred_at": "2026-12-06T10:00:00Z",
        "environment": "sandbox",
    })
}

/// One request the scripted receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// One scripted answer: a status and, optionally, a `Retry-After` value.
pub type ScriptedAnswer = (u16, Option<&'static str>);

/// A receiver on 127.0.0.1 that answers from a script (status, `Retry-After`) and then 204.
#[derive(Clone)]
pub struct ScriptedReceiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl ScriptedReceiver {
    pub async fn start(script: &[ScriptedAnswer]) -> ScriptedReceiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (r, s) = (Arc::clone(&received), Arc::clone(&script));
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
                let (r, s) = (Arc::clone(&r), Arc::clone(&s));
                async move {
                    r.lock().unwrap().push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    let (status, retry_after) =
                        s.lock().unwrap().pop_front().unwrap_or((204, None));
                    let mut response = axum::response::Response::new(axum::body::Body::empty());
                    *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                    if let Some(after) = retry_after {
                        response
                            .headers_mut()
                            .insert(http::header::RETRY_AFTER, after.parse().unwrap());
                    }
                    response
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        ScriptedReceiver { url, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// `tests/webhooks/receiver.py` under the workspace's `.venv` python (which has
/// `standardwebhooks`, tests/requirements.txt), verifying with `secret`. Killed on drop.
pub struct PythonReceiver {
    pub url: String,
    child: std::process::Child,
    // Behind a mutex so a receiver can be shared across tasks (`make run` polls from one).
    lines: Mutex<std::sync::mpsc::Receiver<String>>,
}

impl PythonReceiver {
    pub fn start(secret: &str) -> PythonReceiver {
        let root = crate::localstack::workspace_root();
        let python = root.join(".venv").join("bin").join("python");
        let mut child = std::process::Command::new(&python)
            .arg(root.join("tests").join("webhooks").join("receiver.py"))
            .env("OUTCOME_WEBHOOK_SECRET", secret)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "could not run {} (make venv; tests/requirements.txt has standardwebhooks): {e}",
                    python.display()
                )
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("receiver.py says where it listens (is standardwebhooks installed in .venv?)");
        let base = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        PythonReceiver {
            url: format!("{base}/hook"),
            child,
            lines: Mutex::new(lines),
        }
    }

    /// The next request's verdict, as the receiver printed it.
    /// The verdict of a request that may have come (None after `wait` with nothing printed).
    pub fn try_next(&self, wait: Duration) -> Option<Value> {
        let line = self.lines.lock().unwrap().recv_timeout(wait).ok()?;
        Some(serde_json::from_str(&line).unwrap_or(Value::String(line)))
    }

    pub fn next(&self) -> Value {
        let line = self
            .lines
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10))
            .expect("receiver.py reports each request");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }
}

impl Drop for PythonReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
