//! Webhook signing keys and the `Plaid-Verification` JWT (ES256, `{iat, request_body_sha256}`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::{Signature, SigningKey, signature::Signer as _};
use p256::elliptic_curve::Generate as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Could not make a key (the OS random source failed).
#[derive(Debug, thiserror::Error)]
#[error("could not generate a P-256 key: {0}")]
pub struct KeyGenError(String);

/// One P-256 key pair with the metadata `/webhook_verification_key/get` reports.
pub struct WebhookKey {
    pub kid: String,
    signing: SigningKey,
    pub created_at: i64,
    pub expired_at: Option<i64>,
}

impl std::fmt::Debug for WebhookKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("expired_at", &self.expired_at)
            .finish_non_exhaustive()
    }
}

/// `JWKPublicKey` exactly as Plaid serialises it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Jwk {
    pub alg: String,
    pub created_at: i64,
    pub crv: String,
    pub expired_at: Option<i64>,
    pub kid: String,
    pub kty: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub x: String,
    pub y: String,
}

impl WebhookKey {
    pub fn generate(now: i64) -> Result<Self, KeyGenError> {
        let signing = SigningKey::try_generate().map_err(|e| KeyGenError(e.to_string()))?;
        Ok(Self {
            kid: super::ids::uuid_v4(),
            signing,
            created_at: now,
            expired_at: None,
        })
    }

    pub fn jwk(&self) -> Jwk {
        let point = self.signing.verifying_key().to_sec1_point(false);
        // An uncompressed SEC1 point always carries both coordinates.
        let x = point
            .x()
            .map(|x| URL_SAFE_NO_PAD.encode(x))
            .unwrap_or_default();
        let y = point
            .y()
            .map(|y| URL_SAFE_NO_PAD.encode(y))
            .unwrap_or_default();
        Jwk {
            alg: "ES256".into(),
            created_at: self.created_at,
            crv: "P-256".into(),
            expired_at: self.expired_at,
            kid: self.kid.clone(),
            kty: "EC".into(),
            use_: "sig".into(),
            x,
            y,
        }
    }

    /// The compact JWS Plaid puts in `Plaid-Verification` for `body` (the exact bytes sent).
    pub fn sign_webhook(&self, body: &[u8], iat: i64) -> String {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            kid: &'a str,
            typ: &'a str,
        }
        #[derive(Serialize)]
        struct Claims {
            iat: i64,
            request_body_sha256: String,
        }
        let header = Header {
            alg: "ES256",
            kid: &self.kid,
            typ: "JWT",
        };
        let claims = Claims {
            iat,
            request_body_sha256: body_sha256_hex(body),
        };
        // Serialising these two plain structs cannot fail.
        let header = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap_or_default());
        let claims = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{claims}");
        // JOSE ES256 is the raw 64-byte r||s, not DER.
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(signature.to_bytes());
        format!("{signing_input}.{signature}")
    }
}

pub fn body_sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Every key ever issued (old ones stay fetchable after a rotation); the last one signs.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<WebhookKey>,
}

impl KeyRing {
    pub fn new(now: i64) -> Result<Self, KeyGenError> {
        Ok(Self {
            keys: vec![WebhookKey::generate(now)?],
        })
    }

    pub fn current(&self) -> &WebhookKey {
        // `new` starts with one key and keys are never removed.
        &self.keys[self.keys.len() - 1]
    }

    pub fn get(&self, kid: &str) -> Option<&WebhookKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn rotate(&mut self, now: i64) -> Result<&WebhookKey, KeyGenError> {
        self.keys.push(WebhookKey::generate(now)?);
        Ok(self.current())
    }

    pub fn expire(&mut self, kid: &str, now: i64) -> Option<&WebhookKey> {
        let key = self.keys.iter_mut().find(|k| k.kid == kid)?;
        key.expired_at.get_or_insert(now);
        Some(key)
    }

    pub fn all(&self) -> impl Iterator<Item = &WebhookKey> {
        self.keys.iter()
    }
}
