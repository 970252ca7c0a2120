//! The EMF metrics (issue #13): a create, a webhook and a reconcile run each write the metrics
//! the dashboard reads, with the code's names and dimensions, and no identifier among the
//! dimension values. The documents are parsed as CloudWatch would read them.
//!
//! Every test here takes the process's metrics recorder (`emf::Capture`), one at a time, and
//! takes its turn with the binary's other tests (`ONE_AT_A_TIME`), whose invocations would
//! otherwise record into a capture.

use serde_json::Value;
use shared::emf::{self, Capture};
use shared::logging::Invocation;
use std::collections::BTreeMap;
use testkit::apigw::{Answer, ApiEvent};
use testkit::emulator::FinishOutcome;
use testkit::stack::{OTHER_TEMPLATE, Stack, TEMPLATE};

/// One metric value as CloudWatch reads it from a document.
#[derive(Debug, Clone)]
struct Datum {
    name: String,
    unit: Option<String>,
    dimensions: BTreeMap<String, String>,
    value: Value,
    /// The document's properties the serve loop adds.
    request_id: Value,
}

/// Parse EMF lines the way CloudWatch does, checking the namespace and that each metric's
/// dimensions are exactly those `emf::ALL` declares (the ones the dashboard is checked against).
fn parse(text: &str, namespace: &str) -> Vec<Datum> {
    let mut out = Vec::new();
    for line in text.lines() {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(doc["_aws"]["Timestamp"].is_u64(), "{line}");
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().expect(line) {
            assert_eq!(directive["Namespace"], namespace, "{line}");
            let sets = directive["Dimensions"].as_array().expect(line);
            assert_eq!(sets.len(), 1, "one dimension set per document: {line}");
            let dims: BTreeMap<String, String> = sets[0]
                .as_array()
                .expect(line)
                .iter()
                .map(|d| {
                    let d = d.as_str().expect(line);
                    let v = doc[d]
                        .as_str()
                        .unwrap_or_else(|| panic!("{d} unset: {line}"));
                    (d.to_owned(), v.to_owned())
                })
                .collect();
            for m in directive["Metrics"].as_array().expect(line) {
                let name = m["Name"].as_str().expect(line).to_owned();
                let def = emf::ALL
                    .iter()
                    .find(|d| d.name == name)
                    .unwrap_or_else(|| panic!("{name} is not in emf::ALL: {line}"));
                let mut declared: Vec<&str> = def.dimensions.to_vec();
                declared.sort_unstable();
                let written: Vec<&str> = dims.keys().map(String::as_str).collect();
                assert_eq!(written, declared, "{name}: {line}");
                let unit = m["Unit"].as_str().map(str::to_owned);
                assert_eq!(unit.as_deref(), Some(def.unit), "{name}: {line}");
                out.push(Datum {
                    value: doc[&name].clone(),
                    name,
                    unit,
                    dimensions: dims.clone(),
                    request_id: doc["aws_request_id"].clone(),
                });
            }
        }
    }
    out
}

/// No dimension value holds any of `ids` (user, session, template, request ids).
fn assert_no_identifier(data: &[Datum], ids: &[&str]) {
    for d in data {
        for (k, v) in &d.dimensions {
            for id in ids.iter().filter(|id| !id.is_empty()) {
                assert!(!v.contains(id), "{} dimension {k}={v} holds {id}", d.name);
            }
        }
    }
}

/// The sum of `name`'s values with exactly these dimension values.
fn total(data: &[Datum], name: &str, dims: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = dims
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    data.iter()
        .filter(|d| d.name == name && d.dimensions == want)
        .map(|d| match &d.value {
            Value::Array(values) => values.len() as f64,
            v => v.as_f64().unwrap_or_else(|| panic!("{name}: {v}")),
        })
        .sum()
}

fn invocation(request_id: &str, function: &str, cold_start: bool) -> Invocation {
    Invocation {
        aws_request_id: request_id.to_owned(),
        xray_trace_id: Some("Root=1-67a0b1c2-0123456789abcdef01234567;Sampled=1".into()),
        function: function.to_owned(),
        cold_start,
    }
}

/// Flush what the last invocation recorded, as the serve loop does, and parse it.
fn flush(capture: &Capture, s: &Stack, inv: &Invocation) -> Vec<Datum> {
    let data = parse(&capture.flush(inv), &s.ctx.config.metrics_namespace);
    for d in &data {
        assert_eq!(d.request_id, inv.aws_request_id.as_str(), "{d:?}");
    }
    data
}

/// One `POST /sessions` invocation as the serve loop runs it: the answer and its metrics.
async fn start(
    s: &Stack,
    capture: &Capture,
    user: &str,
    request_id: &str,
    body: Option<Value>,
    cold_start: bool,
) -> (Answer, Vec<Datum>) {
    let mut event = ApiEvent::post_sessions()
        .user(user)
        .lambda_request_id(request_id);
    if let Some(body) = body {
        event = event.json(&body);
    }
    let answer = s.call(event).await;
    let data = flush(
        capture,
        s,
        &invocation(request_id, "create-session", cold_start),
    );
    (answer, data)
}

const CREATE_ID: &str = "0c1d2e3f-0000-4000-8000-00000000c0de";

#[tokio::test]
async fn a_create_counts_its_start_and_its_plaid_calls() {
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let capture = Capture::start(&s.ctx.config.metrics_namespace);
    let user = "metrics-create-user";

    let (created, data) = start(&s, &capture, user, CREATE_ID, None, true).await;
    assert_eq!(created.status, 201, "{}", created.json);
    let session = created.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        total(&data, "Starts", &[("Outcome", "created")]),
        1.0,
        "{data:#?}"
    );
    assert_eq!(
        total(
            &data,
            "PlaidCalls",
            &[("Endpoint", "identity_verification/create")]
        ),
        1.0,
        "{data:#?}"
    );
    let latency = data
        .iter()
        .find(|d| d.name == "PlaidLatency")
        .expect("a latency");
    assert_eq!(latency.unit.as_deref(), Some("Milliseconds"));
    assert_eq!(
        total(&data, "ColdStarts", &[("Function", "create-session")]),
        1.0
    );
    assert_no_identifier(&data, &[user, &session, TEMPLATE, CREATE_ID]);

    // The same user again: the usable session is resumed; no cold start the second time.
    let resumed_id = "0c1d2e3f-0000-4000-8000-0000000c0de2";
    let (resumed, data) = start(&s, &capture, user, resumed_id, None, false).await;
    assert_eq!(resumed.status, 200, "{}", resumed.json);
    assert_eq!(
        total(&data, "Starts", &[("Outcome", "resumed")]),
        1.0,
        "{data:#?}"
    );
    assert!(data.iter().all(|d| d.name != "ColdStarts"), "{data:#?}");

    // A refused start names its reason class, the answer's code.
    let refused_id = "0c1d2e3f-0000-4000-8000-0000000c0de3";
    let body = serde_json::json!({"template_id": "idvtmp_not_configured"});
    let (refused, data) = start(&s, &capture, user, refused_id, Some(body), false).await;
    assert_eq!(refused.error_code(), "template_not_allowed");
    assert_eq!(
        total(&data, "Starts", &[("Outcome", "refused")]),
        1.0,
        "{data:#?}"
    );
    assert_eq!(
        total(
            &data,
            "StartsRefused",
            &[("Reason", "template_not_allowed")]
        ),
        1.0,
        "{data:#?}"
    );
    assert_no_identifier(
        &data,
        &[
            user,
            &session,
            "idvtmp_not_configured",
            OTHER_TEMPLATE,
            refused_id,
        ],
    );
}

#[tokio::test]
async fn a_webhook_counts_its_outcome_the_finished_verification_and_rejections() {
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let capture = Capture::start(&s.ctx.config.metrics_namespace);
    let user = "metrics-webhook-user";
    let session = s.start_session(user).await;
    let _ = capture.flush(&invocation("setup", "create-session", false));

    s.emulator
        .finish(&session, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    let hooks = s.take_new_webhooks();
    assert!(!hooks.is_empty());
    let mut data = Vec::new();
    for (i, hook) in hooks.iter().enumerate() {
        let id = format!("0c1d2e3f-0000-4000-8000-{i:012x}");
        let a = s
            .call(ApiEvent::webhook(&hook.headers, hook.body.as_bytes()).lambda_request_id(&id))
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
        data.extend(flush(&capture, &s, &invocation(&id, "webhook", i == 0)));
    }
    assert_eq!(
        total(&data, "Webhooks", &[("Outcome", "processed")]),
        hooks.len() as f64,
        "{data:#?}"
    );
    assert_eq!(
        total(&data, "VerificationsFinished", &[("Status", "success")]),
        1.0,
        "once, however many webhooks say so: {data:#?}"
    );
    assert!(
        total(
            &data,
            "PlaidCalls",
            &[("Endpoint", "identity_verification/get")]
        ) >= 1.0,
        "{data:#?}"
    );

    // The same delivery with its body changed: refused, with the reason class.
    let forged_id = "0c1d2e3f-0000-4000-8000-0000000f0f0f";
    let forged_body = hooks[0]
        .body
        .replace("IDENTITY_VERIFICATION", "IDENTITY_VERIFICATIOM");
    let a = s
        .call(
            ApiEvent::webhook(&hooks[0].headers, forged_body.as_bytes())
                .lambda_request_id(forged_id),
        )
        .await;
    assert_eq!(a.status, 401, "{}", a.json);
    let rejected = flush(&capture, &s, &invocation(forged_id, "webhook", false));
    assert_eq!(
        total(&rejected, "Webhooks", &[("Outcome", "rejected")]),
        1.0
    );
    assert_eq!(
        total(
            &rejected,
            "WebhooksRejected",
            &[("Reason", "body_mismatch")]
        ),
        1.0,
        "{rejected:#?}"
    );
    data.extend(rejected);
    assert_no_identifier(&data, &[user, &session, TEMPLATE, forged_id, "0c1d2e3f"]);
}

#[tokio::test]
async fn a_reconcile_run_counts_refreshed_still_open_and_expired_sessions() {
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let capture = Capture::start(&s.ctx.config.metrics_namespace);
    let finished = s.start_session("metrics-reconcile-a").await;
    let open = s.start_session("metrics-reconcile-b").await;
    s.emulator
        .finish(&finished, Some(FinishOutcome::Failed), None)
        .await
        .unwrap();
    s.take_new_webhooks(); // lost
    let _ = capture.flush(&invocation("setup", "create-session", false));

    s.clock.advance(chrono::Duration::seconds(901));
    let run_id = "0c1d2e3f-0000-4000-8000-00000000a11a";
    let report = s.reconcile().await;
    assert_eq!((report.examined, report.changed), (2, 1), "{report:?}");
    let data = flush(&capture, &s, &invocation(run_id, "reconcile", true));
    assert_eq!(total(&data, "ReconcileRefreshed", &[]), 2.0, "{data:#?}");
    assert_eq!(total(&data, "ReconcileStillOpen", &[]), 1.0, "{data:#?}");
    assert_eq!(
        total(&data, "ReconcileExpired", &[]),
        0.0,
        "written at 0: {data:#?}"
    );
    assert_eq!(
        total(&data, "VerificationsFinished", &[("Status", "failed")]),
        1.0,
        "{data:#?}"
    );
    assert_eq!(
        total(&data, "ColdStarts", &[("Function", "reconcile")]),
        1.0
    );
    assert_no_identifier(
        &data,
        &["metrics-reconcile", &finished, &open, TEMPLATE, run_id],
    );

    // Past the app's expiry window: the open one is taken out of the open set.
    s.clock.advance(chrono::Duration::seconds(172_801));
    let run_id = "0c1d2e3f-0000-4000-8000-00000000a11b";
    s.reconcile().await;
    let data = flush(&capture, &s, &invocation(run_id, "reconcile", false));
    assert_eq!(total(&data, "ReconcileExpired", &[]), 1.0, "{data:#?}");
    assert_eq!(total(&data, "ReconcileStillOpen", &[]), 0.0, "{data:#?}");
}

/// EMF takes at most 100 values per metric in a document: a reconcile run may make up to 1000
/// Plaid calls, so the latencies past the 100th are left out and the counts stay exact.
#[tokio::test]
async fn a_long_run_keeps_its_latencies_within_emfs_limit_and_its_counts_exact() {
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let capture = Capture::start(&s.ctx.config.metrics_namespace);
    for _ in 0..150 {
        emf::plaid_attempt(
            "identity_verification/get",
            std::time::Duration::from_millis(20),
            None::<&shared::plaid::PlaidError>,
        );
    }
    let data = flush(&capture, &s, &invocation("long-run", "reconcile", false));
    let get = [("Endpoint", "identity_verification/get")];
    assert_eq!(total(&data, "PlaidCalls", &get), 150.0, "{data:#?}");
    assert_eq!(total(&data, "PlaidLatency", &get), 100.0, "{data:#?}");
    // The next invocation starts afresh.
    emf::plaid_attempt(
        "identity_verification/get",
        std::time::Duration::ZERO,
        None::<&shared::plaid::PlaidError>,
    );
    let data = flush(&capture, &s, &invocation("next", "reconcile", false));
    assert_eq!(total(&data, "PlaidLatency", &get), 1.0, "{data:#?}");
}

/// Outcome webhooks: each message counts once, by how it ended, and a 410 shows as `gone` (the
/// alarm `OutcomeWebhookGoneAlarm` watches it), with no event or session id in a dimension.
#[tokio::test]
async fn outcome_webhooks_count_each_message_by_outcome() {
    use testkit::outcome_webhook::{ScriptedReceiver, WebhookStack, detail};
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let namespace = shared::config::namespace(None);
    let capture = Capture::start(&namespace);
    let secret = serde_json::json!({"current": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
    let stack = WebhookStack::start(&secret.to_string()).await;
    let receiver = ScriptedReceiver::start(&[(204, None), (410, None)]).await;
    let sender = stack.sender(&receiver.url, 300);
    stack
        .publish(&detail("idv_metrics1", 1, "active", None))
        .await;
    stack
        .publish(&detail("idv_metrics2", 1, "active", None))
        .await;

    sender.handle_batch(stack.receive(10).await).await;
    let inv = invocation("req-outcome-webhook", "publish-events", false);
    let data = parse(&capture.flush(&inv), &namespace);
    assert_eq!(
        total(&data, "WebhookDeliveries", &[("Outcome", "delivered")]),
        1.0,
        "{data:#?}"
    );
    assert_eq!(
        total(&data, "WebhookDeliveries", &[("Outcome", "gone")]),
        1.0,
        "{data:#?}"
    );
    assert_no_identifier(
        &data,
        &["idv_metrics1", "idv_metrics2", "user-webhook-test"],
    );
}
