//! The Plaid IDV emulator, driven over HTTP as any client would: Plaid's rules and error
//! bodies, the step machine, signed webhooks (verified here with p256 directly), keys, faults
//! and the request log. (The standalone binary's ready line: tests/plaid-emulator/tests/cli.rs.)

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::{Signature, VerifyingKey, signature::Verifier as _};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use testkit::emulator::endpoints::{
    IDV_CREATE, IDV_GET, IDV_LIST, IDV_RETRY, LINK_TOKEN_CREATE, WEBHOOK_KEY_GET,
};
use testkit::emulator::{
    Emulator, Fault, Outcome, RunningEmulator, Step, StepRequest, Template, TemplateSteps,
    WebhookRecord,
};

const CID: &str = "test-client";
const SECRET: &str = "test-secret";
const TPL: &str = "idvtmp_test";
const TPL2: &str = "idvtmp_stepup";

async fn start() -> RunningEmulator {
    Emulator::builder()
        .client_id(CID)
        .secret(SECRET)
        .templates([Template::new(TPL), Template::new(TPL2)])
        .start()
        .await
        .expect("emulator starts")
}

fn leslie() -> Value {
    json!({
        "email_address": "leslie@example.com",
        "phone_number": "+12345678909",
        "date_of_birth": "1975-01-18",
        "name": {"given_name": "Leslie", "family_name": "Knope"},
        "address": {"street": "123 Main St.", "city": "Pawnee", "region": "IN", "postal_code": "46001", "country": "US"},
        "id_number": {"type": "us_ssn", "value": "123456789"}
    })
}

/// A Plaid call with credentials in headers, as our client sends them.
async fn plaid(emu: &RunningEmulator, path: &str, body: Value) -> (u16, Value) {
    plaid_with(&reqwest::Client::new(), emu, path, body).await
}

async fn plaid_with(
    client: &reqwest::Client,
    emu: &RunningEmulator,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let resp = client
        .post(format!("{}{path}", emu.url()))
        .header("PLAID-CLIENT-ID", CID)
        .header("PLAID-SECRET", SECRET)
        .header("Plaid-Version", "2020-09-14")
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}

async fn control(
    emu: &RunningEmulator,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let client = reqwest::Client::new();
    let url = format!("{}{path}", emu.url());
    let req = if method == "GET" {
        client.get(url)
    } else {
        client.post(url)
    };
    let req = match body {
        Some(b) => req.json(&b),
        None => req,
    };
    let resp = req.send().await.expect("control request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn create(emu: &RunningEmulator, cuid: &str, extra: Value) -> Value {
    let mut body = json!({"client_user_id": cuid, "template_id": TPL, "gave_consent": false, "is_shareable": false});
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let (status, v) = plaid(emu, IDV_CREATE, body).await;
    assert_eq!(status, 200, "{v}");
    v
}

fn assert_plaid_error(v: &Value, error_type: &str, error_code: &str) {
    assert_eq!(v["error_type"], error_type, "{v}");
    assert_eq!(v["error_code"], error_code, "{v}");
    assert!(v["error_message"].is_string(), "{v}");
    assert!(
        v["request_id"].as_str().is_some_and(|r| !r.is_empty()),
        "{v}"
    );
    for k in ["display_message", "error_code_reason", "suggested_action"] {
        assert_eq!(v[k], Value::Null, "{k} in {v}");
    }
    assert!(
        v["documentation_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("https://plaid.com/docs/errors/"))
    );
}

#[tokio::test]
async fn idempotent_create_returns_the_session_unchanged_and_a_duplicate_is_400() {
    let emu = start().await;
    let first = create(
        &emu,
        "user-1",
        json!({"gave_consent": true, "is_shareable": true, "user": leslie()}),
    )
    .await;
    let id = first["id"].as_str().unwrap();
    assert!(id.starts_with("idv_"));
    assert_eq!(first["status"], "active");
    assert_eq!(
        first["steps"]["accept_tos"], "skipped",
        "gave_consent skips the TOS step"
    );
    assert_eq!(first["steps"]["verify_sms"], "active");
    assert_eq!(first["kyc_check"], Value::Null);
    let url = first["shareable_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("https://flow.plaid.com/verify/{id}?key=")),
        "{url}"
    );
    assert_eq!(first["user"]["name"]["given_name"], "Leslie");

    let (status, again) = plaid(
        &emu,
        IDV_CREATE,
        json!({"client_user_id": "user-1", "template_id": TPL, "gave_consent": false, "is_shareable": false, "is_idempotent": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["steps"], first["steps"], "returned unmodified");
    assert_eq!(again["shareable_url"], first["shareable_url"]);
    assert_ne!(again["request_id"], first["request_id"]);

    let (status, dup) = plaid(
        &emu,
        IDV_CREATE,
        json!({"client_user_id": "user-1", "template_id": TPL, "gave_consent": false, "is_shareable": false}),
    )
    .await;
    assert_eq!(status, 400);
    assert_plaid_error(&dup, "INVALID_REQUEST", "INVALID_FIELD");

    // Another template for the same user is another session.
    let (status, other) = plaid(
        &emu,
        IDV_CREATE,
        json!({"client_user_id": "user-1", "template_id": TPL2, "gave_consent": false, "is_shareable": false}),
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(other["id"], first["id"]);
    assert_eq!(other["shareable_url"], Value::Null);
    assert_eq!(other["steps"]["accept_tos"], "active");
}

#[tokio::test]
async fn credentials_headers_or_body_and_plaid_error_bodies() {
    let emu = start().await;
    let client = reqwest::Client::new();
    let url = format!("{}/identity_verification/get", emu.url());
    let id = create(&emu, "user-c", json!({})).await["id"].clone();

    // Credentials in the body are accepted too.
    let r = client
        .post(&url)
        .json(&json!({"client_id": CID, "secret": SECRET, "identity_verification_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let r = client
        .post(&url)
        .header("PLAID-CLIENT-ID", CID)
        .header("PLAID-SECRET", "wrong")
        .json(&json!({"identity_verification_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_plaid_error(
        &r.json().await.unwrap(),
        "INVALID_INPUT",
        "INVALID_API_KEYS",
    );

    let r = client
        .post(&url)
        .json(&json!({"identity_verification_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_plaid_error(&v, "INVALID_REQUEST", "MISSING_FIELDS");
    assert!(v["error_message"].as_str().unwrap().contains("client_id"));

    let r = client
        .post(&url)
        .header("PLAID-CLIENT-ID", CID)
        .header("PLAID-SECRET", SECRET)
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_plaid_error(&r.json().await.unwrap(), "INVALID_REQUEST", "INVALID_BODY");

    let r = client
        .post(&url)
        .header("PLAID-CLIENT-ID", CID)
        .header("PLAID-SECRET", SECRET)
        .header("Plaid-Version", "2018-05-22")
        .json(&json!({"identity_verification_id": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_plaid_error(
        &r.json().await.unwrap(),
        "INVALID_REQUEST",
        "INVALID_HEADERS",
    );

    let (status, v) = plaid(
        &emu,
        IDV_GET,
        json!({"identity_verification_id": "idv_nope"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_plaid_error(&v, "INVALID_REQUEST", "INVALID_FIELD");
    assert!(
        v["error_message"]
            .as_str()
            .unwrap()
            .contains("identity_verification_id")
    );
}

#[tokio::test]
async fn create_validates_fields_as_plaid_does() {
    let emu = start().await;
    let base = json!({"client_user_id": "user-v", "template_id": TPL, "gave_consent": false, "is_shareable": false});
    let with = |patch: Value| {
        let mut b = base.clone();
        if let (Value::Object(b), Value::Object(p)) = (&mut b, patch) {
            b.extend(p);
        }
        b
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"client_user_id": "u"}),
            "MISSING_FIELDS",
            "template_id",
        ),
        (
            with(json!({"favourite_colour": "red"})),
            "UNKNOWN_FIELDS",
            "favourite_colour",
        ),
        (
            with(json!({"gave_consent": "yes"})),
            "INVALID_FIELD",
            "gave_consent",
        ),
        (
            with(json!({"template_id": "idvtmp_unknown"})),
            "INVALID_FIELD",
            "template_id",
        ),
        (
            with(json!({"client_user_id": "leslie@example.com"})),
            "INVALID_FIELD",
            "client_user_id",
        ),
        (
            with(json!({"user": {"phone_number": "234-567-8909"}})),
            "INVALID_FIELD",
            "user.phone_number",
        ),
        (
            with(json!({"user": {"date_of_birth": "01/18/1975"}})),
            "INVALID_FIELD",
            "user.date_of_birth",
        ),
        (
            with(json!({"user": {"name": {"given_name": "Leslie"}}})),
            "INVALID_FIELD",
            "user.name.family_name",
        ),
        (
            with(json!({"user": {"address": {"street": "123 Main St.", "country": "US"}}})),
            "INVALID_FIELD",
            "user.address.city",
        ),
        (
            with(
                json!({"user": {"address": {"street": "1 Main St", "city": "Pawnee", "region": "IN", "postal_code": "460", "country": "US"}}}),
            ),
            "INVALID_FIELD",
            "user.address.postal_code",
        ),
        (
            with(json!({"user": {"id_number": {"type": "us_ssn", "value": "666123456"}}})),
            "INVALID_FIELD",
            "user.id_number.value",
        ),
        (
            with(json!({"user": {"id_number": {"type": "us_passport", "value": "X1"}}})),
            "INVALID_FIELD",
            "user.id_number.type",
        ),
        (
            with(json!({"user": {"email_address": " leslie@example.com"}})),
            "INVALID_FIELD",
            "user.email_address",
        ),
    ];
    for (body, code, field) in cases {
        let (status, v) = plaid(&emu, IDV_CREATE, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(v["error_code"], code, "{body} → {v}");
        assert!(
            v["error_message"].as_str().unwrap().contains(field),
            "{body} → {v}"
        );
    }
    let (_, v) = plaid(&emu, IDV_CREATE, json!({"client_user_id": "u"})).await;
    let msg = v["error_message"].as_str().unwrap();
    assert!(
        msg.contains("gave_consent") && msg.contains("is_shareable"),
        "all missing fields named: {msg}"
    );
    // Country-only address and Leslie's full data are accepted; nothing was created by the refusals.
    create(
        &emu,
        "user-v",
        json!({"user": {"address": {"country": "GB"}}}),
    )
    .await;
    assert_eq!(emu.request_count(IDV_CREATE), 15);
}

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

#[tokio::test]
async fn list_pages_newest_first_with_a_cursor() {
    let emu = start().await;
    let mut ids = vec![
        create(&emu, "u-list", json!({})).await["id"]
            .as_str()
            .unwrap()
            .to_string(),
    ];
    for _ in 0..4 {
        let (status, v) = plaid(
            &emu,
            IDV_RETRY,
            json!({"client_user_id": "u-list", "template_id": TPL, "strategy": "reset"}),
        )
        .await;
        assert_eq!(status, 200);
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    create(&emu, "someone-else", json!({})).await;
    ids.reverse();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({"template_id": TPL, "client_user_id": "u-list"});
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let (status, v) = plaid(&emu, IDV_LIST, body).await;
        assert_eq!(status, 200, "{v}");
        pages += 1;
        let items = v["identity_verifications"].as_array().unwrap();
        assert!(items.len() <= 2);
        for item in items {
            assert!(
                item.get("request_id").is_none(),
                "list items carry no request_id"
            );
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => {
                assert_eq!(v["next_cursor"], Value::Null);
                break;
            }
        }
        assert!(pages < 10, "cursor loop");
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ids, "every session once, newest first");

    let (status, v) = plaid(
        &emu,
        IDV_LIST,
        json!({"template_id": TPL, "client_user_id": "u-list", "cursor": "garbage"}),
    )
    .await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("INVALID_FIELD"))
    );
    let (status, v) = plaid(&emu, IDV_LIST, json!({"client_user_id": "u-list"})).await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("MISSING_FIELDS"))
    );
    let (_, v) = plaid(
        &emu,
        IDV_LIST,
        json!({"template_id": TPL2, "client_user_id": "u-list"}),
    )
    .await;
    assert_eq!(v["identity_verifications"], json!([]));
    assert_eq!(v["next_cursor"], Value::Null);
}

fn link_body(cuid: &str, template: &str) -> Value {
    json!({
        "client_name": "Acme",
        "language": "en",
        "country_codes": ["US"],
        "user": {"client_user_id": cuid},
        "products": ["identity_verification"],
        "identity_verification": {"template_id": template, "gave_consent": true}
    })
}

#[tokio::test]
async fn link_token_validations_and_record() {
    let emu = start().await;
    let (status, v) = plaid(&emu, LINK_TOKEN_CREATE, link_body("u-link", TPL2)).await;
    assert_eq!(status, 200, "{v}");
    let token = v["link_token"].as_str().unwrap();
    assert!(
        token.starts_with("link-sandbox-") && token.len() == "link-sandbox-".len() + 36,
        "{token}"
    );
    let exp = chrono::DateTime::parse_from_rfc3339(v["expiration"].as_str().unwrap()).unwrap();
    let hours = (exp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_minutes();
    assert!(
        (235..=240).contains(&hours),
        "expiration about +4h, got {hours} min"
    );
    assert!(v["request_id"].is_string());

    let (status, rec) = control(&emu, "GET", &format!("/emulator/link_tokens/{token}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(rec["template_id"], TPL2);
    assert_eq!(rec["client_user_id"], "u-link");
    assert_eq!(emu.link_token(token).unwrap().gave_consent, Some(true));
    let (status, _) = control(&emu, "GET", "/emulator/link_tokens/link-sandbox-nope", None).await;
    assert_eq!(status, 404);

    let mut cases: Vec<(Value, &str, &str)> = Vec::new();
    let mut b = link_body("u", TPL);
    b["products"] = json!(["identity_verification", "auth"]);
    cases.push((b, "INVALID_FIELD", "products"));
    let mut b = link_body("u", TPL);
    b["products"] = json!(["auth"]);
    cases.push((b, "INVALID_FIELD", "products"));
    cases.push((
        link_body("u", "idvtmp_nope"),
        "INVALID_FIELD",
        "identity_verification.template_id",
    ));
    let mut b = link_body("u", TPL);
    b["user"] = json!({"email_address": "a@example.com"});
    cases.push((b, "MISSING_FIELDS", "user.client_user_id"));
    let mut b = link_body("u", TPL);
    b.as_object_mut().unwrap().remove("language");
    cases.push((b, "MISSING_FIELDS", "language"));
    let mut b = link_body("u", TPL);
    b["country_codes"] = json!(["DE"]);
    cases.push((b, "INVALID_FIELD", "country_codes"));
    let mut b = link_body("u", TPL);
    b["identity_verification"] = json!({"gave_consent": true});
    cases.push((b, "MISSING_FIELDS", "identity_verification.template_id"));
    let mut b = link_body("u", TPL);
    b["user"]["phone_number"] = json!("5551234");
    cases.push((b, "INVALID_FIELD", "user.phone_number"));
    for (body, code, field) in cases {
        let (status, v) = plaid(&emu, LINK_TOKEN_CREATE, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(v["error_code"], code, "{body} → {v}");
        assert!(
            v["error_message"].as_str().unwrap().contains(field),
            "{body} → {v}"
        );
    }

    // Opening Link with the token starts the user's session for the token's template, then resumes it.
    let (status, opened) = control(
        &emu,
        "POST",
        &format!("/emulator/link_tokens/{token}/open"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["created"], true);
    assert_eq!(opened["session"]["template"]["id"], TPL2);
    assert_eq!(opened["session"]["steps"]["accept_tos"], "skipped");
    let (_, again) = control(
        &emu,
        "POST",
        &format!("/emulator/link_tokens/{token}/open"),
        None,
    )
    .await;
    assert_eq!(again["created"], false);
    assert_eq!(again["session"]["id"], opened["session"]["id"]);
}

/// Verifies a delivery the way a receiver must: ES256 over the JWS signing input with the key
/// Plaid's endpoint serves for the kid, and the body hash over the exact bytes.
async fn verify_delivery(
    emu: &RunningEmulator,
    headers: &[(String, String)],
    body: &[u8],
) -> (String, i64) {
    let jwt = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("plaid-verification"))
        .map(|(_, v)| v.clone())
        .expect("Plaid-Verification header");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "JWT");
    let kid = header["kid"].as_str().unwrap().to_string();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims.as_object().unwrap().len(),
        2,
        "only iat and request_body_sha256: {claims}"
    );

    let (status, key) = plaid(emu, WEBHOOK_KEY_GET, json!({"key_id": kid})).await;
    assert_eq!(status, 200);
    let key = &key["key"];
    assert_eq!(
        (
            key["alg"].as_str(),
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["use"].as_str()
        ),
        (Some("ES256"), Some("EC"), Some("P-256"), Some("sig"))
    );
    let mut sec1 = vec![4u8];
    sec1.extend(URL_SAFE_NO_PAD.decode(key["x"].as_str().unwrap()).unwrap());
    sec1.extend(URL_SAFE_NO_PAD.decode(key["y"].as_str().unwrap()).unwrap());
    let vk = VerifyingKey::from_sec1_bytes(&sec1).expect("valid P-256 point");
    let sig =
        Signature::from_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap()).expect("64-byte r||s");
    vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("signature verifies");

    assert_eq!(
        claims["request_body_sha256"],
        hex::encode(Sha256::digest(body))
    );
    let iat = claims["iat"].as_i64().unwrap();
    assert!((chrono::Utc::now().timestamp() - iat).abs() < 60);
    (kid, iat)
}

/// Headers and body one HTTP delivery brought.
type Received = (Vec<(String, String)>, Vec<u8>);

#[tokio::test]
async fn finish_fires_signed_step_and_status_webhooks_to_sink_and_url() {
    // An HTTP receiver for --webhook-url, and an in-process sink.
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let app = {
        let received = received.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(
                move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                    let received = received.clone();
                    async move {
                        let h = headers
                            .iter()
                            .map(|(k, v)| {
                                (k.to_string(), v.to_str().unwrap_or_default().to_string())
                            })
                            .collect();
                        received.lock().unwrap().push((h, body.to_vec()));
                        axum::http::StatusCode::OK
                    }
                },
            ),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sunk: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let sink_store = sunk.clone();
    let emu = Emulator::builder()
        .client_id(CID)
        .secret(SECRET)
        .templates([Template::new(TPL)])
        .webhook_url(hook_url.clone())
        .webhook_sink(move |req| {
            let sink_store = sink_store.clone();
            async move {
                sink_store.lock().unwrap().push(req.body);
                200
            }
        })
        .start()
        .await
        .unwrap();

    let s = create(&emu, "u-hook", json!({"user": leslie()})).await;
    let id = s["id"].as_str().unwrap();
    let (status, v) = control(
        &emu,
        "POST",
        &format!("/emulator/sessions/{id}/finish"),
        Some(json!({"outcome": "success"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["status"], "success");

    let outbox = emu.outbox();
    let codes: Vec<&str> = outbox.iter().map(|r| r.webhook_code.as_str()).collect();
    assert_eq!(
        codes,
        ["STEP_UPDATED"; 7]
            .iter()
            .copied()
            .chain(["STATUS_UPDATED"])
            .collect::<Vec<_>>()
    );
    for r in &outbox {
        verify_delivery(&emu, &r.headers, r.body.as_bytes()).await;
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"webhook_type": "IDENTITY_VERIFICATION", "webhook_code": r.webhook_code, "identity_verification_id": id, "environment": "sandbox"})
        );
        assert!(
            r.body.starts_with(
                "{\n  \"webhook_type\": \"IDENTITY_VERIFICATION\",\n  \"webhook_code\""
            ),
            "pretty, 2-space: {}",
            r.body
        );
        assert_eq!(r.attempts.len(), 2);
        assert!(
            r.attempts.iter().all(|a| a.status == Some(200)),
            "{:?}",
            r.attempts
        );
        assert_eq!(r.attempts[0].target, hook_url);
    }
    // The receivers got exactly the signed bytes, in order, with the JWT header.
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 8);
    for (r, (headers, body)) in outbox.iter().zip(&got) {
        assert_eq!(body, r.body.as_bytes());
        verify_delivery(&emu, headers, body).await;
    }
    assert_eq!(sunk.lock().unwrap().len(), 8);

    // The outbox is also served over HTTP.
    let (_, listed) = control(&emu, "GET", "/emulator/webhooks", None).await;
    let listed: Vec<WebhookRecord> = serde_json::from_value(listed).unwrap();
    assert_eq!(listed, outbox);
}

#[tokio::test]
async fn redelivery_duplicates_exact_bytes_or_resigns() {
    let emu = start().await;
    let s = create(&emu, "u-redo", json!({"user": leslie()})).await;
    emu.finish(
        s["id"].as_str().unwrap(),
        Some(testkit::emulator::FinishOutcome::Canceled),
        None,
    )
    .await
    .unwrap();
    let outbox = emu.outbox();
    assert_eq!(outbox.len(), 1, "cancel fires STATUS_UPDATED only");
    let original = &outbox[0];
    let dup = emu.redeliver(&original.id, false).await.unwrap();
    assert_eq!(dup.redelivery_of.as_deref(), Some(original.id.as_str()));
    assert_eq!(
        (&dup.headers, &dup.body),
        (&original.headers, &original.body)
    );
    emu.rotate_key().unwrap();
    let (status, resigned) = control(
        &emu,
        "POST",
        "/emulator/webhooks/redeliver",
        Some(json!({"id": original.id, "resign": true})),
    )
    .await;
    assert_eq!(status, 200);
    let resigned: WebhookRecord = serde_json::from_value(resigned).unwrap();
    assert_eq!(resigned.body, original.body);
    assert_ne!(resigned.kid, original.kid);
    assert_ne!(
        resigned.header("Plaid-Verification"),
        original.header("Plaid-Verification")
    );
    verify_delivery(&emu, &resigned.headers, resigned.body.as_bytes()).await;
    let (status, _) = control(
        &emu,
        "POST",
        "/emulator/webhooks/redeliver",
        Some(json!({"id": "whd_999"})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn key_rotation_and_expiry() {
    let emu = start().await;
    let old = emu.current_key();
    assert_eq!(old.expired_at, None);
    let (status, rotated) = control(&emu, "POST", "/emulator/keys/rotate", None).await;
    assert_eq!(status, 200);
    let new_kid = rotated["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old.kid);
    assert_eq!(emu.current_key().kid, new_kid);

    // New webhooks are signed with the new key; the old one stays fetchable.
    let s = create(&emu, "u-key", json!({})).await;
    emu.finish(
        s["id"].as_str().unwrap(),
        Some(testkit::emulator::FinishOutcome::Expired),
        None,
    )
    .await
    .unwrap();
    let r = &emu.outbox()[0];
    let (kid, _) = verify_delivery(&emu, &r.headers, r.body.as_bytes()).await;
    assert_eq!(kid, new_kid);
    let (status, v) = plaid(&emu, WEBHOOK_KEY_GET, json!({"key_id": old.kid})).await;
    assert_eq!(status, 200);
    assert_eq!(v["key"]["expired_at"], Value::Null);
    assert_eq!(v["key"]["x"], old.x.as_str());

    let (status, _) = control(
        &emu,
        "POST",
        &format!("/emulator/keys/{}/expire", old.kid),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, v) = plaid(&emu, WEBHOOK_KEY_GET, json!({"key_id": old.kid})).await;
    assert!(
        v["key"]["expired_at"]
            .as_i64()
            .is_some_and(|t| t >= v["key"]["created_at"].as_i64().unwrap())
    );

    let (status, v) = plaid(
        &emu,
        WEBHOOK_KEY_GET,
        json!({"key_id": "00000000-0000-4000-8000-000000000000"}),
    )
    .await;
    assert_eq!(status, 400);
    assert_plaid_error(&v, "INVALID_INPUT", "INVALID_WEBHOOK_VERIFICATION_KEY_ID");
    let (status, _) = control(&emu, "POST", "/emulator/keys/nope/expire", None).await;
    assert_eq!(status, 404);
}

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

/// Every JSON path of `v` (objects and arrays), root excluded.
fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let children: Vec<(String, &Value)> = match v {
        Value::Object(o) => o.iter().map(|(k, c)| (k.clone(), c)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, c)| (i.to_string(), c))
            .collect(),
        _ => return,
    };
    for (k, c) in children {
        let mut p = prefix.clone();
        p.push(k);
        out.push(p.clone());
        paths(c, p, out);
    }
}

fn replace_at(v: &mut Value, path: &[String], with: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = v;
    for p in parents {
        cur = match cur {
            Value::Object(o) => o.get_mut(p).unwrap(),
            Value::Array(a) => &mut a[p.parse::<usize>().unwrap()],
            _ => return,
        };
    }
    match cur {
        Value::Object(o) => {
            o.insert(last.clone(), with);
        }
        Value::Array(a) => a[last.parse::<usize>().unwrap()] = with,
        _ => {}
    }
}

#[tokio::test]
async fn malformed_values_anywhere_get_plaid_400s_never_a_crash() {
    let emu = start().await;
    let seeded = create(&emu, "u-fuzz", json!({"user": leslie()})).await;
    let kid = emu.current_key().kid;
    let valid: Vec<(&str, Value)> = vec![
        (
            IDV_CREATE,
            json!({"client_user_id": "u-fuzz-new", "template_id": TPL, "gave_consent": true, "is_shareable": true, "is_idempotent": true, "user": leslie()}),
        ),
        (IDV_GET, json!({"identity_verification_id": seeded["id"]})),
        (
            IDV_LIST,
            json!({"template_id": TPL, "client_user_id": "u-fuzz", "cursor": null}),
        ),
        (
            IDV_RETRY,
            json!({"client_user_id": "u-fuzz", "template_id": TPL, "strategy": "custom", "is_shareable": false,
                   "steps": {"verify_sms": true, "kyc_check": true, "documentary_verification": false, "selfie_check": false},
                   "user": {"email_address": "a@example.com"}}),
        ),
        (LINK_TOKEN_CREATE, link_body("u-fuzz", TPL)),
        (WEBHOOK_KEY_GET, json!({"key_id": kid})),
    ];
    let junk = [
        Value::Null,
        json!(0),
        json!(-1.5),
        json!(true),
        json!(""),
        json!(" "),
        json!("x".repeat(5000)),
        json!("\u{0000}\u{202e}ü"),
        json!([]),
        json!({}),
        json!([{"a": [1, {"b": null}]}]),
    ];
    let mut sent = 0;
    let client = reqwest::Client::new();
    for (endpoint, body) in &valid {
        let mut all = Vec::new();
        paths(body, Vec::new(), &mut all);
        for path in &all {
            for j in &junk {
                let mut b = body.clone();
                replace_at(&mut b, path, j.clone());
                let (status, v) = plaid_with(&client, &emu, endpoint, b.clone()).await;
                sent += 1;
                assert!(
                    status == 200 || status == 400,
                    "{endpoint} {b} → {status} {v}"
                );
                if status == 400 {
                    assert!(
                        v["error_code"].is_string() && v["error_type"].is_string(),
                        "{v}"
                    );
                } else {
                    assert!(v["request_id"].is_string(), "{v}");
                }
            }
        }
    }
    assert!(sent > 300, "{sent}");
    // The server is still healthy and consistent afterwards.
    let (status, _) = plaid(
        &emu,
        IDV_GET,
        json!({"identity_verification_id": seeded["id"]}),
    )
    .await;
    assert_eq!(status, 200);
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

/// A call to the Link flow's own endpoints (what the framed page sends: no credentials).
async fn flow(emu: &RunningEmulator, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}/link/flow/api/{path}", emu.url()))
        .json(&body)
        .send()
        .await
        .expect("flow request sent");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json body"))
}

async fn link_token(emu: &RunningEmulator, cuid: &str, user: Value) -> String {
    let mut body = link_body(cuid, TPL);
    body["identity_verification"] = json!({"template_id": TPL});
    if let (Value::Object(u), Value::Object(extra)) = (&mut body["user"], user) {
        u.extend(extra);
    }
    let (status, v) = plaid(emu, LINK_TOKEN_CREATE, body).await;
    assert_eq!(status, 200, "{v}");
    v["link_token"].as_str().unwrap().to_string()
}

fn names(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["view_name"].as_str() {
            Some(view) => format!("{}:{view}", e["event_name"].as_str().unwrap()),
            None => e["event_name"].as_str().unwrap().to_string(),
        })
        .collect()
}

fn hooks(emu: &RunningEmulator, id: &str) -> Vec<String> {
    emu.outbox()
        .into_iter()
        .filter(|r| r.identity_verification_id == id)
        .map(|r| r.webhook_code)
        .collect()
}

#[tokio::test]
async fn link_standin_serves_the_sdk_and_the_flow_page() {
    let emu = start().await;
    let r = reqwest::get(emu.link_initialize_url()).await.unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/javascript"), "{ct}");
    let js = r.text().await.unwrap();
    for api in [
        "Plaid.create",
        "open:",
        "exit:",
        "destroy:",
        "currentScript",
        "e.origin !== ORIGIN",
    ] {
        assert!(js.contains(api), "link-initialize.js lacks {api}");
    }
    let r = reqwest::get(format!(
        "{}/link/flow?token=x&origin=http%3A%2F%2Fapp.test",
        emu.url()
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = r.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
    // Every input has a <label for=…> (the form fields are built in JS from `field(id, label…)`).
    assert!(html.contains("el('label', { for: id, text: label })"));
}

#[tokio::test]
async fn link_flow_walks_the_session_through_the_step_machine_and_fires_webhooks() {
    let emu = start().await;
    let mut user = leslie();
    user.as_object_mut().unwrap().remove("id_number");
    let session = create(&emu, "u-flow", json!({"user": user})).await;
    let id = session["id"].as_str().unwrap();
    let token = link_token(&emu, "u-flow", json!({})).await;

    // The token resolves to the user's session for (client_user_id, template): resumed.
    let (status, opened) = flow(&emu, "open", json!({"link_token": token})).await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["created"], false);
    assert_eq!(opened["session"]["link_session_id"], id);
    assert_eq!(opened["session"]["active_step"], "accept_tos");
    assert_eq!(opened["session"]["user"]["name"]["given_name"], "Leslie");
    assert!(opened["request_id"].is_string());
    assert_eq!(
        names(&opened),
        [
            "IDENTITY_VERIFICATION_RESUME_SESSION",
            "IDENTITY_VERIFICATION_RESUME_UI",
            "IDENTITY_VERIFICATION_START_STEP:ACCEPT_TOS"
        ]
    );
    assert!(hooks(&emu, id).is_empty(), "opening fires no webhook");

    let step = |body: Value| {
        let mut b = body;
        b["link_token"] = json!(token);
        b["link_session_id"] = json!(id);
        flow(&emu, "step", b)
    };
    let (status, v) = step(json!({"step": "accept_tos"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        names(&v),
        [
            "IDENTITY_VERIFICATION_PASS_STEP:ACCEPT_TOS",
            "IDENTITY_VERIFICATION_START_STEP:VERIFY_SMS"
        ]
    );
    assert_eq!(hooks(&emu, id), ["STEP_UPDATED"]);

    // A wrong SMS code is refused and changes nothing; Sandbox's 11111 passes.
    let (status, v) = step(json!({"step": "verify_sms", "code": "12345"})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "incorrect_code");
    assert_eq!(v["attempts_left"], 2);
    assert!(
        v["error"]["display_message"]
            .as_str()
            .unwrap()
            .contains("incorrect")
    );
    assert_eq!(emu.session(id).unwrap()["steps"]["verify_sms"], "active");
    assert_eq!(hooks(&emu, id).len(), 1);
    let (status, v) =
        step(json!({"step": "verify_sms", "code": "11111", "phone_number": "+12345678909"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["session"]["active_step"], "kyc_check");

    // Only the active step can be done.
    let (status, v) = step(json!({"step": "selfie_check"})).await;
    assert_eq!(status, 409, "{v}");
    // Background steps are not the person's to do.
    let (status, _) = step(json!({"step": "risk_check"})).await;
    assert_eq!(status, 400);
    // The identity form is validated as Plaid validates `user`.
    let (status, v) =
        step(json!({"step": "kyc_check", "user": {"date_of_birth": "1975-13-40"}})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["code"], "invalid_field");
    assert_eq!(v["field"], "user.date_of_birth");

    let (status, v) = step(json!({"step": "kyc_check", "user": {
        "name": {"given_name": "Leslie", "family_name": "Knope"},
        "date_of_birth": "1975-01-18",
        "address": {"street": "123 Main St.", "city": "Pawnee", "region": "IN", "postal_code": "46001", "country": "US"},
        "id_number": {"type": "us_ssn_last_4", "value": "6789"}
    }}))
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        names(&v),
        [
            "IDENTITY_VERIFICATION_PASS_STEP:KYC_CHECK",
            "IDENTITY_VERIFICATION_START_STEP:DOCUMENTARY_VERIFICATION"
        ]
    );
    let (status, _) = step(json!({"step": "documentary_verification"})).await;
    assert_eq!(status, 200);
    // The selfie is the person's last step; risk and screening then run on their own.
    let (status, v) = step(json!({"step": "selfie_check"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        names(&v),
        [
            "IDENTITY_VERIFICATION_PASS_STEP:SELFIE_CHECK",
            "IDENTITY_VERIFICATION_START_STEP:RISK_CHECK",
            "IDENTITY_VERIFICATION_PASS_STEP:RISK_CHECK",
            "IDENTITY_VERIFICATION_START_STEP:SCREENING",
            "IDENTITY_VERIFICATION_PASS_STEP:SCREENING",
            "IDENTITY_VERIFICATION_PASS_SESSION"
        ]
    );
    assert_eq!(v["session"]["status"], "success");
    let got = emu.session(id).unwrap();
    assert_eq!(got["status"], "success");
    assert_eq!(got["kyc_check"]["status"], "success");
    assert_eq!(got["user"]["id_number"]["type"], "us_ssn_last_4");
    let mut expected = vec!["STEP_UPDATED"; 7];
    expected.push("STATUS_UPDATED");
    assert_eq!(hooks(&emu, id), expected);

    // A finished session is not served again, until a retry.
    let (status, v) = flow(&emu, "open", json!({"link_token": token})).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(v["error"]["code"], "session_ended");
    assert_eq!(v["link_session_id"], id);
    assert_eq!(v["status"], "success");
    let (status, v) = step(json!({"step": "selfie_check"})).await;
    assert_eq!(status, 409, "{v}");
    assert_eq!(hooks(&emu, id).len(), 8, "nothing fired after the end");
}

#[tokio::test]
async fn link_flow_other_data_fails_kyc_and_three_wrong_codes_fail_sms() {
    let emu = start().await;
    // Link starts the session itself (no /create), with the token's prefill and consent.
    let mut body = link_body("u-other", TPL);
    body["user"]["phone_number"] = json!("+12345678909");
    let (_, tok) = plaid(&emu, LINK_TOKEN_CREATE, body).await;
    let token = tok["link_token"].as_str().unwrap();
    let (status, opened) = flow(&emu, "open", json!({"link_token": token})).await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["created"], true);
    assert_eq!(
        names(&opened)[..2],
        [
            "IDENTITY_VERIFICATION_CREATE_SESSION",
            "IDENTITY_VERIFICATION_OPEN_UI"
        ]
    );
    assert_eq!(opened["session"]["steps"]["accept_tos"], "skipped");
    assert_eq!(opened["session"]["user"]["phone_number"], "+12345678909");
    let id = opened["session"]["link_session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let step = |b: Value| {
        let mut b = b;
        b["link_token"] = json!(token);
        flow(&emu, "step", b)
    };
    assert_eq!(
        step(json!({"step": "verify_sms", "code": "11111"})).await.0,
        200
    );
    let (status, v) = step(json!({"step": "kyc_check", "user": {
        "name": {"given_name": "Ann", "family_name": "Perkins"},
        "date_of_birth": "1980-05-01",
        "address": {"street": "1 Elm St.", "city": "Eagleton", "region": "IN", "postal_code": "46002", "country": "US"}
    }}))
    .await;
    assert_eq!(status, 200, "{v}");
    // Data source fails; the document check decides (Sandbox document fallback), and fails.
    assert_eq!(
        names(&v),
        [
            "IDENTITY_VERIFICATION_FAIL_STEP:KYC_CHECK",
            "IDENTITY_VERIFICATION_START_STEP:DOCUMENTARY_VERIFICATION"
        ]
    );
    let (_, v) = step(json!({"step": "documentary_verification"})).await;
    assert_eq!(
        names(&v),
        [
            "IDENTITY_VERIFICATION_FAIL_STEP:DOCUMENTARY_VERIFICATION",
            "IDENTITY_VERIFICATION_FAIL_SESSION"
        ]
    );
    assert_eq!(emu.session(&id).unwrap()["status"], "failed");
    assert_eq!(emu.session(&id).unwrap()["steps"]["kyc_check"], "failed");
    assert_eq!(hooks(&emu, &id).last().unwrap(), "STATUS_UPDATED");

    // Three wrong SMS codes fail the step, and with it the session.
    let session = create(&emu, "u-sms", json!({"gave_consent": true})).await;
    let sid = session["id"].as_str().unwrap();
    let token = link_token(&emu, "u-sms", json!({})).await;
    assert_eq!(
        flow(&emu, "open", json!({"link_token": token})).await.0,
        200
    );
    for left in [2, 1] {
        let (status, v) = flow(
            &emu,
            "step",
            json!({"link_token": token, "step": "verify_sms", "code": "00000"}),
        )
        .await;
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["attempts_left"], left);
    }
    let (status, v) = flow(
        &emu,
        "step",
        json!({"link_token": token, "step": "verify_sms", "code": "00000"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        names(&v),
        [
            "IDENTITY_VERIFICATION_FAIL_STEP:VERIFY_SMS",
            "IDENTITY_VERIFICATION_FAIL_SESSION"
        ]
    );
    let got = emu.session(sid).unwrap();
    assert_eq!(got["status"], "failed");
    assert_eq!(
        got["verify_sms"]["verifications"][0]["solve_attempt_count"],
        3
    );
}

#[tokio::test]
async fn link_flow_refuses_an_unknown_token_with_invalid_link_token() {
    let emu = start().await;
    let bad = "link-sandbox-00000000-0000-4000-8000-000000000000";
    for (path, body) in [
        ("open", json!({"link_token": bad})),
        ("step", json!({"link_token": bad, "step": "accept_tos"})),
    ] {
        let (status, v) = flow(&emu, path, body).await;
        assert_eq!(status, 400, "{path}: {v}");
        assert_eq!(v["error_type"], "INVALID_INPUT");
        assert_eq!(v["error_code"], "INVALID_LINK_TOKEN");
        assert!(v["error_message"].is_string());
        assert_eq!(v["display_message"], Value::Null);
        assert!(v["request_id"].is_string());
    }
    // A token Plaid invalidated (too long in Link, too many failures) is refused from then on.
    let token = link_token(&emu, "u-inval", json!({})).await;
    let (status, v) = flow(&emu, "open", json!({"link_token": token})).await;
    assert_eq!(status, 200, "{v}");
    let (status, rec) = control(
        &emu,
        "POST",
        &format!("/emulator/link_tokens/{token}/invalidate"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rec}");
    assert!(rec["invalidated_at"].is_string());
    for (path, body) in [
        ("open", json!({"link_token": token})),
        ("step", json!({"link_token": token, "step": "accept_tos"})),
    ] {
        let (status, v) = flow(&emu, path, body).await;
        assert_eq!(
            (status, v["error_code"].as_str()),
            (400, Some("INVALID_LINK_TOKEN")),
            "{path}"
        );
    }
    let (status, _) = control(
        &emu,
        "POST",
        &format!("/emulator/link_tokens/{token}/open"),
        None,
    )
    .await;
    assert_eq!(status, 409);
    assert!(emu.invalidate_link_token("link-sandbox-nope").is_err());

    // A reset forgets tokens: Link then treats them as invalid too.
    let token = link_token(&emu, "u-reset", json!({})).await;
    emu.reset();
    let (status, v) = flow(&emu, "open", json!({"link_token": token})).await;
    assert_eq!(
        (status, v["error_code"].as_str()),
        (400, Some("INVALID_LINK_TOKEN"))
    );
    assert!(emu.outbox().is_empty());
}
