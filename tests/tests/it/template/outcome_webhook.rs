//! The outcome webhook resources (`shared/src/outcome_webhook`): all behind `OutcomeWebhookUrl`,
//! the queue's redrive sized by the code's retry schedule, the sender granted exactly what it
//! calls, and the 410 and DLQ alarmed on.

use super::checks::{resolve, timeout};
use super::*;
use shared::outcome_webhook::{MAX_RECEIVE_COUNT, deliver};

const SENDER: &str = "OutcomeWebhookFunction";
const QUEUE: &str = "OutcomeWebhookQueue";
const DLQ: &str = "OutcomeWebhookDeadLetterQueue";
const RULE: &str = "OutcomeWebhookRule";
const SECRET: &str = "OutcomeWebhookSecret";
const CONDITION: &str = "HasOutcomeWebhook";

/// The sender is the function whose environment names the webhook URL.
pub(super) fn is_sender(t: &Value, f: &Value) -> bool {
    env_of(t, f).contains_key("OUTCOME_WEBHOOK_URL")
}

/// Every SQS attribute named is a number (or absent: 0).
fn number(v: &Value) -> i64 {
    match v {
        Value::Number(n) => n.as_i64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

pub(super) fn check_outcome_webhook(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let res = &t["Resources"];
    if t["Parameters"]["OutcomeWebhookUrl"]["Default"] != "" {
        problems.push("OutcomeWebhookUrl must default to empty (webhooks off)".into());
    }
    let off = json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "OutcomeWebhookUrl"}, ""]}]});
    if t["Conditions"][CONDITION] != off {
        problems.push(format!("{CONDITION} is not OutcomeWebhookUrl != \"\""));
    }
    for (id, r) in resources(t) {
        if id.starts_with("OutcomeWebhook") && r["Condition"] != CONDITION {
            problems.push(format!("{id}: not under {CONDITION}"));
        }
    }

    // The redrive: the code's schedule, a DLQ, retention longer than the schedule, SSE.
    let queue = &res[QUEUE]["Properties"];
    let redrive = &queue["RedrivePolicy"];
    if number(&redrive["maxReceiveCount"]) != i64::from(MAX_RECEIVE_COUNT) {
        problems.push(format!(
            "{QUEUE}: maxReceiveCount {} is not the code's MAX_RECEIVE_COUNT {MAX_RECEIVE_COUNT}",
            redrive["maxReceiveCount"]
        ));
    }
    if redrive["deadLetterTargetArn"] != json!({"Fn::GetAtt": [DLQ, "Arn"]}) {
        problems.push(format!("{QUEUE}: the redrive does not go to {DLQ}"));
    }
    let schedule: u64 = (1..=MAX_RECEIVE_COUNT)
        .map(|n| deliver::backoff(n, None, 1.0).as_secs())
        .sum();
    if (number(&queue["MessageRetentionPeriod"]) as u64) <= schedule {
        problems.push(format!(
            "{QUEUE}: retention {} s does not outlast the retries ({schedule} s with full jitter)",
            queue["MessageRetentionPeriod"]
        ));
    }
    for q in [QUEUE, DLQ] {
        if res[q]["Properties"]["SqsManagedSseEnabled"] != true {
            problems.push(format!("{q}: not encrypted at rest"));
        }
    }

    // The sender: the shared binary, partial batch failures, a timeout that fits a batch and
    // a visibility that outlasts it, the settings its code reads.
    let Some(sender) = res.get(SENDER) else {
        problems.push(format!("no {SENDER}"));
        return problems;
    };
    if binary_of(sender) != Some("publish-events") {
        problems.push(format!("{SENDER}: not the publish-events binary"));
    }
    let esm = sender["Properties"]["Events"]
        .as_object()
        .and_then(|e| e.values().find(|e| e["Type"] == "SQS"))
        .cloned()
        .unwrap_or(Value::Null);
    if esm["Properties"]["Queue"] != json!({"Fn::GetAtt": [QUEUE, "Arn"]}) {
        problems.push(format!("{SENDER}: no SQS event from {QUEUE}"));
    }
    if !as_strings(&esm["Properties"]["FunctionResponseTypes"])
        .contains(&"ReportBatchItemFailures".to_owned())
    {
        problems.push(format!("{SENDER}: no ReportBatchItemFailures"));
    }
    let env = env_of(t, sender);
    let mut resolved: BTreeMap<String, String> = env
        .iter()
        .filter_map(|(k, v)| resolve(t, v).map(|v| (k.clone(), v)))
        .collect();
    resolved.insert(
        "OUTCOME_WEBHOOK_URL".into(),
        "https://hooks.example.com/idv".into(),
    );
    let config = match shared::outcome_webhook::Config::from_lookup(|k| resolved.get(k).cloned()) {
        Ok(Some(c)) => Some(c),
        other => {
            problems.push(format!(
                "{SENDER}: the code rejects its environment: {other:?}"
            ));
            None
        }
    };
    let batch = number(&esm["Properties"]["BatchSize"]).max(10) as u64;
    let secs = timeout(t, sender).unwrap_or(0) as u64;
    if let Some(c) = config
        && secs < batch * c.timeout.as_secs()
    {
        problems.push(format!(
            "{SENDER}: Timeout {secs} s is shorter than a batch of {batch} slow POSTs"
        ));
    }
    if (number(&queue["VisibilityTimeout"]) as u64) < secs {
        problems.push(format!(
            "{QUEUE}: visibility shorter than the sender's timeout"
        ));
    }
    for (var, want) in [
        ("OUTCOME_WEBHOOK_SECRET_ID", json!({"Ref": SECRET})),
        ("OUTCOME_WEBHOOK_QUEUE_URL", json!({"Ref": QUEUE})),
        ("OUTCOME_WEBHOOK_DLQ_URL", json!({"Ref": DLQ})),
        ("OUTCOME_WEBHOOK_RULE_NAME", json!({"Ref": RULE})),
    ] {
        if env.get(var) != Some(&want) {
            problems.push(format!("{SENDER}: {var} is not {want}"));
        }
    }

    // Grants: exactly what the code calls, each on its one resource.
    // Resources as their JSON text (Value has no order).
    let want: BTreeSet<(String, String)> = [
        ("secretsmanager:GetSecretValue", json!({"Ref": SECRET})),
        (
            "sqs:ChangeMessageVisibility",
            json!({"Fn::GetAtt": [QUEUE, "Arn"]}),
        ),
        ("sqs:SendMessage", json!({"Fn::GetAtt": [DLQ, "Arn"]})),
        ("events:DescribeRule", json!({"Fn::GetAtt": [RULE, "Arn"]})),
        ("events:DisableRule", json!({"Fn::GetAtt": [RULE, "Arn"]})),
    ]
    .into_iter()
    .map(|(a, r)| (a.to_owned(), r.to_string()))
    .collect();
    let mut got = BTreeSet::new();
    for policy in as_array(fn_prop(t, sender, "Policies")) {
        for stmt in statements(&policy) {
            for a in as_strings(&stmt["Action"]) {
                for r in resource_list(&stmt) {
                    got.insert((a.clone(), r.to_string()));
                }
            }
        }
    }
    if got != want {
        problems.push(format!("{SENDER}: grants {got:?}, expected {want:?}"));
    }

    // The queue takes messages from the rule alone; the rule matches the outcome events.
    let policy = resources_of_type(t, "AWS::SQS::QueuePolicy")
        .into_iter()
        .find(|(_, p)| p["Properties"]["Queues"] == json!([{"Ref": QUEUE}]));
    let from_rule = policy.is_some_and(|(_, p)| {
        statements(&p["Properties"]["PolicyDocument"])
            .iter()
            .all(|s| {
                s["Condition"]["ArnEquals"]["aws:SourceArn"] == json!({"Fn::GetAtt": [RULE, "Arn"]})
            })
    });
    if !from_rule {
        problems.push(format!("{QUEUE}: not sendable by {RULE} alone"));
    }
    let pattern = &res[RULE]["Properties"]["EventPattern"];
    if pattern["detail-type"] != json!([shared::outcome_webhook::handler::DETAIL_TYPE]) {
        problems.push(format!(
            "{RULE}: does not match the outcome events' detail-type"
        ));
    }

    // Alarms: the 410, and undelivered events in the DLQ.
    let alarms = resources_of_type(t, "AWS::CloudWatch::Alarm");
    let gone = alarms.iter().any(|(_, a)| {
        a["Properties"]["MetricName"] == "WebhookDeliveries"
            && a["Properties"]["Dimensions"] == json!([{"Name": "Outcome", "Value": "gone"}])
    });
    if !gone {
        problems.push("no alarm on WebhookDeliveries Outcome=gone".into());
    }
    let dlq_depth = alarms.iter().any(|(_, a)| {
        a["Properties"]["Namespace"] == "AWS/SQS"
            && a["Properties"]["Dimensions"][0]["Value"]
                == json!({"Fn::GetAtt": [DLQ, "QueueName"]})
    });
    if !dlq_depth {
        problems.push(format!("no alarm on {DLQ}'s depth"));
    }
    problems
}

#[test]
fn outcome_webhooks_are_optional_retried_for_a_day_and_least_privilege() {
    let problems = check_outcome_webhook(&load_template());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn catches_a_short_redrive_a_wide_grant_and_a_missing_alarm() {
    let caught = |edit: &dyn Fn(&mut Value), needle: &str| {
        let mut t = load_template();
        edit(&mut t);
        let problems = check_outcome_webhook(&t);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected {needle:?} in {problems:#?}"
        );
    };
    caught(
        &|t| t["Resources"][QUEUE]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = json!(5),
        "maxReceiveCount",
    );
    caught(
        &|t| t["Resources"][QUEUE]["Properties"]["MessageRetentionPeriod"] = json!(86400),
        "does not outlast",
    );
    caught(
        &|t| {
            let stmts = &mut t["Resources"][SENDER]["Properties"]["Policies"][0]["Statement"];
            for s in stmts.as_array_mut().unwrap() {
                if s["Sid"] == "EndpointGone" {
                    s["Resource"] = json!("*");
                }
            }
        },
        "grants",
    );
    caught(
        &|t| {
            t["Resources"]
                .as_object_mut()
                .unwrap()
                .remove("OutcomeWebhookGoneAlarm");
        },
        "Outcome=gone",
    );
    caught(
        &|t| {
            t["Resources"][SENDER]["Properties"]["Timeout"] = json!(30);
        },
        "slow POSTs",
    );
    caught(
        &|t| {
            t["Resources"][DLQ]
                .as_object_mut()
                .unwrap()
                .remove("Condition");
        },
        "not under",
    );
}
