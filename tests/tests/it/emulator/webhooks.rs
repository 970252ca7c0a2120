//! Webhooks and `/webhook_verification_key/get`: signed deliveries to sink and URL (verified
//! here with p256 directly), redelivery, key rotation and expiry.

use super::*;

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
