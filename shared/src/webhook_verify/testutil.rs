//! Test support: real ES256 keys, tokens signed the way Plaid signs them, and a key fetcher
//! that counts its calls.

use super::{KeyFetchError, KeyFetcher};
use crate::plaid::types::JwkPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::Generate as _;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000, 0)
        .single()
        .expect("valid time")
}

// Key ids in the form Plaid issues them: lower-case UUIDs.
pub const KID_A: &str = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";
pub const KID_OLD: &str = "0b2d6c3e-1f4a-4b5c-8d6e-7f8091a2b3c4";
pub const KID_NEW: &str = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f70819";
pub const KID_UNKNOWN: &str = "11111111-2222-4333-8444-555555555555";
pub const KID_REVOKED: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";
pub const KID_FORGED: &str = "deadbeef-0000-4000-8000-00000000f00d";
pub const KID_P: &str = "01234567-89ab-4cde-8f01-23456789abcd";

/// A fresh random kid of Plaid's shape (a version 4 UUID, lower case), as a forger would mint.
pub fn random_kid() -> String {
    let mut b: [u8; 16] = std::array::from_fn(|_| fastrand::u8(..));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A webhook body the way Plaid sends it: JSON pretty-printed with a 2-space indent.
pub const BODY: &[u8] = b"{\n  \"environment\": \"sandbox\",\n  \"identity_verification_id\": \"idv_52xR9LKo77r1Np\",\n  \"webhook_code\": \"STATUS_UPDATED\",\n  \"webhook_type\": \"IDENTITY_VERIFICATION\"\n}";

pub struct TestKey {
    pub kid: String,
    pub signing: SigningKey,
}

impl TestKey {
    pub fn new(kid: &str) -> Self {
        TestKey {
            kid: kid.to_owned(),
            signing: SigningKey::generate(),
        }
    }

    /// The public half, as the verifier holds it.
    pub fn public(&self) -> super::jwk::VerifyingKey {
        let point = self.signing.verifying_key().to_sec1_point(false);
        super::jwk::VerifyingKey::from_sec1(point.as_bytes()).expect("a valid point")
    }

    /// The key as `/webhook_verification_key/get` returns it.
    pub fn jwk(&self) -> JwkPublicKey {
        let point = self.signing.verifying_key().to_sec1_point(false);
        let bytes = point.as_bytes();
        JwkPublicKey {
            alg: "ES256".into(),
            kid: self.kid.clone(),
            kty: "EC".into(),
            crv: "P-256".into(),
            x: b64(&bytes[1..33]),
            y: b64(&bytes[33..65]),
            use_: "sig".into(),
            created_at: 1_560_466_150,
            expired_at: None,
        }
    }

    /// A token for `body` issued at `iat`, signed by this key.
    pub fn token(&self, body: &[u8], iat: i64) -> String {
        let claims = format!(
            r#"{{"iat":{iat},"request_body_sha256":"{}"}}"#,
            hex::encode(Sha256::digest(body))
        );
        self.sign(&self.header(), &claims)
    }

    pub fn header(&self) -> String {
        format!(r#"{{"alg":"ES256","kid":"{}","typ":"JWT"}}"#, self.kid)
    }

    /// Signs arbitrary header and claims JSON.
    pub fn sign(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", b64(&sig.to_bytes()))
    }
}

/// What the fake Plaid answers for one kid.
#[derive(Clone)]
pub enum Answer {
    Key(JwkPublicKey),
    Unknown,
    Unavailable,
}

/// A [`KeyFetcher`] over a table of answers, counting calls per kid, optionally slow.
#[derive(Default)]
pub struct CountingFetcher {
    answers: Mutex<HashMap<String, Answer>>,
    calls: Mutex<HashMap<String, usize>>,
    total: AtomicUsize,
    delay: Option<Duration>,
}

impl CountingFetcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every fetch sleeps this long first (tokio time, so paused-clock tests are instant).
    pub fn slow(delay: Duration) -> Self {
        CountingFetcher {
            delay: Some(delay),
            ..Self::default()
        }
    }

    pub fn with_key(self, key: &TestKey) -> Self {
        self.set(&key.kid, Answer::Key(key.jwk()));
        self
    }

    pub fn set(&self, kid: &str, answer: Answer) {
        self.answers
            .lock()
            .expect("lock")
            .insert(kid.to_owned(), answer);
    }

    pub fn calls(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    pub fn calls_for(&self, kid: &str) -> usize {
        self.calls
            .lock()
            .expect("lock")
            .get(kid)
            .copied()
            .unwrap_or(0)
    }
}

impl KeyFetcher for CountingFetcher {
    async fn fetch_key(&self, kid: &str) -> Result<JwkPublicKey, KeyFetchError> {
        self.total.fetch_add(1, Ordering::SeqCst);
        *self
            .calls
            .lock()
            .expect("lock")
            .entry(kid.to_owned())
            .or_default() += 1;
        if let Some(d) = self.delay {
            tokio::time::sleep(d).await;
        }
        let answer = self.answers.lock().expect("lock").get(kid).cloned();
        match answer {
            Some(Answer::Key(jwk)) => Ok(jwk),
            Some(Answer::Unavailable) => Err(KeyFetchError::Unavailable("plaid is down".into())),
            Some(Answer::Unknown) | None => Err(KeyFetchError::UnknownKid),
        }
    }
}
