//! The error catalogue (issue #13): error answers name the invocation's Lambda request id, the
//! same one the request's log line carries, and Plaid refusals only the operator can fix get
//! their own codes, with Plaid's `error_code` in the log line. In the `logs` binary, one
//! capture test at a time: log capture with a thread-local subscriber is only reliable when no
//! other test registers the same call sites concurrently (see audit.rs).

use testkit::apigw::{Answer, ApiEvent};
use testkit::log_capture::capture_logs;
use testkit::stack::{OTHER_TEMPLATE, Stack};

/// A template the configuration allows but Plaid (the emulator) has never heard of.
const GONE_TEMPLATE: &str = "idvtmp_deleted_in_dashboard";

#[tokio::test]
async fn error_answers_name_their_request_id_and_operator_problems_their_cause() {
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let s = Stack::builder()
        .var(
            "IDV_TEMPLATE_IDS",
            format!("{OTHER_TEMPLATE},{GONE_TEMPLATE}"),
        )
        .start()
        .await;
    let wrong_keys = Stack::builder()
        .credentials("stack-client", "rotated-away-secret")
        .start()
        .await;

    let (logs, guard) = capture_logs();
    // A 404, handed over with a Lambda context as the runtime does.
    let not_found = s
        .call(
            ApiEvent::get_session("idv_nobody_has_this")
                .user("errors-user")
                .lambda_request_id("4b1e0c52-9d1a-4f3e-8a65-000000000404"),
        )
        .await;
    // The same without a Lambda context (handlers called directly): an empty id.
    let no_context = s
        .call(ApiEvent::get_session("idv_nobody_has_this").user("errors-user"))
        .await;
    // Plaid does not know the configured template.
    let template = s
        .call(
            ApiEvent::post_sessions()
                .user("errors-user")
                .lambda_request_id("4b1e0c52-9d1a-4f3e-8a65-000000000502")
                .json(&serde_json::json!({"template_id": GONE_TEMPLATE})),
        )
        .await;
    // Plaid refuses our keys.
    let keys = wrong_keys
        .call(
            ApiEvent::post_sessions()
                .user("errors-user")
                .lambda_request_id("4b1e0c52-9d1a-4f3e-8a65-0000000005a2"),
        )
        .await;
    drop(guard);
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();

    assert_eq!(not_found.status, 404, "{}", not_found.json);
    assert_eq!(not_found.error_code(), "session_not_found");
    assert_eq!(
        not_found.json["error"]["request_id"],
        "4b1e0c52-9d1a-4f3e-8a65-000000000404"
    );
    let line = request_line(&logs, "4b1e0c52-9d1a-4f3e-8a65-000000000404");
    assert!(line.contains("status=404"), "{line}");
    assert!(line.contains("session_not_found"), "{line}");

    assert_eq!(no_context.status, 404);
    assert_eq!(no_context.json["error"]["request_id"], "");

    assert_operator_error(
        &template,
        &logs,
        "4b1e0c52-9d1a-4f3e-8a65-000000000502",
        (
            "plaid_template_invalid",
            "IDV_TEMPLATE_ID / IDV_TEMPLATE_IDS",
        ),
        "INVALID_FIELD",
    );
    assert_operator_error(
        &keys,
        &logs,
        "4b1e0c52-9d1a-4f3e-8a65-0000000005a2",
        ("plaid_credentials_invalid", "PLAID_SECRET_ID"),
        "INVALID_API_KEYS",
    );
}

fn assert_operator_error(
    a: &Answer,
    logs: &str,
    request_id: &str,
    (code, config_key): (&str, &str),
    plaid: &str,
) {
    assert_eq!(a.status, 502, "{}", a.json);
    assert_eq!(a.error_code(), code, "{}", a.json);
    assert_eq!(a.json["error"]["request_id"], request_id);
    let message = a.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("operator"), "{message}");
    // Never Plaid's own words.
    assert!(!message.contains("does not match"), "{message}");
    assert!(!message.contains("invalid client_id"), "{message}");
    let line = request_line(logs, request_id);
    assert!(line.contains("ERROR"), "an error-level line: {line}");
    assert!(line.contains(code), "{line}");
    assert!(line.contains(plaid), "Plaid's error_code logged: {line}");
    assert!(line.contains("plaid_request_id=") && !line.contains("plaid_request_id=\"\""));
    // Errors say what, not where: the body names no setting; the line with its request id does.
    for key in [
        "PLAID_SECRET_ID",
        "PLAID_ENV",
        "IDV_TEMPLATE_ID",
        "TABLE_NAME",
    ] {
        assert!(!a.json.to_string().contains(key), "{key} in {}", a.json);
    }
    assert!(
        line.contains(&format!("config_key=\"{config_key}\"")),
        "{line}"
    );
}

/// The one request line of the invocation `request_id`.
fn request_line<'a>(logs: &'a str, request_id: &str) -> &'a str {
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(" request ") || l.contains(": request"))
        .filter(|l| {
            l.contains(&format!("aws_request_id=\"{request_id}\""))
                || l.contains(&format!("aws_request_id={request_id}"))
        })
        .collect();
    assert_eq!(lines.len(), 1, "one request line for {request_id}:\n{logs}");
    lines[0]
}
