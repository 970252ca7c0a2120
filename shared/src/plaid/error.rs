//! Errors from calling Plaid. They keep what support and our logic need (`error_type`,
//! `error_code`, `request_id`, HTTP status) and never the credentials or the raw body.

use crate::credentials::CredentialsError;
use crate::plaid::types::PlaidErrorBody;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PlaidError {
    /// Plaid answered with an error body.
    #[error("plaid {status} {}: {}", body.error_type.0, body.error_code)]
    Api {
        status: u16,
        /// Boxed: keeps every `Result<_, PlaidError>` small.
        body: Box<PlaidErrorBody>,
        /// From a `Retry-After` header, when Plaid sends one.
        retry_after: Option<Duration>,
    },
    /// No answer within the client's timeout.
    #[error("plaid did not answer in time")]
    Timeout,
    /// Connection refused, reset, TLS failure…
    #[error("could not reach plaid: {0}")]
    Transport(String),
    /// A 2xx we could not parse, or a non-2xx without Plaid's error shape.
    #[error("unexpected answer from plaid (HTTP {status}): {detail}")]
    Decode { status: u16, detail: String },
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// Refused before sending: a request Plaid's spec rules out (`custom` retry without
    /// `steps`, a Link token for other products…). A bug in the caller, never retried.
    #[error("request not sent to plaid: {0}")]
    InvalidRequest(String),
    /// The client could not be built (a base URL that cannot take paths, TLS setup).
    #[error("plaid client misconfigured: {0}")]
    Config(String),
}

impl PlaidError {
    pub fn status(&self) -> Option<u16> {
        match self {
            PlaidError::Api { status, .. } | PlaidError::Decode { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn error_code(&self) -> Option<&str> {
        match self {
            PlaidError::Api { body, .. } => Some(body.error_code.as_str()),
            _ => None,
        }
    }

    /// What failed, named on our side, for when Plaid gave no `error_code`: the one name the
    /// request's log line and the `PlaidErrors` metric both use.
    pub fn local_code(&self) -> &'static str {
        match self {
            PlaidError::Timeout => "TIMEOUT",
            PlaidError::Transport(_) => "TRANSPORT",
            PlaidError::Decode { .. } => "DECODE",
            PlaidError::Credentials(_) => "CREDENTIALS",
            PlaidError::Api { .. } => "API",
            PlaidError::InvalidRequest(_) => "INVALID_REQUEST_LOCAL",
            PlaidError::Config(_) => "CONFIG",
        }
    }

    pub fn error_type(&self) -> Option<&str> {
        match self {
            PlaidError::Api { body, .. } => Some(body.error_type.0.as_str()),
            _ => None,
        }
    }

    pub fn request_id(&self) -> Option<&str> {
        match self {
            PlaidError::Api { body, .. } => body.request_id.as_deref(),
            _ => None,
        }
    }

    /// The `Retry-After` Plaid sent with an error, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            PlaidError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// 429, 500, 502, 503, 504, timeouts and connection errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            PlaidError::Api { status, .. } | PlaidError::Decode { status, .. } => {
                matches!(status, 429 | 500 | 502 | 503 | 504)
            }
            PlaidError::Timeout | PlaidError::Transport(_) => true,
            PlaidError::Credentials(e) => e.is_transient(),
            PlaidError::InvalidRequest(_) | PlaidError::Config(_) => false,
        }
    }

    /// Plaid says our keys are wrong (rotation): refetch the credentials and try once more.
    pub fn is_invalid_api_keys(&self) -> bool {
        self.error_code() == Some("INVALID_API_KEYS")
    }
}

/// The `PlaidErrors` metric's view of a failed attempt.
impl crate::emf::PlaidFailure for PlaidError {
    fn plaid_code(&self) -> Option<&str> {
        self.error_code()
    }

    fn local_code(&self) -> &'static str {
        PlaidError::local_code(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emf::plaid_error_class;

    #[test]
    fn the_metric_class_is_plaids_code_or_ours() {
        let api = |code: &str| PlaidError::Api {
            status: 400,
            body: Box::new(
                serde_json::from_value(serde_json::json!({
                    "error_type": "INVALID_INPUT",
                    "error_code": code,
                    "error_message": "m",
                    "display_message": null,
                    "request_id": "req-1",
                }))
                .unwrap(),
            ),
            retry_after: None,
        };
        assert_eq!(
            plaid_error_class(&api("INVALID_API_KEYS")),
            "INVALID_API_KEYS"
        );
        assert_eq!(plaid_error_class(&api("user@example.org")), "OTHER");
        assert_eq!(plaid_error_class(&PlaidError::Timeout), "TIMEOUT");
        assert_eq!(
            plaid_error_class(&PlaidError::Transport("reset".into())),
            "TRANSPORT"
        );
    }
}
