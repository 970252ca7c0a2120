//! `/webhook_verification_key/get`.

use serde::{Deserialize, Serialize};

/// `WebhookVerificationKeyGetRequest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookVerificationKeyGetRequest {
    pub key_id: String,
}

/// `JWKPublicKey`: an EC P-256 public key; `x`/`y` are unpadded base64url coordinates and
/// `created_at`/`expired_at` Unix seconds (`expired_at` null while the key is current).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct JwkPublicKey {
    pub alg: String,
    pub kid: String,
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub created_at: i64,
    #[serde(default)]
    pub expired_at: Option<i64>,
}

/// `WebhookVerificationKeyGetResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WebhookVerificationKeyGetResponse {
    pub key: JwkPublicKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
