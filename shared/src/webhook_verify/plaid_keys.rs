// Placeholder until helper "webhook-verify" lands the real mapping.
use super::{KeyFetchError, KeyFetcher};
use crate::plaid::PlaidClient;
use crate::plaid::types::JwkPublicKey;

impl KeyFetcher for PlaidClient {
    async fn fetch_key(&self, kid: &str) -> Result<JwkPublicKey, KeyFetchError> {
        self.webhook_verification_key_get(kid)
            .await
            .map_err(|e| KeyFetchError::Unavailable(e.to_string()))
    }
}
