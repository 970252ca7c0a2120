//! `/link/token/create`: validations and the record the emulator keeps.

use super::*;

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
