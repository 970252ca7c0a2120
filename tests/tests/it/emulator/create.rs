//! `/identity_verification/create`: idempotency and duplicates, credentials and Plaid's error
//! bodies, field validation, malformed values anywhere in the body.

use super::*;

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
        url.starts_with(&format!("{}/verify/{id}?key=", emu.url())),
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
