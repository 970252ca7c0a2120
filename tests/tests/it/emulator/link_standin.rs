//! The Link stand-in: the SDK, the flow page and its step machine.

use super::*;

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
