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

mod control;
mod create;
mod get;
mod hosted;
mod link_standin;
mod link_token;
mod list;
mod retry;
mod webhooks;

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
        // The control API takes only JSON POSTs, body or not.
        client.post(url).header("content-type", "application/json")
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
