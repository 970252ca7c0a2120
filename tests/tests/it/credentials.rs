//! Plaid credentials from Secrets Manager (moto, real SDK) and the cold start that reads them.

use shared::bootstrap::{Budget, app_context_with};
use shared::config::Config;
use shared::credentials::{CredentialsError, CredentialsProvider};
use shared::ids::IdvId;
use shared::plaid::PlaidError;
use std::time::Duration;
use testkit::localstack::{aws_config, create_plaid_secret};

fn secrets(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(sdk)
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", fastrand::u64(..))
}

/// Both constructors: with a client, and with the client built by the first read (what the
/// functions use, `bootstrap::app_context`).
#[tokio::test]
async fn reads_and_caches_the_secret() {
    let sdk = aws_config().await;
    for lazy in [false, true] {
        let id = unique("plaid/creds");
        create_plaid_secret(&secrets(&sdk), &id, "client-1", "secret-1")
            .await
            .unwrap();
        let ttl = Duration::from_secs(600);
        let provider = if lazy {
            CredentialsProvider::secrets_manager_from(&sdk, id.clone(), ttl)
        } else {
            CredentialsProvider::secrets_manager(secrets(&sdk), id.clone(), ttl)
        };
        let first = provider.get().await.unwrap();
        assert_eq!(first.client_id, "client-1");

        // Rotated in Secrets Manager: the cache still serves the old value until invalidated…
        secrets(&sdk)
            .put_secret_value()
            .secret_id(&id)
            .secret_string(r#"{"client_id":"client-2","secret":"secret-2"}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(provider.get().await.unwrap().client_id, "client-1");
        // …which is what the Plaid client does when Plaid answers INVALID_API_KEYS.
        provider.invalidate().await;
        assert_eq!(
            provider.get().await.unwrap().client_id,
            "client-2",
            "lazy: {lazy}"
        );
    }
}

#[tokio::test]
async fn a_short_ttl_picks_up_rotation_by_itself() {
    let sdk = aws_config().await;
    let id = unique("plaid/ttl");
    create_plaid_secret(&secrets(&sdk), &id, "old", "s")
        .await
        .unwrap();
    let provider =
        CredentialsProvider::secrets_manager(secrets(&sdk), id.clone(), Duration::from_millis(200));
    assert_eq!(provider.get().await.unwrap().client_id, "old");
    secrets(&sdk)
        .put_secret_value()
        .secret_id(&id)
        .secret_string(r#"{"client_id":"new","secret":"s"}"#)
        .send()
        .await
        .unwrap();
    // Past the TTL the next read goes back to Secrets Manager: poll (each read is a cache hit
    // or a fetch), with a deadline far beyond the TTL.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let seen = provider.get().await.unwrap().client_id;
        if seen == "new" {
            break;
        }
        assert_eq!(seen, "old");
        assert!(
            std::time::Instant::now() < deadline,
            "the rotation was not picked up long after the 200 ms TTL"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_missing_secret_is_named() {
    let sdk = aws_config().await;
    let provider = CredentialsProvider::secrets_manager(
        secrets(&sdk),
        "plaid/does-not-exist",
        Duration::from_secs(60),
    );
    let err = provider.get().await.unwrap_err();
    assert!(matches!(err, CredentialsError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("plaid/does-not-exist"), "{err}");
}

#[tokio::test]
async fn a_malformed_secret_is_named_without_its_content() {
    let sdk = aws_config().await;
    let id = unique("plaid/bad");
    secrets(&sdk)
        .create_secret()
        .name(&id)
        .secret_string(r#"{"client_id":"abc","secret_typo":"hunter2"}"#)
        .send()
        .await
        .unwrap();
    let provider =
        CredentialsProvider::secrets_manager(secrets(&sdk), id.clone(), Duration::from_secs(60));
    let err = provider.get().await.unwrap_err();
    assert!(matches!(err, CredentialsError::Malformed { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains(&id));
    assert!(
        !text.contains("hunter2"),
        "the secret's content leaked: {text}"
    );
}

fn config(secret_id: &str) -> Config {
    let secret_id = secret_id.to_owned();
    Config::from_lookup(move |k| match k {
        "TABLE_NAME" => Some("sessions".into()),
        "PLAID_SECRET_ID" => Some(secret_id.clone()),
        "IDV_TEMPLATE_ID" => Some("idvtmp_1".into()),
        "PLAID_BASE_URL" => Some("http://127.0.0.1:9".into()),
        _ => None,
    })
    .unwrap()
}

/// The secret is read in the background (`bootstrap::prefetch`): a missing one does not stop the
/// cold start, and a request that needs Plaid gets the error that names the secret.
#[tokio::test]
async fn an_unreadable_secret_fails_the_requests_that_need_plaid_clearly() {
    let sdk = aws_config().await;
    let ctx = app_context_with(
        config("plaid/missing-at-startup"),
        &sdk,
        Budget::Api.plaid_options(),
    )
    .await
    .expect("the cold start does not wait for the secret");
    let err = ctx
        .plaid
        .get(&IdvId::parse("idv_missing_secret").unwrap())
        .await
        .expect_err("no credentials, no Plaid call");
    assert!(
        matches!(
            err,
            PlaidError::Credentials(CredentialsError::NotFound { .. })
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("plaid/missing-at-startup"),
        "{err}"
    );
}

#[tokio::test]
async fn cold_start_succeeds_with_a_good_secret() {
    let sdk = aws_config().await;
    let id = unique("plaid/good");
    create_plaid_secret(&secrets(&sdk), &id, "c", "s")
        .await
        .unwrap();
    let ctx = app_context_with(config(&id), &sdk, Budget::Api.plaid_options())
        .await
        .unwrap();
    assert_eq!(ctx.config.plaid_secret_id, id);
}
