//! `WebhookVerifier::verify` on a warm container: the key is cached, so this is the whole cost
//! a webhook pays for verification (parse, ES256 verify, SHA-256 of a 1 KB body).
//! Target (the design's performance targets, the constants in tests/bench/report.py): ≤ 100 µs, floor 200 µs.
//!
//! `cargo bench -p shared --bench verify` (add `-- --warm-up-time 1 --measurement-time 2` for a
//! quick look).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate as _;
use sha2::{Digest, Sha256};
use shared::plaid::types::JwkPublicKey;
use shared::webhook_verify::{KeyFetchError, KeyFetcher, WebhookVerifier};
use std::hint::black_box;

struct OneKey(JwkPublicKey);

impl KeyFetcher for OneKey {
    async fn fetch_key(&self, _kid: &str) -> Result<JwkPublicKey, KeyFetchError> {
        Ok(self.0.clone())
    }
}

/// About 1 KB of JSON, pretty-printed with a 2-space indent as Plaid sends it.
fn body() -> Vec<u8> {
    let steps: serde_json::Map<String, serde_json::Value> = (0..24)
        .map(|i| (format!("step_{i:02}_name"), serde_json::json!("success")))
        .collect();
    let value = serde_json::json!({
        "environment": "sandbox",
        "identity_verification_id": "idv_52xR9LKo77r1Np",
        "webhook_code": "STATUS_UPDATED",
        "webhook_type": "IDENTITY_VERIFICATION",
        "steps": steps,
    });
    let mut body = serde_json::to_vec_pretty(&value).expect("json");
    body.truncate(1024.min(body.len()));
    body
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn bench_verify(c: &mut Criterion) {
    let signing = SigningKey::generate();
    let point = signing.verifying_key().to_sec1_point(false);
    let kid = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";
    let jwk = JwkPublicKey {
        alg: "ES256".into(),
        kid: kid.into(),
        kty: "EC".into(),
        crv: "P-256".into(),
        x: b64(&point.as_bytes()[1..33]),
        y: b64(&point.as_bytes()[33..65]),
        use_: "sig".into(),
        created_at: 1_560_466_150,
        expired_at: None,
    };
    let body = body();
    let now: DateTime<Utc> = Utc::now();
    let header = format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"JWT"}}"#);
    let claims = format!(
        r#"{{"iat":{},"request_body_sha256":"{}"}}"#,
        now.timestamp(),
        hex::encode(Sha256::digest(&body))
    );
    let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let sig: Signature = signing.sign(input.as_bytes());
    let token = format!("{input}.{}", b64(&sig.to_bytes()));

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let verifier = WebhookVerifier::new(OneKey(jwk));
    // Warm the cache, and make sure we measure a success, not a fast rejection.
    rt.block_on(verifier.verify(Some(&token), &body, now))
        .expect("the benchmark token verifies");

    let mut group = c.benchmark_group("webhook_verify");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify_cached_key_1k_body", |b| {
        b.iter(|| {
            rt.block_on(verifier.verify(
                black_box(Some(token.as_str())),
                black_box(&body),
                black_box(now),
            ))
        })
    });
    // Where the time goes: the ECDSA verification alone (aws-lc-rs, what the verifier uses; and
    // the pure-Rust p256 for comparison), and the body hash alone.
    let point = signing.verifying_key().to_sec1_point(false);
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        point.as_bytes(),
    )
    .expect("valid key");
    let sig_bytes = sig.to_bytes();
    group.bench_function("aws_lc_ecdsa_verify_only", |b| {
        b.iter(|| parsed.verify_sig(black_box(input.as_bytes()), black_box(&sig_bytes)))
    });
    let vk = *signing.verifying_key();
    group.bench_function("p256_ecdsa_verify_only", |b| {
        use p256::ecdsa::signature::Verifier as _;
        b.iter(|| vk.verify(black_box(input.as_bytes()), black_box(&sig)))
    });
    group.bench_function("sha256_body_only", |b| {
        b.iter(|| Sha256::digest(black_box(&body)))
    });
    group.finish();
}

criterion_group!(benches, bench_verify);
criterion_main!(benches);
