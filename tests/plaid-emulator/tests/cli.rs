//! The standalone binary, as any language's tests start it: `plaid-emulator --port 0`, whose
//! first stdout line is `listening on http://127.0.0.1:PORT`, with its settings from the
//! environment.

use serde_json::{Value, json};

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
async fn binary_prints_the_ready_line_first_and_serves() {
    use tokio::io::AsyncBufReadExt as _;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_plaid-emulator"))
        .args(["--port", "0", "--environment", "production"])
        .env("PLAID_CLIENT_ID", "bin-client")
        .env("PLAID_SECRET", "bin-secret")
        .env("IDV_TEMPLATE_ID", "idvtmp_bin")
        .env("IDV_TEMPLATE_IDS", "idvtmp_bin2, idvtmp_bin3")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
        .await
        .expect("ready line in time")
        .unwrap()
        .expect("a line");
    let url = first
        .strip_prefix("listening on http://127.0.0.1:")
        .map(|port| {
            assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{first}");
            first.trim_start_matches("listening on ").to_string()
        });
    let url = url.unwrap_or_else(|| panic!("unexpected first line: {first}"));
    let client = reqwest::Client::new();
    for template in ["idvtmp_bin", "idvtmp_bin3"] {
        let r = client
            .post(format!("{url}/identity_verification/create"))
            .header("PLAID-CLIENT-ID", "bin-client")
            .header("PLAID-SECRET", "bin-secret")
            .json(&json!({"client_user_id": "u", "template_id": template, "gave_consent": false, "is_shareable": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{template}");
    }
    let r = client
        .post(format!("{url}/link/token/create"))
        .header("PLAID-CLIENT-ID", "bin-client")
        .header("PLAID-SECRET", "bin-secret")
        .json(&link_body("u", "idvtmp_bin2"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert!(
        v["link_token"]
            .as_str()
            .unwrap()
            .starts_with("link-production-"),
        "{v}"
    );
    let r = client
        .post(format!("{url}/identity_verification/get"))
        .header("PLAID-CLIENT-ID", "emulator-client-id")
        .header("PLAID-SECRET", "emulator-secret")
        .json(&json!({"identity_verification_id": "idv_x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the env credentials replace the defaults");
    child.kill().await.unwrap();
}
