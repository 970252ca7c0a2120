//! Verification of Plaid's `Plaid-Verification` webhook JWT (ES256), every step, in order.
//! OWNER: helper "webhook-verify" fills this in; the signatures are the contract.

mod plaid_keys;

use crate::plaid::types::JwkPublicKey;
use chrono::{DateTime, Utc};
use std::future::Future;

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyFetchError {
    /// Plaid says there is no such key (INVALID_WEBHOOK_VERIFICATION_KEY_ID): reject (401).
    #[error("no such webhook verification key")]
    UnknownKid,
    /// Plaid unreachable or failing: answer 5xx so that Plaid retries the delivery.
    #[error("webhook verification key unavailable: {0}")]
    Unavailable(String),
}

/// Where keys come from: Plaid's `/webhook_verification_key/get` in production code.
pub trait KeyFetcher: Send + Sync {
    fn fetch_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<JwkPublicKey, KeyFetchError>> + Send;
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing Plaid-Verification header")]
    MissingHeader,
    #[error("malformed verification token: {0}")]
    Malformed(&'static str),
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    #[error("token has no kid")]
    MissingKid,
    #[error("unknown verification key")]
    UnknownKey,
    #[error("verification key has expired")]
    ExpiredKey,
    #[error("bad signature")]
    BadSignature,
    #[error("token is too old")]
    Stale,
    #[error("token is issued in the future")]
    FromTheFuture,
    #[error("body does not match the signed hash")]
    BodyMismatch,
    /// Not the sender's fault: the key could not be fetched. Answer 5xx.
    #[error("verification key could not be fetched: {0}")]
    KeyUnavailable(String),
}

impl VerifyError {
    /// True when the failure is ours (answer 5xx so that Plaid retries); false for 401.
    pub fn is_retryable(&self) -> bool {
        matches!(self, VerifyError::KeyUnavailable(_))
    }
}

pub struct WebhookVerifier<F: KeyFetcher> {
    _fetcher: F,
}

impl<F: KeyFetcher> WebhookVerifier<F> {
    pub fn new(_fetcher: F) -> Self {
        todo!()
    }

    /// Verify a delivery. `header` is the value of `Plaid-Verification` (looked up
    /// case-insensitively by the caller, or use [`find_header`]); `body` the raw body bytes
    /// (base64-decoded already if the event said `isBase64Encoded`).
    pub async fn verify(
        &self,
        _header: Option<&str>,
        _body: &[u8],
        _now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        todo!()
    }
}

/// The `Plaid-Verification` header value from an HTTP header map, whatever its case.
pub fn find_header(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get("plaid-verification")
        .and_then(|v| v.to_str().ok())
}
