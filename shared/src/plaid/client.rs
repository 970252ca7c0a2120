//! The Plaid HTTP client (reqwest + rustls).
//! OWNER: helper "plaid-client" fills this in; the signatures are the contract.

use crate::credentials::CredentialsProvider;
use crate::ids::IdvId;
use crate::plaid::error::PlaidError;
use crate::plaid::types::*;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request timeout of one attempt.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts for calls that are safe to repeat (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, with full jitter, capped at `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(2),
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }
}

#[derive(Clone)]
pub struct PlaidClient {
    _private: (),
}

impl PlaidClient {
    pub fn new(
        _base_url: url::Url,
        _credentials: Arc<CredentialsProvider>,
        _options: ClientOptions,
    ) -> Result<Self, PlaidError> {
        todo!()
    }

    /// `/identity_verification/create`; retried only when `req.is_idempotent`.
    pub async fn create(&self, _req: &CreateRequest) -> Result<IdentityVerification, PlaidError> {
        todo!()
    }

    pub async fn get(&self, _id: &IdvId) -> Result<IdentityVerification, PlaidError> {
        todo!()
    }

    pub async fn list(&self, _req: &ListRequest) -> Result<ListResponse, PlaidError> {
        todo!()
    }

    /// `/identity_verification/retry`: never retried (each call makes a new session).
    pub async fn retry(&self, _req: &RetryRequest) -> Result<IdentityVerification, PlaidError> {
        todo!()
    }

    pub async fn link_token_create(
        &self,
        _req: &LinkTokenCreateRequest,
    ) -> Result<LinkTokenCreateResponse, PlaidError> {
        todo!()
    }

    pub async fn webhook_verification_key_get(
        &self,
        _key_id: &str,
    ) -> Result<JwkPublicKey, PlaidError> {
        todo!()
    }
}
