//! `/identity_verification/retry`: the strategies and their refusals.

use super::*;

#[tokio::test]
async fn retry_strategies_and_their_refusals() {
    let emu = start().await;
    let retry = |body: Value| {
        let emu = &emu;
        async move { plaid(emu, IDV_RETRY, body).await }
    };

    // No session yet: nothing to retry.
    let (status, v) =
        retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "reset"})).await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("INVALID_FIELD"))
    );

    let first = create(
        &emu,
        "u-r",
        json!({"user": {"name": {"given_name": "Ann", "family_name": "Perkins"}}}),
    )
    .await;
    let first_id = first["id"].as_str().unwrap();

    // infer is refused while the latest session is active.
    let (status, v) =
        retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "infer"})).await;
    assert_eq!(status, 400);
    assert!(
        v["error_message"].as_str().unwrap().contains("active"),
        "{v}"
    );

    // KYC fails (not the test identity): infer → incomplete: passed steps skipped, KYC again.
    emu.finish(first_id, None, None).await.unwrap();
    let (status, second) =
        retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "infer"})).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["id"], first["id"]);
    assert_eq!(second["previous_attempt_id"], first["id"]);
    assert_eq!(second["client_user_id"], "u-r");
    assert_eq!(second["status"], "active");
    assert_eq!(second["steps"]["accept_tos"], "skipped");
    assert_eq!(second["steps"]["verify_sms"], "skipped");
    assert_eq!(second["steps"]["kyc_check"], "active");
    assert_eq!(second["kyc_check"], Value::Null);
    assert_eq!(
        second["user"]["name"]["family_name"], "Perkins",
        "identity data carried over"
    );

    // reset: everything again, from the first step to run; previous = the latest session.
    let (status, third) = retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "reset", "is_shareable": true})).await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(third["previous_attempt_id"], second["id"]);
    assert_eq!(third["steps"]["verify_sms"], "active");
    assert_eq!(third["steps"]["kyc_check"], "waiting_for_prerequisite");
    assert!(
        third["shareable_url"]
            .as_str()
            .unwrap()
            .contains(third["id"].as_str().unwrap())
    );

    // custom: steps required, all four booleans, only with custom.
    let (status, v) =
        retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "custom"})).await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("MISSING_FIELDS"))
    );
    let (status, v) = retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "custom", "steps": {"verify_sms": true, "kyc_check": true, "selfie_check": false}})).await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("MISSING_FIELDS"))
    );
    assert!(
        v["error_message"]
            .as_str()
            .unwrap()
            .contains("steps.documentary_verification")
    );
    let all = json!({"verify_sms": false, "kyc_check": true, "documentary_verification": false, "selfie_check": true});
    let (status, v) = retry(
        json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "reset", "steps": all}),
    )
    .await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("INVALID_FIELD"))
    );
    let (status, v) =
        retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "sometimes"})).await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("INVALID_FIELD"))
    );
    let (status, fourth) = retry(
        json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "custom", "steps": all}),
    )
    .await;
    assert_eq!(status, 200, "{fourth}");
    assert_eq!(fourth["previous_attempt_id"], third["id"]);
    assert_eq!(fourth["steps"]["verify_sms"], "skipped");
    assert_eq!(fourth["steps"]["documentary_verification"], "skipped");
    assert_eq!(fourth["steps"]["kyc_check"], "active");
    assert_eq!(fourth["steps"]["selfie_check"], "waiting_for_prerequisite");

    // incomplete is refused when the failing step is risk_check (or watchlist_screening).
    let fourth_id = fourth["id"].as_str().unwrap();
    emu.finish(
        fourth_id,
        Some(testkit::emulator::FinishOutcome::Failed),
        Some(Step::RiskCheck),
    )
    .await
    .unwrap();
    let (status, v) =
        retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "incomplete"})).await;
    assert_eq!(status, 400);
    assert!(
        v["error_message"].as_str().unwrap().contains("risk_check"),
        "{v}"
    );
    // infer on that failed session means incomplete, so it is refused too; reset still works.
    let (status, _) =
        retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "infer"})).await;
    assert_eq!(status, 400);
    let (status, _) =
        retry(json!({"client_user_id": "u-r", "template_id": TPL, "strategy": "reset"})).await;
    assert_eq!(status, 200);

    // Each successful retry fired RETRIED for the new session, in order.
    let retried: Vec<String> = emu
        .outbox()
        .iter()
        .filter(|r| r.webhook_code == "RETRIED")
        .map(|r| r.identity_verification_id.clone())
        .collect();
    assert_eq!(retried.len(), 4, "{retried:?}");
    assert_eq!(retried[0], second["id"].as_str().unwrap());
    assert_eq!(retried[2], fourth_id);
}
