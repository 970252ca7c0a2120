//! Plaid credentials from Secrets Manager, cached per cold start with a TTL.
//! OWNER: helper "plaid-client" fills this in; the signatures are the contract.

use secrecy::SecretString;
use std::time::Duration;

#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub secret: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("secret {secret_id} was not found in Secrets Manager")]
    NotFound { secret_id: String },
    #[error(
        "secret {secret_id} is not JSON of the form {{\"client_id\": \"...\", \"secret\": \"...\"}}: {reason}"
    )]
    Malformed { secret_id: String, reason: String },
    #[error("secret {secret_id} could not be read: {reason}")]
    Unavailable { secret_id: String, reason: String },
}

impl CredentialsError {
    /// Worth retrying later (Secrets Manager unreachable or throttling).
    pub fn is_transient(&self) -> bool {
        matches!(self, CredentialsError::Unavailable { .. })
    }
}

pub struct CredentialsProvider {
    _private: (),
}

impl CredentialsProvider {
    /// Reads `secret_id` from Secrets Manager on first use and after `ttl`.
    pub fn secrets_manager(
        _client: aws_sdk_secretsmanager::Client,
        _secret_id: impl Into<String>,
        _ttl: Duration,
    ) -> Self {
        todo!()
    }

    /// Fixed credentials (tests, tools).
    pub fn fixed(_credentials: Credentials) -> Self {
        todo!()
    }

    /// The cached credentials, fetched when absent or older than the TTL. Concurrent callers
    /// share one fetch.
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        todo!()
    }

    /// Drop the cache (Plaid said INVALID_API_KEYS: the secret was rotated).
    pub async fn invalidate(&self) {
        todo!()
    }
}
