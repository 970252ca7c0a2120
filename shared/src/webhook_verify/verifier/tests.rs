use super::*;
use crate::webhook_verify::find_header;
use crate::webhook_verify::testutil::{
    Answer, BODY, CountingFetcher, KID_A, KID_FORGED, KID_NEW, KID_OLD, KID_REVOKED, KID_UNKNOWN,
    TestKey, b64, now, random_kid,
};
use chrono::TimeDelta;
use hmac::{KeyInit, Mac};
use p256::ecdsa::Signature;
use p256::ecdsa::signature::Signer as _;
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn setup(kid: &str) -> (TestKey, WebhookVerifier<CountingFetcher>) {
    let key = TestKey::new(kid);
    let verifier = WebhookVerifier::new(CountingFetcher::new().with_key(&key));
    (key, verifier)
}

async fn verify(
    v: &WebhookVerifier<CountingFetcher>,
    token: &str,
    body: &[u8],
) -> Result<Verified, VerifyError> {
    v.verify_detailed(Some(token), body, now()).await
}

fn claims_for(body: &[u8], iat: i64) -> String {
    format!(
        r#"{{"iat":{iat},"request_body_sha256":"{}"}}"#,
        hex::encode(Sha256::digest(body))
    )
}

// ---- acceptance ----

#[tokio::test]
async fn a_valid_delivery_verifies() {
    let (key, v) = setup(KID_A);
    let token = key.token(BODY, now().timestamp() - 10);
    assert_eq!(
        verify(&v, &token, BODY).await,
        Ok(Verified {
            kid: KID_A.into(),
            iat: now().timestamp() - 10
        })
    );
    assert_eq!(v.verify(Some(&token), BODY, now()).await, Ok(()));
    // The second verification came from the cache.
    assert_eq!(v.fetcher().calls(), 1);
}

#[tokio::test]
async fn header_is_found_whatever_its_case() {
    let (key, v) = setup(KID_A);
    let token = key.token(BODY, now().timestamp());
    for name in [
        "PLAID-VERIFICATION",
        "Plaid-Verification",
        "plaid-verification",
    ] {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            http::HeaderValue::from_str(&token).expect("value"),
        );
        headers.insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        assert_eq!(find_header(&headers), Some(token.as_str()), "{name}");
        assert_eq!(
            v.verify(find_header(&headers), BODY, now()).await,
            Ok(()),
            "{name}"
        );
    }
    let mut other = http::HeaderMap::new();
    other.insert("plaid-verification-x", http::HeaderValue::from_static("x"));
    assert_eq!(find_header(&other), None);
}

#[tokio::test]
async fn uppercase_body_hash_is_accepted() {
    let (key, v) = setup(KID_A);
    let claims = format!(
        r#"{{"iat":{},"request_body_sha256":"{}"}}"#,
        now().timestamp(),
        hex::encode_upper(Sha256::digest(BODY))
    );
    let token = key.sign(&key.header(), &claims);
    assert!(verify(&v, &token, BODY).await.is_ok());
}

#[tokio::test]
async fn high_s_signatures_are_accepted() {
    // (r, n - s) is the other valid signature for the same message; JOSE does not ask
    // for low-S, so a signer that never normalises must still verify.
    let (key, v) = setup(KID_A);
    let input = format!(
        "{}.{}",
        b64(key.header().as_bytes()),
        b64(claims_for(BODY, now().timestamp()).as_bytes())
    );
    let sig: Signature = key.signing.sign(input.as_bytes());
    let (r, s) = sig.split_scalars();
    let flipped =
        Signature::from_scalars(r.to_bytes(), (-*s.as_ref()).to_bytes()).expect("in range");
    for sig in [sig, flipped] {
        let token = format!("{input}.{}", b64(&sig.to_bytes()));
        assert!(verify(&v, &token, BODY).await.is_ok());
    }
}

#[tokio::test]
async fn key_rotation_fetches_a_new_kid_once_then_caches_it() {
    let old = TestKey::new(KID_OLD);
    let new = TestKey::new(KID_NEW);
    let v = WebhookVerifier::new(CountingFetcher::new().with_key(&old).with_key(&new));
    let t = now().timestamp();
    assert!(verify(&v, &old.token(BODY, t), BODY).await.is_ok());
    assert!(verify(&v, &new.token(BODY, t), BODY).await.is_ok());
    assert!(verify(&v, &new.token(BODY, t), BODY).await.is_ok());
    assert_eq!(v.fetcher().calls_for(KID_NEW), 1);
    // A signature by the old key under the new kid is still refused.
    let forged = old.sign(&new.header(), &claims_for(BODY, t));
    assert_eq!(
        verify(&v, &forged, BODY).await,
        Err(VerifyError::BadSignature)
    );
}

#[tokio::test]
async fn rotation_rechecks_old_keys_and_notices_their_expiry() {
    let old = TestKey::new(KID_OLD);
    let new = TestKey::new(KID_NEW);
    let v = WebhookVerifier::new(CountingFetcher::new().with_key(&old).with_key(&new));
    let t = now().timestamp();
    assert!(verify(&v, &old.token(BODY, t), BODY).await.is_ok());
    // Plaid retires the old key and starts signing with the new one.
    let mut retired = old.jwk();
    retired.expired_at = Some(t);
    v.fetcher().set(KID_OLD, Answer::Key(retired));
    assert!(verify(&v, &new.token(BODY, t), BODY).await.is_ok());
    assert_eq!(
        verify(&v, &old.token(BODY, t), BODY).await,
        Err(VerifyError::ExpiredKey)
    );
    assert_eq!(v.fetcher().calls_for(KID_OLD), 2);
    // And the expired state is cached in its turn.
    assert_eq!(
        verify(&v, &old.token(BODY, t), BODY).await,
        Err(VerifyError::ExpiredKey)
    );
    assert_eq!(v.fetcher().calls_for(KID_OLD), 2);
}

#[tokio::test]
async fn cached_keys_are_refetched_after_their_ttl() {
    let (key, v) = setup(KID_A);
    let t0 = now();
    let later = t0 + TimeDelta::hours(24);
    let ok_at = |t: DateTime<Utc>| key.token(BODY, t.timestamp());
    assert!(v.verify(Some(&ok_at(t0)), BODY, t0).await.is_ok());
    let almost = later - TimeDelta::seconds(1);
    assert!(v.verify(Some(&ok_at(almost)), BODY, almost).await.is_ok());
    assert_eq!(v.fetcher().calls(), 1);
    let mut expired = key.jwk();
    expired.expired_at = Some(later.timestamp());
    v.fetcher().set(KID_A, Answer::Key(expired));
    assert_eq!(
        v.verify(Some(&ok_at(later)), BODY, later).await,
        Err(VerifyError::ExpiredKey)
    );
    assert_eq!(v.fetcher().calls(), 2);
}

// Paused time: the fetch's sleep only ends once every task is parked, so all twenty are
// certainly waiting on the one fetch, not served from the cache after it.
#[tokio::test(start_paused = true)]
async fn twenty_concurrent_webhooks_with_a_new_kid_make_one_fetch() {
    twenty_concurrent(Duration::from_millis(50)).await;
}

// The same across worker threads, where the lock and the channel really race.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_webhooks_across_threads_make_one_fetch() {
    twenty_concurrent(Duration::from_millis(200)).await;
}

async fn twenty_concurrent(delay: Duration) {
    let key = TestKey::new(KID_NEW);
    let v = Arc::new(WebhookVerifier::new(
        CountingFetcher::slow(delay).with_key(&key),
    ));
    let token = key.token(BODY, now().timestamp());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (v, token) = (Arc::clone(&v), token.clone());
        tasks.spawn(async move { v.verify(Some(&token), BODY, now()).await });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.len(), 20);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(v.fetcher().calls(), 1);
}

// ---- rejection ----

#[tokio::test]
async fn missing_header() {
    let (_, v) = setup(KID_A);
    assert_eq!(
        v.verify(None, BODY, now()).await,
        Err(VerifyError::MissingHeader)
    );
    assert_eq!(
        v.verify(Some(""), BODY, now()).await,
        Err(VerifyError::MissingHeader)
    );
    assert_eq!(find_header(&http::HeaderMap::new()), None);
    assert_eq!(v.fetcher().calls(), 0);
}

#[tokio::test]
async fn malformed_tokens() {
    let (key, v) = setup(KID_A);
    let good = key.token(BODY, now().timestamp());
    let (hp, s) = good.rsplit_once('.').expect("dot");
    let (h, p) = hp.split_once('.').expect("dot");
    for bad in [
        hp.to_string(),                           // two segments
        format!("{h}.{p}.{s}.{s}"),               // four
        format!("{h}!.{p}.{s}"),                  // bad base64
        format!("{}.{p}.{s}", b64(b"not json")),  // non-JSON header
        format!("{h}.{}.{s}", &p[..p.len() - 1]), // truncated payload
        "a".repeat(5000),                         // oversized
    ] {
        assert!(
            matches!(verify(&v, &bad, BODY).await, Err(VerifyError::Malformed(_))),
            "{bad:?}"
        );
    }
    assert_eq!(v.fetcher().calls(), 0);
}

#[tokio::test]
async fn alg_none_is_refused_before_any_fetch() {
    let (key, v) = setup(KID_A);
    let claims = claims_for(BODY, now().timestamp());
    let header = &format!(r#"{{"alg":"none","kid":"{KID_A}","typ":"JWT"}}"#);
    for sig in ["", "AAAA"] {
        let token = format!(
            "{}.{}.{sig}",
            b64(header.as_bytes()),
            b64(claims.as_bytes())
        );
        assert!(verify(&v, &token, BODY).await.is_err());
    }
    // Signed properly with ES256, but the header says none.
    let token = key.sign(header, &claims);
    assert_eq!(
        verify(&v, &token, BODY).await,
        Err(VerifyError::UnsupportedAlgorithm)
    );
    assert_eq!(v.fetcher().calls(), 0);
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    // The classic confusion: HMAC keyed with the public key, which anyone can download.
    let (key, v) = setup(KID_A);
    let jwk = key.jwk();
    let public = key.signing.verifying_key().to_sec1_bytes();
    let claims = claims_for(BODY, now().timestamp());
    for (alg, secret) in [
        ("HS256", public.to_vec()),
        ("HS256", serde_json::to_vec(&jwk).expect("json")),
        ("ES256", public.to_vec()),
    ] {
        let header = format!(r#"{{"alg":"{alg}","kid":"{KID_A}","typ":"JWT"}}"#);
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&secret).expect("any key length");
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        let expected = if alg == "HS256" {
            VerifyError::UnsupportedAlgorithm
        } else {
            // 32 bytes of MAC where 64 bytes of r||s belong.
            VerifyError::BadSignature
        };
        assert_eq!(verify(&v, &token, BODY).await, Err(expected), "{alg}");
    }
    assert_eq!(v.fetcher().calls(), 0);
}

#[tokio::test]
async fn other_algorithms_are_refused() {
    let (key, v) = setup(KID_A);
    let claims = claims_for(BODY, now().timestamp());
    for alg in ["RS256", "ES384", "es256", "PS256", "EdDSA"] {
        let header = format!(r#"{{"alg":"{alg}","kid":"{KID_A}"}}"#);
        let token = key.sign(&header, &claims);
        assert_eq!(
            verify(&v, &token, BODY).await,
            Err(VerifyError::UnsupportedAlgorithm)
        );
    }
    assert_eq!(v.fetcher().calls(), 0);
}

#[tokio::test]
async fn missing_kid_is_refused_before_any_fetch() {
    let (key, v) = setup(KID_A);
    let token = key.sign(r#"{"alg":"ES256"}"#, &claims_for(BODY, now().timestamp()));
    assert_eq!(verify(&v, &token, BODY).await, Err(VerifyError::MissingKid));
    assert_eq!(v.fetcher().calls(), 0);
}

#[tokio::test]
async fn unknown_kid() {
    let (_, v) = setup(KID_A);
    let stranger = TestKey::new(KID_UNKNOWN);
    let token = stranger.token(BODY, now().timestamp());
    assert_eq!(verify(&v, &token, BODY).await, Err(VerifyError::UnknownKey));
    // Plaid saying so explicitly is the same answer as a kid it has never heard of.
    v.fetcher().set(KID_REVOKED, Answer::Unknown);
    let revoked = TestKey::new(KID_REVOKED).token(BODY, now().timestamp());
    assert_eq!(
        verify(&v, &revoked, BODY).await,
        Err(VerifyError::UnknownKey)
    );
    assert!(!VerifyError::UnknownKey.is_retryable());
}

#[tokio::test]
async fn expired_key() {
    let key = TestKey::new(KID_A);
    let mut jwk = key.jwk();
    jwk.expired_at = Some(now().timestamp() + 3600); // even one dated in the future
    let fetcher = CountingFetcher::new();
    fetcher.set(KID_A, Answer::Key(jwk));
    let v = WebhookVerifier::new(fetcher);
    let token = key.token(BODY, now().timestamp());
    assert_eq!(verify(&v, &token, BODY).await, Err(VerifyError::ExpiredKey));
}

#[tokio::test]
async fn a_key_that_is_not_es256_is_refused() {
    let key = TestKey::new(KID_A);
    let mut jwk = key.jwk();
    jwk.crv = "P-384".into();
    let fetcher = CountingFetcher::new();
    fetcher.set(KID_A, Answer::Key(jwk));
    let v = WebhookVerifier::new(fetcher);
    let token = key.token(BODY, now().timestamp());
    assert_eq!(verify(&v, &token, BODY).await, Err(VerifyError::UnknownKey));
    assert!(!VerifyError::UnknownKey.is_retryable());
}

#[tokio::test]
async fn signature_by_a_different_key() {
    let (key, v) = setup(KID_A);
    let impostor = TestKey::new(KID_A);
    let token = impostor.token(BODY, now().timestamp());
    assert_eq!(
        verify(&v, &token, BODY).await,
        Err(VerifyError::BadSignature)
    );
    // The genuine key still works: a bad signature does not poison the cache.
    assert!(
        verify(&v, &key.token(BODY, now().timestamp()), BODY)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn der_encoded_signature() {
    let (key, v) = setup(KID_A);
    let input = format!(
        "{}.{}",
        b64(key.header().as_bytes()),
        b64(claims_for(BODY, now().timestamp()).as_bytes())
    );
    let sig: Signature = key.signing.sign(input.as_bytes());
    let der = sig.to_der();
    let token = format!("{input}.{}", b64(der.as_bytes()));
    assert_eq!(
        verify(&v, &token, BODY).await,
        Err(VerifyError::BadSignature)
    );
    // The same signature as r||s verifies, so the DER form was refused for its encoding.
    let token = format!("{input}.{}", b64(&sig.to_bytes()));
    assert!(verify(&v, &token, BODY).await.is_ok());
}

#[tokio::test]
async fn tampered_claims_break_the_signature() {
    let (key, v) = setup(KID_A);
    let token = key.token(BODY, now().timestamp() - 200);
    let (h, rest) = token.split_once('.').expect("dot");
    let (_, s) = rest.split_once('.').expect("dot");
    let fresher = b64(claims_for(BODY, now().timestamp()).as_bytes());
    let tampered = format!("{h}.{fresher}.{s}");
    assert_eq!(
        verify(&v, &tampered, BODY).await,
        Err(VerifyError::BadSignature)
    );
}

#[tokio::test]
async fn body_changed_by_one_byte() {
    let (key, v) = setup(KID_A);
    let token = key.token(BODY, now().timestamp());
    for i in [0, BODY.len() / 2, BODY.len() - 1] {
        let mut body = BODY.to_vec();
        body[i] ^= 0x01;
        assert_eq!(
            verify(&v, &token, &body).await,
            Err(VerifyError::BodyMismatch)
        );
    }
    let mut longer = BODY.to_vec();
    longer.push(b'\n');
    assert_eq!(
        verify(&v, &token, &longer).await,
        Err(VerifyError::BodyMismatch)
    );
    // Re-serialised JSON (compact) is a different body to Plaid's hash.
    let value: serde_json::Value = serde_json::from_slice(BODY).expect("json");
    let compact = serde_json::to_vec(&value).expect("json");
    assert_eq!(
        verify(&v, &token, &compact).await,
        Err(VerifyError::BodyMismatch)
    );
}

#[tokio::test]
async fn stale_and_future_iat() {
    let (key, v) = setup(KID_A);
    let t = now().timestamp();
    assert!(verify(&v, &key.token(BODY, t - 300), BODY).await.is_ok());
    assert_eq!(
        verify(&v, &key.token(BODY, t - 301), BODY).await,
        Err(VerifyError::Stale)
    );
    assert!(verify(&v, &key.token(BODY, t + 60), BODY).await.is_ok());
    assert_eq!(
        verify(&v, &key.token(BODY, t + 61), BODY).await,
        Err(VerifyError::FromTheFuture)
    );
    assert_eq!(
        verify(&v, &key.token(BODY, t + 86_400), BODY).await,
        Err(VerifyError::FromTheFuture)
    );
}

#[tokio::test]
async fn freshness_limits_follow_the_options() {
    let key = TestKey::new(KID_A);
    let options = VerifierOptions {
        max_token_age: Duration::from_secs(30),
        max_clock_skew: Duration::from_secs(5),
        ..VerifierOptions::default()
    };
    let v = WebhookVerifier::with_options(CountingFetcher::new().with_key(&key), options);
    let t = now().timestamp();
    assert!(verify(&v, &key.token(BODY, t - 30), BODY).await.is_ok());
    assert_eq!(
        verify(&v, &key.token(BODY, t - 31), BODY).await,
        Err(VerifyError::Stale)
    );
    assert_eq!(
        verify(&v, &key.token(BODY, t + 6), BODY).await,
        Err(VerifyError::FromTheFuture)
    );
}

#[tokio::test]
async fn missing_or_garbage_claims() {
    let (key, v) = setup(KID_A);
    let t = now().timestamp();
    let digest = hex::encode(Sha256::digest(BODY));
    for claims in [
        format!(r#"{{"iat":{t}}}"#),
        format!(
            r#"{{"iat":{t},"request_body_sha256":"zz{}"}}"#,
            &digest[2..]
        ),
        format!(r#"{{"iat":{t},"request_body_sha256":"{}"}}"#, &digest[..63]),
        format!(r#"{{"iat":{t},"request_body_sha256":null}}"#),
        format!(r#"{{"request_body_sha256":"{digest}"}}"#),
        format!(r#"{{"iat":"{t}","request_body_sha256":"{digest}"}}"#),
        "[]".to_string(),
        "not json".to_string(),
    ] {
        let token = key.sign(&key.header(), &claims);
        assert!(
            matches!(
                verify(&v, &token, BODY).await,
                Err(VerifyError::Malformed(_))
            ),
            "{claims}"
        );
    }
    // A well-formed digest of something else.
    let other = format!(
        r#"{{"iat":{t},"request_body_sha256":"{}"}}"#,
        hex::encode(Sha256::digest(b"other"))
    );
    let token = key.sign(&key.header(), &other);
    assert_eq!(
        verify(&v, &token, BODY).await,
        Err(VerifyError::BodyMismatch)
    );
}

#[tokio::test]
async fn key_unavailable_is_retryable_and_not_cached() {
    let key = TestKey::new(KID_A);
    let fetcher = CountingFetcher::new();
    fetcher.set(KID_A, Answer::Unavailable);
    let v = WebhookVerifier::new(fetcher);
    let token = key.token(BODY, now().timestamp());
    let err = verify(&v, &token, BODY).await.expect_err("unavailable");
    assert!(matches!(err, VerifyError::KeyUnavailable(_)));
    assert!(err.is_retryable());
    assert_eq!(v.fetcher().calls(), 1);
    // Plaid is back: the next delivery fetches again and verifies.
    v.fetcher().set(KID_A, Answer::Key(key.jwk()));
    assert!(verify(&v, &token, BODY).await.is_ok());
    assert_eq!(v.fetcher().calls(), 2);
}

#[tokio::test]
async fn unknown_kid_is_negatively_cached_for_the_configured_window() {
    let (_, v) = setup(KID_A);
    let stranger = TestKey::new(KID_FORGED);
    let t0 = now();
    let token = stranger.token(BODY, t0.timestamp());
    assert_eq!(
        v.verify(Some(&token), BODY, t0).await,
        Err(VerifyError::UnknownKey)
    );
    let t1 = t0 + TimeDelta::seconds(59);
    assert_eq!(
        v.verify(Some(&token), BODY, t1).await,
        Err(VerifyError::UnknownKey)
    );
    assert_eq!(v.fetcher().calls(), 1);
    // After the window Plaid is asked again, and a key published meanwhile is found.
    v.fetcher().set(KID_FORGED, Answer::Key(stranger.jwk()));
    let t2 = t0 + TimeDelta::seconds(60);
    assert_eq!(v.verify(Some(&token), BODY, t2).await, Ok(()));
    assert_eq!(v.fetcher().calls(), 2);
}

// ---- forged traffic must not drive calls to Plaid (issue #12) ----

#[tokio::test]
async fn a_kid_that_is_not_a_plaid_uuid_is_refused_before_any_fetch() {
    let v = WebhookVerifier::new(CountingFetcher::new());
    let t = now().timestamp();
    for kid in [
        "kid-a",
        "BFBD5111-8E33-4643-8CED-B2E642A72F3C", // upper case: not the form Plaid issues
        "Bfbd5111-8e33-4643-8ced-b2e642a72f3c",
        "bfbd51118e3346438cedb2e642a72f3c", // no hyphens
        "{bfbd5111-8e33-4643-8ced-b2e642a72f3c}",
        "urn:uuid:bfbd5111-8e33-4643-8ced-b2e642a72f3c",
        "bfbd5111-8e33-4643-8ced-b2e642a72f3c ",
        " bfbd5111-8e33-4643-8ced-b2e642a72f3c",
        "bfbd5111-8e33-4643-8ced-b2e642a72f3c0",
        "bfbd5111-8e33-4643-8ced-b2e642a72f3",
        "bfbd5111-8e334-643-8ced-b2e642a72f3c",
        "gfbd5111-8e33-4643-8ced-b2e642a72f3c",
        "bfbd5111_8e33_4643_8ced_b2e642a72f3c",
        "../../webhook_verification_key/get",
        "bfbd5111-8e33-4643-8ced-b2e642a72f3\u{0441}",
    ] {
        let key = TestKey::new(kid);
        let got = verify(&v, &key.token(BODY, t), BODY).await;
        assert_eq!(got, Err(VerifyError::BadKid), "{kid}");
    }
    assert_eq!(
        v.fetcher().calls(),
        0,
        "no key fetch for a kid Plaid never issues"
    );
}

#[tokio::test]
async fn forty_forgeries_with_fresh_kids_cost_at_most_ten_fetches() {
    let v = WebhookVerifier::new(CountingFetcher::new());
    let t = now().timestamp();
    let mut answers = Vec::new();
    for _ in 0..40 {
        let forger = TestKey::new(&random_kid());
        answers.push(verify(&v, &forger.token(BODY, t), BODY).await);
    }
    assert_eq!(answers.len(), 40);
    assert!(
        answers
            .iter()
            .all(|a| a.as_ref().is_err_and(|e| !e.is_retryable())),
        "{answers:?}"
    );
    assert_eq!(
        v.fetcher().calls(),
        10,
        "the budget, not one fetch per forgery"
    );
    let over = answers
        .iter()
        .filter(|a| **a == Err(VerifyError::FetchBudgetSpent))
        .count();
    assert_eq!(over, 30);
}

#[tokio::test]
async fn the_budget_refills_over_a_sliding_minute_and_cached_kids_never_use_it() {
    let genuine = TestKey::new(KID_A);
    let rotated = TestKey::new(KID_NEW);
    let v = WebhookVerifier::new(CountingFetcher::new().with_key(&genuine).with_key(&rotated));
    // The instance verified a genuine delivery two minutes ago: its key is cached.
    let warm = now() - TimeDelta::minutes(2);
    assert!(
        v.verify(Some(&genuine.token(BODY, warm.timestamp())), BODY, warm)
            .await
            .is_ok()
    );
    // Ten forgeries, one every second, burn the budget.
    let t0 = now();
    for i in 0..10 {
        let at = t0 + TimeDelta::seconds(i);
        let forged = TestKey::new(&random_kid()).token(BODY, at.timestamp());
        assert!(v.verify(Some(&forged), BODY, at).await.is_err());
    }
    assert_eq!(v.fetcher().calls(), 11);
    let t1 = t0 + TimeDelta::seconds(30);
    // The cached genuine key still verifies, for free.
    assert_eq!(
        v.verify(Some(&genuine.token(BODY, t1.timestamp())), BODY, t1)
            .await,
        Ok(())
    );
    // A genuine new kid is refused without a fetch while the budget is spent (401: Plaid
    // delivers again)...
    let fresh = rotated.token(BODY, t1.timestamp());
    let refused = v.verify(Some(&fresh), BODY, t1).await;
    assert!(
        refused.as_ref().is_err_and(|e| !e.is_retryable()),
        "{refused:?}"
    );
    // ...and so are more forgeries.
    let forged = TestKey::new(&random_kid()).token(BODY, t1.timestamp());
    assert!(v.verify(Some(&forged), BODY, t1).await.is_err());
    assert_eq!(v.fetcher().calls(), 11, "nothing fetched over the budget");
    // Sixty seconds after the first forgery its slot is free again: Plaid's retry of the
    // genuine delivery gets through.
    let t2 = t0 + TimeDelta::seconds(60);
    assert_eq!(
        v.verify(Some(&rotated.token(BODY, t2.timestamp())), BODY, t2)
            .await,
        Ok(())
    );
    assert_eq!(v.fetcher().calls(), 12);
    assert_eq!(v.fetcher().calls_for(KID_NEW), 1);
}

#[test]
fn the_verifier_can_live_in_a_static_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<WebhookVerifier<CountingFetcher>>();
    assert_send_sync::<WebhookVerifier<Arc<CountingFetcher>>>();
    assert_send_sync::<WebhookVerifier<crate::plaid::PlaidClient>>();
}

#[test]
fn verify_futures_are_send() {
    fn assert_send<T: Send>(_: T) {}
    let v = WebhookVerifier::new(CountingFetcher::new());
    assert_send(v.verify(None, b"", now()));
    let p: Option<&WebhookVerifier<crate::plaid::PlaidClient>> = None;
    if let Some(p) = p {
        assert_send(p.verify(None, b"", now()));
    }
}
