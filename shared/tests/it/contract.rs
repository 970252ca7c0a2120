//! Contract test: every request our Plaid client builds is sent to Plaid's own OpenAPI
//! description served by Prism (`../shared/tools/plaid-prism`, started by
//! `tests/scripts/client-contract.sh`). Prism answers 422 with the reasons for any request
//! Plaid's schemas reject, and the spec's example for a valid one, which must parse into our
//! types. It is ignored in a plain `cargo test` (the listing says why) and run, with `--ignored`,
//! by the script; there, without `PLAID_PRISM_URL`, it fails instead of passing unchecked.

use serde::Serialize;
use shared::credentials::{Credentials, CredentialsProvider};
use shared::ids::{ClientUserId, IdvId, TemplateId};
use shared::plaid::types::*;
use shared::plaid::{ClientOptions, PlaidClient, PlaidError};
use std::sync::Arc;
use std::time::Duration;

struct Contract {
    base: url::Url,
    failures: Vec<String>,
    checked: usize,
}

impl Contract {
    /// Records a failure; for a rejected request, replays its body to show Prism's reasons.
    async fn check<T>(
        &mut self,
        name: &str,
        path: &str,
        body: &impl Serialize,
        result: Result<T, PlaidError>,
    ) -> Option<T> {
        self.checked += 1;
        match result {
            Ok(v) => Some(v),
            Err(err) => {
                let reasons = self.reasons(path, body).await;
                self.failures.push(format!("{name}: {err}\n    {reasons}"));
                None
            }
        }
    }

    async fn reasons(&self, path: &str, body: &impl Serialize) -> String {
        let resp = reqwest::Client::new()
            .post(self.base.join(path).unwrap())
            .header("PLAID-CLIENT-ID", "prism-client")
            .header("PLAID-SECRET", "prism-secret")
            .header("Plaid-Version", "2020-09-14")
            .json(body)
            .send()
            .await;
        match resp {
            Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => format!("replay failed: {e}"),
        }
    }
}

fn user_id() -> ClientUserId {
    ClientUserId::parse("user-8f3a1c").unwrap()
}

fn template() -> TemplateId {
    TemplateId::parse("idvtmp_4FrXJvfQU3zGUR").unwrap()
}

/// Plaid's Sandbox test identity (plaid-idv.md §8.2).
fn leslie() -> RequestUser {
    RequestUser {
        email_address: Some("leslie.knope@example.com".into()),
        phone_number: Some("+12345678909".into()),
        date_of_birth: Some("1975-01-18".into()),
        name: Some(UserName {
            given_name: "Leslie".into(),
            family_name: "Knope".into(),
        }),
        address: Some(UserAddress {
            street: Some("123 Main St.".into()),
            street2: None,
            city: Some("Pawnee".into()),
            region: Some("IN".into()),
            postal_code: Some("46001".into()),
            country: "US".into(),
        }),
        id_number: Some(IdNumber {
            value: "123456789".into(),
            kind: IdNumberType("us_ssn".into()),
        }),
    }
}

fn create(user: Option<RequestUser>, gave_consent: bool) -> CreateRequest {
    CreateRequest {
        client_user_id: user_id(),
        template_id: template(),
        gave_consent,
        is_shareable: gave_consent,
        is_idempotent: true,
        user,
    }
}

fn retry(strategy: RetryStrategy) -> RetryRequest {
    RetryRequest {
        client_user_id: user_id(),
        template_id: template(),
        strategy,
        steps: (strategy == RetryStrategy::Custom).then_some(RetrySteps {
            verify_sms: false,
            kyc_check: true,
            documentary_verification: true,
            selfie_check: false,
        }),
        user: None,
        is_shareable: None,
    }
}

fn link_token() -> LinkTokenCreateRequest {
    LinkTokenCreateRequest::identity_verification(
        "Acme",
        "en",
        vec!["US".into()],
        user_id(),
        template(),
    )
}

#[tokio::test]
#[ignore = "needs Prism: run by tests/scripts/client-contract.sh (make contract)"]
async fn every_request_the_client_builds_is_accepted_by_plaids_spec() {
    let raw = std::env::var("PLAID_PRISM_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .expect(
            "PLAID_PRISM_URL names no Prism mock of Plaid's spec to validate against; run \
             tests/scripts/client-contract.sh (make contract)",
        );
    let base = url::Url::parse(&raw).expect("PLAID_PRISM_URL is a URL");
    let client = PlaidClient::new(
        base.clone(),
        Arc::new(CredentialsProvider::fixed(Credentials::new(
            "prism-client",
            "prism-secret",
        ))),
        ClientOptions {
            timeout: Duration::from_secs(20),
            // A rejected request must show up as a failure, not be retried away.
            max_attempts: 1,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let mut c = Contract {
        base,
        failures: Vec::new(),
        checked: 0,
    };

    // The mock really validates: a request Plaid would refuse is refused.
    let bogus = serde_json::json!({"client_user_id": "u", "template_id": "t", "strategy": "bogus"});
    let answer = c.reasons("identity_verification/retry", &bogus).await;
    assert!(
        answer.starts_with("422"),
        "Prism accepted an invalid strategy: {answer}"
    );

    const CREATE: &str = "identity_verification/create";
    for (name, req) in [
        ("create minimal", create(None, false)),
        ("create with Leslie Knope", create(Some(leslie()), true)),
        (
            "create with a country-only address and SSN last 4",
            create(
                Some(RequestUser {
                    email_address: Some("leslie.knope@example.com".into()),
                    address: Some(UserAddress {
                        street: None,
                        street2: None,
                        city: None,
                        region: None,
                        postal_code: None,
                        country: "US".into(),
                    }),
                    id_number: Some(IdNumber {
                        value: "6789".into(),
                        kind: IdNumberType("us_ssn_last_4".into()),
                    }),
                    ..RequestUser::default()
                }),
                false,
            ),
        ),
    ] {
        let r = client.create(&req).await;
        if let Some(iv) = c.check(name, CREATE, &req, r).await {
            assert!(iv.request_id.is_some(), "{name}: request_id parsed");
        }
    }

    let id = IdvId::parse("idv_52xR9LKo77r1Np").unwrap();
    let get = GetRequest {
        identity_verification_id: id.clone(),
    };
    let r = client.get(&id).await;
    if let Some(iv) = c.check("get", "identity_verification/get", &get, r).await {
        assert_eq!(iv.id, id);
    }

    for cursor in [
        None,
        Some("eyJkaXJlY3Rpb24iOiJuZXh0Iiwib2Zmc2V0IjoiMTU5NDM".to_owned()),
    ] {
        let req = ListRequest {
            template_id: template(),
            client_user_id: user_id(),
            cursor: cursor.clone(),
        };
        let name = if cursor.is_some() {
            "list with cursor"
        } else {
            "list"
        };
        let r = client.list(&req).await;
        if let Some(page) = c.check(name, "identity_verification/list", &req, r).await {
            assert!(!page.identity_verifications.is_empty());
        }
    }

    for strategy in [
        RetryStrategy::Reset,
        RetryStrategy::Incomplete,
        RetryStrategy::Infer,
        RetryStrategy::Custom,
    ] {
        let req = retry(strategy);
        let r = client.retry(&req).await;
        let name = format!("retry {strategy:?}");
        c.check(&name, "identity_verification/retry", &req, r).await;
    }
    let mut req = retry(RetryStrategy::Reset);
    req.user = Some(leslie());
    req.is_shareable = Some(true);
    let r = client.retry(&req).await;
    c.check(
        "retry with user and is_shareable",
        "identity_verification/retry",
        &req,
        r,
    )
    .await;

    let mut with_redirect = link_token();
    with_redirect.redirect_uri = Some("https://app.example.com/idv/callback".into());
    with_redirect.identity_verification.gave_consent = Some(true);
    let mut android = link_token();
    android.android_package_name = Some("com.example.app".into());
    for (name, req) in [
        ("link token", link_token()),
        ("link token with redirect_uri and consent", with_redirect),
        ("link token for Android", android),
    ] {
        let r = client.link_token_create(&req).await;
        if let Some(lt) = c.check(name, "link/token/create", &req, r).await {
            assert!(!lt.link_token.is_empty());
        }
    }

    let key_req = WebhookVerificationKeyGetRequest {
        key_id: "bfbd5111-8e33-4643-8ced-b2e642a72f3c".into(),
    };
    let r = client.webhook_verification_key_get(&key_req.key_id).await;
    if let Some(key) = c
        .check("webhook key", "webhook_verification_key/get", &key_req, r)
        .await
    {
        assert_eq!((key.kty.as_str(), key.crv.as_str()), ("EC", "P-256"));
    }

    assert!(
        c.failures.is_empty(),
        "{} of {} requests failed against Plaid's spec:\n{}",
        c.failures.len(),
        c.checked,
        c.failures.join("\n")
    );
    eprintln!(
        "contract: {} requests accepted by Plaid's spec, every response parsed",
        c.checked
    );
}
