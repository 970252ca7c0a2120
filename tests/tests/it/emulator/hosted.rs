//! The hosted flow a `shareable_url` opens, on the emulator's own origin: the key is checked,
//! the Link stand-in's screens run the session, and the webhooks fire as in Link.

use super::*;

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn shareable_url_opens_the_hosted_flow_on_the_emulator_and_fires_webhooks() {
    let emu = start().await;
    let s = create(
        &emu,
        "hosted-1",
        json!({"is_shareable": true, "gave_consent": true, "user": leslie()}),
    )
    .await;
    let id = s["id"].as_str().unwrap();
    let url = s["shareable_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/verify/{id}?key=", emu.url())),
        "{url}"
    );

    // A wrong key, no key, or another session's id answer as a link that does not exist.
    let http = no_redirects();
    let (base, _) = url.split_once("?key=").unwrap();
    for bad in [
        format!("{base}?key={}", "0".repeat(64)),
        base.to_string(),
        format!("{}/verify/idv_unknown?key=x", emu.url()),
    ] {
        let r = http.get(&bad).send().await.unwrap();
        assert_eq!(r.status(), 404, "{bad}");
        assert!(r.text().await.unwrap().contains("This link is not valid"));
    }

    // The link hands the browser to the flow page with a Link session for this user.
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let token = location
        .strip_prefix("/link/flow?token=")
        .unwrap_or_else(|| panic!("{location}"))
        .to_string();
    let rec = emu.link_token(&token).expect("a Link session was started");
    assert_eq!(rec.client_user_id, "hosted-1");
    assert_eq!(rec.template_id, TPL);
    let page = reqwest::get(format!("{}{location}", emu.url()))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("/link/flow/api/"));

    // The same step machine as Link: each screen moves the session and fires STEP_UPDATED,
    // the end fires STATUS_UPDATED.
    let flow = |path: &'static str, mut body: Value| {
        body["link_token"] = json!(token);
        let emu_url = emu.url();
        async move {
            let r = reqwest::Client::new()
                .post(format!("{emu_url}/link/flow/api/{path}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, opened) = flow("open", json!({})).await;
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["session"]["link_session_id"], id);
    for body in [
        json!({"step": "verify_sms", "code": "11111"}),
        json!({"step": "kyc_check", "user": {
            "name": {"given_name": "Leslie", "family_name": "Knope"},
            "date_of_birth": "1975-01-18",
            "address": {"street": "123 Main St.", "city": "Pawnee", "region": "IN", "postal_code": "46001", "country": "US"}
        }}),
        json!({"step": "documentary_verification"}),
        json!({"step": "selfie_check"}),
    ] {
        let (status, v) = flow("step", body).await;
        assert_eq!(status, 200, "{v}");
    }
    assert_eq!(emu.session(id).unwrap()["status"], "success");
    let codes: Vec<String> = emu
        .outbox()
        .into_iter()
        .filter(|r| r.identity_verification_id == id)
        .map(|r| r.webhook_code)
        .collect();
    assert!(
        codes.iter().filter(|c| *c == "STEP_UPDATED").count() >= 4,
        "{codes:?}"
    );
    assert_eq!(
        codes.last().map(String::as_str),
        Some("STATUS_UPDATED"),
        "{codes:?}"
    );

    // A finished session's link no longer opens a flow.
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 410);
}

#[tokio::test]
async fn a_session_that_is_not_shareable_has_no_hosted_flow() {
    let emu = start().await;
    let s = create(&emu, "hosted-2", json!({})).await;
    assert_eq!(s["shareable_url"], Value::Null);
    let id = s["id"].as_str().unwrap();
    let r = no_redirects()
        .get(format!("{}/verify/{id}", emu.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
