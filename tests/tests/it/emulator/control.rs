//! The control API: faults, the request log, reset.

use super::*;

#[tokio::test]
async fn faults_answer_plaid_errors_or_delay_and_the_request_log_counts_calls() {
    let emu = start().await;
    let id = create(&emu, "u-fault", json!({"user": leslie()})).await["id"].clone();
    let (status, _) = control(
        &emu,
        "POST",
        "/emulator/faults",
        Some(json!({"endpoint": IDV_GET, "status": 429, "count": 2})),
    )
    .await;
    assert_eq!(status, 200);
    for _ in 0..2 {
        let (status, v) = plaid(&emu, IDV_GET, json!({"identity_verification_id": id})).await;
        assert_eq!(status, 429);
        assert_plaid_error(&v, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT");
    }
    let (status, _) = plaid(&emu, IDV_GET, json!({"identity_verification_id": id})).await;
    assert_eq!(status, 200, "the fault is used up");

    emu.inject_fault(Fault {
        endpoint: "identity_verification/retry".into(),
        status: Some(500),
        count: 1,
        delay_ms: 0,
    })
    .unwrap();
    let (status, v) = plaid(
        &emu,
        IDV_RETRY,
        json!({"client_user_id": "u-fault", "template_id": TPL, "strategy": "reset"}),
    )
    .await;
    assert_eq!(status, 500);
    assert_plaid_error(&v, "API_ERROR", "INTERNAL_SERVER_ERROR");
    emu.inject_fault(Fault {
        endpoint: LINK_TOKEN_CREATE.into(),
        status: Some(503),
        count: 1,
        delay_ms: 0,
    })
    .unwrap();
    let (status, v) = plaid(&emu, LINK_TOKEN_CREATE, link_body("u-fault", TPL)).await;
    assert_eq!(status, 503);
    assert_eq!(v["error_type"], "API_ERROR");

    emu.inject_fault(Fault {
        endpoint: IDV_GET.into(),
        status: None,
        count: 1,
        delay_ms: 300,
    })
    .unwrap();
    let t = std::time::Instant::now();
    let (status, _) = plaid(&emu, IDV_GET, json!({"identity_verification_id": id})).await;
    assert_eq!(status, 200);
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));

    for bad in [
        json!({"endpoint": "/nope", "status": 500}),
        json!({"endpoint": IDV_GET, "status": 404}),
        json!({"endpoint": IDV_GET}),
    ] {
        let (status, _) = control(&emu, "POST", "/emulator/faults", Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}");
    }

    let log = emu.requests();
    assert_eq!(emu.request_count(IDV_GET), 4);
    assert_eq!(emu.request_count(IDV_RETRY), 1);
    let get = log.iter().find(|r| r.endpoint == IDV_GET).unwrap();
    assert_eq!(get.status, 429);
    assert_eq!(get.error_code.as_deref(), Some("RATE_LIMIT"));
    assert_eq!(get.identity_verification_id.as_deref(), id.as_str());
    let create_entry = &log[0];
    assert_eq!(
        (
            create_entry.client_user_id.as_deref(),
            create_entry.template_id.as_deref()
        ),
        (Some("u-fault"), Some(TPL))
    );
    let (_, served) = control(
        &emu,
        "GET",
        "/emulator/requests?endpoint=/identity_verification/retry",
        None,
    )
    .await;
    assert_eq!(served.as_array().unwrap().len(), 1);
    let (_, all) = control(&emu, "GET", "/emulator/requests", None).await;
    let text = all.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains("Knope") && !text.contains("1975-01-18"),
        "no secrets or PII: {text}"
    );
}

#[tokio::test]
async fn reset_forgets_everything_but_keys() {
    let emu = start().await;
    let id = create(&emu, "u-reset", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    emu.finish(&id, Some(testkit::emulator::FinishOutcome::Canceled), None)
        .await
        .unwrap();
    let kid = emu.current_key().kid;
    let (status, _) = control(&emu, "POST", "/emulator/reset", None).await;
    assert_eq!(status, 200);
    assert!(emu.outbox().is_empty());
    assert!(emu.requests().is_empty());
    let (status, _) = plaid(&emu, IDV_GET, json!({"identity_verification_id": id})).await;
    assert_eq!(status, 400);
    assert_eq!(emu.current_key().kid, kid);
    // After a reset the user can be created afresh.
    create(&emu, "u-reset", json!({})).await;
}

/// What a page on any site can send to loopback without a CORS preflight: a form POST
/// (urlencoded or multipart), `text/plain`, or no type at all. None of them may move a session,
/// reset the emulator or redirect its webhooks; the same calls as JSON still work.
#[tokio::test]
async fn control_posts_without_a_json_content_type_get_415_and_change_nothing() {
    let emu = start().await;
    let id = create(&emu, "u-csrf", json!({})).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let client = reqwest::Client::new();
    let finish = format!("{}/emulator/sessions/{id}/finish", emu.url());
    for content_type in [
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("text/plain"),
        Some("text/plain; charset=application/json"),
        None,
    ] {
        for path in [
            finish.clone(),
            format!("{}/emulator/reset", emu.url()),
            format!("{}/emulator/webhook_url", emu.url()),
        ] {
            let mut req = client.post(&path).body(r#"{"outcome":"success"}"#);
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 415, "{path} as {content_type:?}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unsupported_media_type", "{body}");
        }
    }
    let (_, session) = control(&emu, "GET", &format!("/emulator/sessions/{id}"), None).await;
    assert_eq!(session["status"], "active", "{session}");
    assert!(emu.outbox().is_empty(), "no webhook fired");
    // The same call as JSON (with parameters on the media type) goes through.
    let resp = client
        .post(&finish)
        .header("content-type", "Application/JSON; charset=utf-8")
        .body(r#"{"outcome":"success"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, session) = control(&emu, "GET", &format!("/emulator/sessions/{id}"), None).await;
    assert_eq!(session["status"], "success", "{session}");
}
