//! The signing secret, kept in Secrets Manager as JSON:
//!
//! ```json
//! {"current": "whsec_<base64>", "previous": "whsec_<base64>"}
//! ```
//!
//! `current` is required; `previous` is optional (absent, null or empty = no rotation under
//! way). Each value is `whsec_<base64 of 24..64 bytes>` or the bare base64 (the template
//! generates 48 letters and digits, which are base64 of 36 bytes). Every delivery is signed with
//! `current`, and also with `previous` while it is set, so a receiver still holding the old
//! secret keeps verifying until it switches (Standard Webhooks' rotation: several `v1,` entries).
//!
//! Read by a cold start's first message and again once the copy is older than `max_age`, so a
//! rotation takes effect within that bound without a redeploy. A failed re-read keeps the keys
//! already held (a Secrets Manager outage must not stop deliveries signed with a valid key) and
//! is retried on the next batch.

use super::sign::{KeyError, SigningKey};
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeys {
    pub current: SigningKey,
    pub previous: Option<SigningKey>,
}

impl SigningKeys {
    /// The keys to sign with, current first.
    pub fn all(&self) -> Vec<&SigningKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .collect()
    }

    /// Parse the secret's JSON (see the module docs).
    pub fn parse(json: &str) -> Result<SigningKeys, SecretError> {
        #[derive(Deserialize)]
        struct Shape {
            current: String,
            #[serde(default)]
            previous: Option<String>,
        }
        let shape: Shape = serde_json::from_str(json).map_err(|_| SecretError::Shape)?;
        let current = SigningKey::parse(&shape.current).map_err(SecretError::Current)?;
        let previous = match shape.previous.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => Some(SigningKey::parse(p).map_err(SecretError::Previous)?),
        };
        Ok(SigningKeys { current, previous })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        r#"the webhook secret is not JSON {{"current": "whsec_...", "previous": "whsec_..."}}"#
    )]
    Shape,
    #[error("the webhook secret's \"current\": {0}")]
    Current(KeyError),
    #[error("the webhook secret's \"previous\": {0}")]
    Previous(KeyError),
    #[error("the webhook secret has no string value")]
    Empty,
    #[error("could not read the webhook secret: {0}")]
    Fetch(String),
}

/// The keys, cached for `max_age`.
pub struct SecretCache {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    max_age: Duration,
    held: Mutex<Option<(SigningKeys, Instant)>>,
}

impl SecretCache {
    pub fn new(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        max_age: Duration,
    ) -> Self {
        SecretCache {
            client,
            secret_id: secret_id.into(),
            max_age,
            held: Mutex::new(None),
        }
    }

    /// The keys held, re-read when older than `max_age`. Errors only when none were ever read.
    pub async fn keys(&self) -> Result<SigningKeys, SecretError> {
        let mut held = self.held.lock().await;
        if let Some((keys, at)) = held.as_ref()
            && at.elapsed() < self.max_age
        {
            return Ok(keys.clone());
        }
        match self.fetch().await {
            Ok(keys) => {
                *held = Some((keys.clone(), Instant::now()));
                Ok(keys)
            }
            Err(e) => match held.as_mut() {
                Some((keys, at)) => {
                    tracing::warn!(error = %e, "could not re-read the outcome webhook secret; signing with the keys held");
                    // Ask again after a short pause, not on every message.
                    *at = Instant::now() - self.max_age + self.max_age.min(RETRY_AFTER_FAILURE);
                    Ok(keys.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn fetch(&self) -> Result<SigningKeys, SecretError> {
        use aws_sdk_secretsmanager::error::DisplayErrorContext;
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| SecretError::Fetch(DisplayErrorContext(e).to_string()))?;
        SigningKeys::parse(out.secret_string().ok_or(SecretError::Empty)?)
    }
}

const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const B: &str = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4";

    #[test]
    fn current_alone_or_with_previous() {
        let one = SigningKeys::parse(&format!(r#"{{"current":"{A}"}}"#)).unwrap();
        assert_eq!(one.all().len(), 1);
        for no_rotation in [r#","previous":null"#, r#","previous":"""#] {
            let k = SigningKeys::parse(&format!(r#"{{"current":"{A}"{no_rotation}}}"#)).unwrap();
            assert_eq!(k.previous, None);
        }
        let two = SigningKeys::parse(&format!(r#"{{"current":"{B}","previous":"{A}"}}"#)).unwrap();
        assert_eq!(
            two.all(),
            vec![
                &SigningKey::parse(B).unwrap(),
                &SigningKey::parse(A).unwrap()
            ]
        );
    }

    #[test]
    fn wrong_shapes_are_named_without_echoing_the_value() {
        assert_eq!(SigningKeys::parse(A), Err(SecretError::Shape));
        assert_eq!(
            SigningKeys::parse(r#"{"previous":"x"}"#),
            Err(SecretError::Shape)
        );
        let bad = SigningKeys::parse(&format!(r#"{{"current":"{A}","previous":"whsec_AAAA"}}"#));
        assert_eq!(bad, Err(SecretError::Previous(KeyError::Length(3))));
        assert!(!bad.unwrap_err().to_string().contains("AAAA"));
    }
}
