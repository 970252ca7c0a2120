//! The one place where failures become HTTP answers:
//! `{"error": {"code": "snake_case_code", "message": "…"}}` with the right status, never a stack
//! trace, never Plaid's raw body.

use crate::plaid::PlaidError;
use crate::session::user_input::FieldError;
use crate::store::StoreError;
use lambda_http::{Body, Response};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("missing or invalid caller identity")]
    Unauthorized,
    #[error("session not found")]
    NotFound,
    /// A path this function does not serve.
    #[error("no such route")]
    RouteNotFound,
    /// One of this function's paths, with a method it does not serve; `allow` lists those it does.
    #[error("method not allowed; use {allow}")]
    MethodNotAllowed { allow: String },
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: &'static str,
        retry_after: Option<Duration>,
    },
    #[error("the session has expired; start a new one with POST /sessions")]
    Gone,
    /// Plaid refused data the caller gave us.
    #[error("{message}")]
    PlaidRejected { message: String },
    #[error("Plaid is rate limiting requests; retry later")]
    RateLimited { retry_after: Duration },
    #[error("Plaid is unavailable; retry later")]
    PlaidUnavailable { retry_after: Duration },
    #[error("Plaid could not complete the request")]
    PlaidFailed,
    #[error("the session store is unavailable; retry later")]
    StoreUnavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized => 401,
            ApiError::NotFound | ApiError::RouteNotFound => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict { .. } => 409,
            ApiError::Gone => 410,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::PlaidRejected { .. } => 422,
            ApiError::RateLimited { .. } => 429,
            ApiError::Internal => 500,
            ApiError::PlaidFailed => 502,
            ApiError::PlaidUnavailable { .. } | ApiError::StoreUnavailable => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NotFound => "session_not_found",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::Gone => "session_expired",
            ApiError::PlaidRejected { .. } => "plaid_rejected_data",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::PlaidUnavailable { .. } => "plaid_unavailable",
            ApiError::PlaidFailed => "plaid_error",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::Internal => "internal_error",
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after } | ApiError::PlaidUnavailable { retry_after } => {
                Some(*retry_after)
            }
            ApiError::Conflict { retry_after, .. } => *retry_after,
            ApiError::StoreUnavailable => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({
            "error": { "code": self.code(), "message": self.to_string() }
        });
        let mut resp = super::response::json(self.status(), &body);
        if let ApiError::MethodNotAllowed { allow } = &self
            && let Ok(v) = http::HeaderValue::from_str(allow)
        {
            resp.headers_mut().insert(http::header::ALLOW, v);
        }
        if let Some(after) = self.retry_after() {
            let secs = after.as_secs().max(1).to_string();
            if let Ok(v) = http::HeaderValue::from_str(&secs) {
                resp.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::bad_request("invalid_field", e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled | StoreError::Unavailable(_) => ApiError::StoreUnavailable,
            StoreError::BadCursor => {
                ApiError::bad_request("invalid_cursor", "the page cursor is not valid")
            }
            StoreError::Corrupt(_) => ApiError::Internal,
        }
    }
}

/// Plaid error codes that mean the caller's data was wrong, not our request.
const CALLER_DATA_CODES: &[&str] = &["INVALID_FIELD", "INVALID_USER_IDENTITY_DATA"];

impl From<PlaidError> for ApiError {
    fn from(e: PlaidError) -> Self {
        let retry_after = |e: &PlaidError| match e {
            PlaidError::Api {
                retry_after: Some(d),
                ..
            } => (*d).min(Duration::from_secs(60)),
            _ => Duration::from_secs(2),
        };
        match &e {
            PlaidError::Api { status: 429, .. } => ApiError::RateLimited {
                retry_after: retry_after(&e),
            },
            PlaidError::Api { status: 503, .. } => ApiError::PlaidUnavailable {
                retry_after: retry_after(&e),
            },
            PlaidError::Api { status, body, .. }
                if (400..500).contains(status)
                    && CALLER_DATA_CODES.contains(&body.error_code.as_str()) =>
            {
                // Plaid's developer message names the field; its display message, when set, is
                // meant for the user. Neither carries the raw request.
                let message = body
                    .display_message
                    .clone()
                    .filter(|m| !m.trim().is_empty())
                    .unwrap_or_else(|| body.error_message.clone());
                ApiError::PlaidRejected {
                    message: truncate(&message, 300),
                }
            }
            PlaidError::Timeout | PlaidError::Transport(_) => ApiError::PlaidUnavailable {
                retry_after: Duration::from_secs(2),
            },
            PlaidError::Credentials(c) if c.is_transient() => ApiError::PlaidUnavailable {
                retry_after: Duration::from_secs(2),
            },
            _ => ApiError::PlaidFailed,
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plaid::types::{ErrorType, PlaidErrorBody};

    fn plaid(status: u16, code: &str, retry_after: Option<Duration>) -> PlaidError {
        PlaidError::Api {
            status,
            body: Box::new(PlaidErrorBody {
                error_type: ErrorType("INVALID_REQUEST".into()),
                error_code: code.into(),
                error_message: "phone_number must be in E.164 format".into(),
                display_message: None,
                request_id: Some("req-1".into()),
                error_code_reason: None,
                documentation_url: None,
                suggested_action: None,
            }),
            retry_after,
        }
    }

    #[test]
    fn plaid_errors_map_to_statuses() {
        let e: ApiError = plaid(429, "RATE_LIMIT", Some(Duration::from_secs(7))).into();
        assert_eq!(
            (e.status(), e.retry_after()),
            (429, Some(Duration::from_secs(7)))
        );
        let e: ApiError = plaid(400, "INVALID_FIELD", None).into();
        assert_eq!(e.status(), 422);
        assert_eq!(e.to_string(), "phone_number must be in E.164 format");
        assert_eq!(
            ApiError::from(plaid(400, "INVALID_API_KEYS", None)).status(),
            502
        );
        assert_eq!(
            ApiError::from(plaid(500, "INTERNAL_SERVER_ERROR", None)).status(),
            502
        );
        assert_eq!(
            ApiError::from(plaid(503, "PLANNED_MAINTENANCE", None)).status(),
            503
        );
        assert_eq!(ApiError::from(PlaidError::Timeout).status(), 503);
    }

    #[test]
    fn store_errors_are_retryable_503() {
        let r = ApiError::from(StoreError::Throttled).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "1");
    }

    #[test]
    fn error_body_shape() {
        let r = ApiError::Gone.into_response();
        let Body::Text(t) = r.body() else {
            panic!("text body")
        };
        let v: serde_json::Value = serde_json::from_str(t).unwrap();
        assert_eq!(v["error"]["code"], "session_expired");
        assert!(v["error"]["message"].is_string());
        assert_eq!(r.headers()["content-type"], "application/json");
    }
}
