//! Keys from Plaid's `/webhook_verification_key/get`, through the project's [`PlaidClient`].
//!
//! The client is configured for one environment (sandbox or production) and `kid`s are
//! per-environment, so a token minted in the other environment is an unknown `kid` here: that
//! is the environment check, for free.

use super::{KeyFetchError, KeyFetcher};
use crate::plaid::PlaidClient;
use crate::plaid::error::PlaidError;
use crate::plaid::types::JwkPublicKey;

/// Plaid's answer for a `key_id` it does not have in this environment.
pub const UNKNOWN_KID_ERROR_CODE: &str = "INVALID_WEBHOOK_VERIFICATION_KEY_ID";

impl KeyFetcher for PlaidClient {
    async fn fetch_key(&self, kid: &str) -> Result<JwkPublicKey, KeyFetchError> {
        self.webhook_verification_key_get(kid)
            .await
            .map_err(|e| classify(&e))
    }
}

/// Plaid refusing the `kid` is the sender's problem (401); a failure a retry can cure is ours or
/// Plaid's, and the webhook must get a 5xx so Plaid delivers it again.
///
/// * [`KeyFetchError::UnknownKid`]: `INVALID_WEBHOOK_VERIFICATION_KEY_ID`, and any other answer
///   Plaid would give again to the same request: a 4xx other than 429 (`INVALID_INPUT`,
///   `INVALID_REQUEST`, a 404…). A forged `kid` Plaid chokes on is then a cached 401, not a
///   503 that costs a fetch every time and raises the 5xx alarm.
/// * [`KeyFetchError::Unavailable`]: timeouts and transport errors, 429 and 5xx, an answer we
///   could not read, and our own trouble: `INVALID_API_KEYS` (credentials rotated; the client
///   re-reads them), credentials that cannot be loaded, a client that refuses to send.
///
/// The message is built from fields [`PlaidError`] keeps for support (status, type, code,
/// request id): never a credential, never Plaid's free-text message.
pub fn classify(err: &PlaidError) -> KeyFetchError {
    if err.error_code() == Some(UNKNOWN_KID_ERROR_CODE) {
        return KeyFetchError::UnknownKid;
    }
    if let PlaidError::Api { status, .. } = err
        && (400..500).contains(status)
        && *status != 429
        && !err.is_invalid_api_keys()
    {
        return KeyFetchError::UnknownKid;
    }
    let detail = match err {
        PlaidError::Api { status, body, .. } => format!(
            "plaid answered HTTP {status} {}/{} (request_id {})",
            body.error_type.0,
            body.error_code,
            body.request_id.as_deref().unwrap_or("none"),
        ),
        PlaidError::Timeout => "plaid did not answer in time".to_owned(),
        PlaidError::Transport(_) => "could not reach plaid".to_owned(),
        PlaidError::Decode { status, .. } => {
            format!("unexpected answer from plaid (HTTP {status})")
        }
        PlaidError::Credentials(_) => "plaid credentials could not be loaded".to_owned(),
        PlaidError::InvalidRequest(_) | PlaidError::Config(_) => {
            "the plaid client refused to send the request".to_owned()
        }
    };
    KeyFetchError::Unavailable(detail)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::CredentialsError;
    use crate::plaid::types::{ErrorType, PlaidErrorBody};

    fn api(status: u16, error_type: &str, code: &str) -> PlaidError {
        PlaidError::Api {
            status,
            body: Box::new(PlaidErrorBody {
                error_type: ErrorType(error_type.into()),
                error_code: code.into(),
                error_message: "secret-looking developer text sk_live_123".into(),
                display_message: None,
                request_id: Some("req-1".into()),
                error_code_reason: None,
                documentation_url: None,
                suggested_action: None,
            }),
            retry_after: None,
        }
    }

    #[test]
    fn unknown_key_id_is_unknown_kid() {
        let err = api(400, "INVALID_INPUT", UNKNOWN_KID_ERROR_CODE);
        assert!(matches!(classify(&err), KeyFetchError::UnknownKid));
    }

    #[test]
    fn other_refusals_plaid_will_repeat_are_an_unknown_kid_too() {
        // Plaid refusing the request itself (a malformed key_id, a field it does not want, a
        // 404) will refuse it again on a retry: the sender's problem, 401, not 503.
        for err in [
            api(400, "INVALID_INPUT", "INVALID_FIELD"),
            api(400, "INVALID_REQUEST", "INVALID_FIELD"),
            api(400, "INVALID_REQUEST", "MISSING_FIELDS"),
            api(404, "INVALID_REQUEST", "NOT_FOUND"),
            api(400, "INVALID_INPUT", "UNKNOWN_FIELDS"),
        ] {
            assert!(
                matches!(classify(&err), KeyFetchError::UnknownKid),
                "{err:?}"
            );
        }
    }

    #[test]
    fn everything_else_is_unavailable_and_names_no_secret() {
        let cases = [
            api(400, "INVALID_INPUT", "INVALID_API_KEYS"),
            api(429, "RATE_LIMIT_EXCEEDED", "RATE_LIMIT"),
            api(500, "API_ERROR", "INTERNAL_SERVER_ERROR"),
            PlaidError::Timeout,
            PlaidError::Transport("connect to https://user:hunter2@example failed".into()),
            PlaidError::Decode {
                status: 502,
                detail: "<html>hunter2</html>".into(),
            },
            PlaidError::Credentials(CredentialsError::Malformed {
                secret_id: "plaid/creds".into(),
                reason: "hunter2".into(),
            }),
        ];
        for err in cases {
            match classify(&err) {
                KeyFetchError::Unavailable(msg) => {
                    assert!(!msg.contains("hunter2"), "{msg}");
                    assert!(!msg.contains("sk_live"), "{msg}");
                    assert!(!msg.is_empty());
                }
                KeyFetchError::UnknownKid => panic!("{err:?} classified as unknown kid"),
            }
        }
        match classify(&api(500, "API_ERROR", "INTERNAL_SERVER_ERROR")) {
            KeyFetchError::Unavailable(msg) => {
                assert!(
                    msg.contains("500")
                        && msg.contains("INTERNAL_SERVER_ERROR")
                        && msg.contains("req-1")
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
