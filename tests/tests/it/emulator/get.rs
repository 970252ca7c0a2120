//! `/identity_verification/get`: sessions finished each way and read back, templates without
//! some steps, answers our Plaid types parse.

use super::*;

async fn finished(emu: &RunningEmulator, cuid: &str, user: Value) -> Value {
    let s = create(emu, cuid, json!({"user": user})).await;
    let id = s["id"].as_str().unwrap();
    emu.finish(id, None, None).await.expect("finish")["session"].clone()
}

#[tokio::test]
async fn test_identity_passes_and_other_data_fails_kyc() {
    let emu = start().await;
    let pass = finished(&emu, "u-pass", leslie()).await;
    assert_eq!(pass["status"], "success");
    assert!(pass["completed_at"].is_string());
    for step in [
        "accept_tos",
        "verify_sms",
        "kyc_check",
        "documentary_verification",
        "selfie_check",
        "risk_check",
        "watchlist_screening",
    ] {
        assert_eq!(pass["steps"][step], "success", "{step}");
    }
    assert_eq!(pass["kyc_check"]["status"], "success");
    assert_eq!(pass["kyc_check"]["name"]["summary"], "match");
    assert_eq!(
        pass["verify_sms"]["verifications"][0]["phone_number"],
        "+12345678909"
    );
    assert_eq!(
        pass["documentary_verification"]["documents"][0]["status"],
        "success"
    );
    assert_eq!(
        pass["selfie_check"]["selfies"][0]["analysis"]["liveness_check"],
        "success"
    );
    assert_eq!(pass["risk_check"]["status"], "success");
    assert!(
        pass["watchlist_screening_id"]
            .as_str()
            .unwrap()
            .starts_with("scr_")
    );

    // Data typed in Link that is not the test identity fails the data source and document checks.
    let s = create(&emu, "u-other", json!({})).await;
    let id = s["id"].as_str().unwrap();
    let mut ann = leslie();
    ann["name"] = json!({"given_name": "Ann", "family_name": "Perkins"});
    emu.submit_user(id, ann).unwrap();
    let bad = emu
        .submit_user(id, json!({"phone_number": "12"}))
        .unwrap_err();
    assert!(bad.to_string().contains("user.phone_number"));
    let v = emu.finish(id, None, None).await.unwrap()["session"].clone();
    assert_eq!(v["status"], "failed");
    assert_eq!(v["steps"]["kyc_check"], "failed");
    assert_eq!(v["kyc_check"]["name"]["summary"], "no_match");
    assert_eq!(v["kyc_check"]["date_of_birth"]["summary"], "match");
    assert_eq!(v["steps"]["documentary_verification"], "failed");
    assert_eq!(
        v["documentary_verification"]["documents"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "three attempts"
    );
    assert_eq!(v["steps"]["selfie_check"], "waiting_for_prerequisite");
    assert_eq!(v["selfie_check"], Value::Null);

    // A wrong SMS code fails verify_sms.
    let s = create(
        &emu,
        "u-sms",
        json!({"gave_consent": true, "user": leslie()}),
    )
    .await;
    let id = s["id"].as_str().unwrap();
    let v = emu
        .complete_step(
            id,
            StepRequest {
                step: Some(Step::VerifySms),
                outcome: None,
                code: Some("22222".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(v["session"]["status"], "failed");
    assert_eq!(v["session"]["verify_sms"]["status"], "failed");
    // Completing a step that is not the active one is refused.
    let s = create(&emu, "u-order", json!({})).await;
    let err = emu
        .complete_step(
            s["id"].as_str().unwrap(),
            StepRequest {
                step: Some(Step::KycCheck),
                outcome: Some(Outcome::Success),
                code: None,
            },
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("accept_tos"), "{err}");
}

#[tokio::test]
async fn pending_review_resolves_later() {
    let emu = start().await;
    let s = create(&emu, "u-review", json!({"user": leslie()})).await;
    let id = s["id"].as_str().unwrap();
    let (status, v) = control(
        &emu,
        "POST",
        &format!("/emulator/sessions/{id}/finish"),
        Some(json!({"outcome": "pending_review"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["status"], "pending_review");
    assert_eq!(
        v["session"]["steps"]["watchlist_screening"],
        "pending_review"
    );
    assert_eq!(v["session"]["completed_at"], Value::Null);
    let (status, v) = control(
        &emu,
        "POST",
        &format!("/emulator/sessions/{id}/review"),
        Some(json!({"outcome": "failed"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["status"], "failed");
    let codes: Vec<String> = emu
        .outbox()
        .iter()
        .map(|r| r.webhook_code.clone())
        .collect();
    assert_eq!(
        codes.iter().filter(|c| *c == "STATUS_UPDATED").count(),
        2,
        "{codes:?}"
    );
    let (status, _) = control(
        &emu,
        "POST",
        &format!("/emulator/sessions/{id}/review"),
        Some(json!({"outcome": "success"})),
    )
    .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn templates_without_steps_mark_them_not_applicable() {
    let emu = start().await;
    emu.add_template(Template::new("idvtmp_kyc_only").with_steps(TemplateSteps {
        verify_sms: false,
        kyc_check: true,
        documentary_verification: false,
        selfie_check: false,
        risk_check: false,
        watchlist_screening: false,
    }));
    let (status, s) = plaid(
        &emu,
        IDV_CREATE,
        json!({"client_user_id": "u-kyc", "template_id": "idvtmp_kyc_only", "gave_consent": true, "is_shareable": false, "user": leslie()}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(s["steps"]["kyc_check"], "active");
    assert_eq!(s["steps"]["selfie_check"], "not_applicable");
    let v = emu
        .finish(s["id"].as_str().unwrap(), None, None)
        .await
        .unwrap();
    assert_eq!(v["session"]["status"], "success");
    assert_eq!(
        v["webhooks"].as_array().unwrap().len(),
        2,
        "one step, one status"
    );
    // Without a document fallback a failed KYC fails the session.
    let mut other = leslie();
    other["date_of_birth"] = json!("1980-01-01");
    let (_, s) = plaid(
        &emu,
        IDV_CREATE,
        json!({"client_user_id": "u-kyc2", "template_id": "idvtmp_kyc_only", "gave_consent": true, "is_shareable": false, "user": other}),
    )
    .await;
    let v = emu
        .finish(s["id"].as_str().unwrap(), None, None)
        .await
        .unwrap();
    assert_eq!(v["session"]["status"], "failed");
    assert_eq!(
        v["session"]["kyc_check"]["date_of_birth"]["summary"],
        "no_match"
    );
}

/// The emulator and the project's Plaid wire types must agree: every answer parses into the
/// types `shared` uses against real Plaid.
#[tokio::test]
async fn responses_parse_into_the_shared_plaid_types() {
    use shared::plaid::types as t;
    let emu = Emulator::builder()
        .client_id(CID)
        .secret(SECRET)
        .templates([Template::new(TPL)])
        .environment(testkit::emulator::Environment::Production)
        .start()
        .await
        .unwrap();
    let s = create(
        &emu,
        "u-types",
        json!({"is_shareable": true, "user": leslie()}),
    )
    .await;
    let parsed: t::IdentityVerification =
        serde_json::from_value(s.clone()).expect("create response");
    assert_eq!(parsed.status, t::IdvStatus::Active);
    assert_eq!(parsed.steps.accept_tos, t::StepStatus::Active);
    let id = s["id"].as_str().unwrap();
    emu.finish(id, None, None).await.unwrap();
    let (_, got) = plaid(&emu, IDV_GET, json!({"identity_verification_id": id})).await;
    let parsed: t::IdentityVerification = serde_json::from_value(got).expect("get response");
    assert_eq!(parsed.status, t::IdvStatus::Success);
    assert!(parsed.completed_at.is_some() && parsed.kyc_check.is_some());
    let (_, retried) = plaid(
        &emu,
        IDV_RETRY,
        json!({"client_user_id": "u-types", "template_id": TPL, "strategy": "reset"}),
    )
    .await;
    let retried: t::IdentityVerification = serde_json::from_value(retried).expect("retry response");
    assert_eq!(
        retried.previous_attempt_id.as_ref().map(|p| p.as_str()),
        Some(id)
    );
    let (_, list) = plaid(
        &emu,
        IDV_LIST,
        json!({"template_id": TPL, "client_user_id": "u-types"}),
    )
    .await;
    let list: t::ListResponse = serde_json::from_value(list).expect("list response");
    assert_eq!(list.identity_verifications.len(), 2);
    assert_eq!(list.next_cursor, None);
    let (_, token) = plaid(&emu, LINK_TOKEN_CREATE, link_body("u-types", TPL)).await;
    let token: t::LinkTokenCreateResponse =
        serde_json::from_value(token).expect("link token response");
    assert!(token.link_token.starts_with("link-production-"));
    let (_, key) = plaid(
        &emu,
        WEBHOOK_KEY_GET,
        json!({"key_id": emu.current_key().kid}),
    )
    .await;
    let key: t::WebhookVerificationKeyGetResponse =
        serde_json::from_value(key).expect("key response");
    assert_eq!(key.key.alg, "ES256");
    let (_, err) = plaid(
        &emu,
        IDV_GET,
        json!({"identity_verification_id": "idv_none"}),
    )
    .await;
    let err: t::PlaidErrorBody = serde_json::from_value(err).expect("error body");
    assert_eq!(err.error_code, "INVALID_FIELD");
    for r in emu.outbox() {
        let hook: t::IdvWebhook = serde_json::from_str(&r.body).expect("webhook body");
        assert_eq!(hook.environment, t::PlaidEnvironment::Production);
        assert_ne!(hook.webhook_code, t::WebhookCode::Unknown);
    }
    assert_eq!(emu.outbox().last().unwrap().webhook_code, "RETRIED");
}

// ---------------------------------------------------------------- the Link stand-in
