//! Plaid's error body (`PlaidError`), as every Plaid endpoint of the emulator answers it, and the
//! error type of the control surface.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// One Plaid API error: HTTP status plus the fields of Plaid's error schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {error_type}/{error_code}: {message}")]
pub struct PlaidApiError {
    pub status: u16,
    pub error_type: &'static str,
    pub error_code: &'static str,
    pub message: String,
}

impl PlaidApiError {
    fn new(
        status: u16,
        error_type: &'static str,
        error_code: &'static str,
        message: String,
    ) -> Self {
        Self {
            status,
            error_type,
            error_code,
            message,
        }
    }

    pub fn invalid_field(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_REQUEST", "INVALID_FIELD", message.into())
    }

    pub fn missing_fields(fields: &[String]) -> Self {
        Self::new(
            400,
            "INVALID_REQUEST",
            "MISSING_FIELDS",
            format!(
                "the following required fields are missing: {}",
                fields.join(", ")
            ),
        )
    }

    pub fn unknown_fields(fields: &[String]) -> Self {
        Self::new(
            400,
            "INVALID_REQUEST",
            "UNKNOWN_FIELDS",
            format!(
                "the following fields are not recognized by this endpoint: {}",
                fields.join(", ")
            ),
        )
    }

    pub fn invalid_body() -> Self {
        Self::new(
            400,
            "INVALID_REQUEST",
            "INVALID_BODY",
            "body could not be parsed as JSON".into(),
        )
    }

    pub fn invalid_headers(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_REQUEST", "INVALID_HEADERS", message.into())
    }

    pub fn not_found_route() -> Self {
        Self::new(
            404,
            "INVALID_REQUEST",
            "NOT_FOUND",
            "the requested route was not found".into(),
        )
    }

    pub fn invalid_api_keys() -> Self {
        Self::new(
            400,
            "INVALID_INPUT",
            "INVALID_API_KEYS",
            "invalid client_id or secret provided".into(),
        )
    }

    pub fn invalid_key_id() -> Self {
        Self::new(
            400,
            "INVALID_INPUT",
            "INVALID_WEBHOOK_VERIFICATION_KEY_ID",
            "invalid key_id provided".into(),
        )
    }

    /// The body a fault injected with `/emulator/faults` answers with.
    pub fn for_fault_status(status: u16) -> Self {
        match status {
            429 => Self::new(
                429,
                "RATE_LIMIT_EXCEEDED",
                "RATE_LIMIT",
                "rate limit exceeded for this client. please try again later".into(),
            ),
            503 => Self::new(
                503,
                "API_ERROR",
                "PLANNED_MAINTENANCE",
                "the Plaid API is temporarily unavailable due to planned maintenance. please try again later".into(),
            ),
            _ => Self::new(
                500,
                "API_ERROR",
                "INTERNAL_SERVER_ERROR",
                "an unexpected error occurred".into(),
            ),
        }
    }

    fn documentation_url(&self) -> String {
        let family = match self.error_type {
            "INVALID_REQUEST" => "invalid-request",
            "INVALID_INPUT" => "invalid-input",
            "RATE_LIMIT_EXCEEDED" => "rate-limit-exceeded",
            _ => "api",
        };
        format!(
            "https://plaid.com/docs/errors/{family}/#{}",
            self.error_code.to_ascii_lowercase().replace('_', "-")
        )
    }

    pub fn body(&self, request_id: &str) -> serde_json::Value {
        json!({
            "display_message": null,
            "documentation_url": self.documentation_url(),
            "error_code": self.error_code,
            "error_code_reason": null,
            "error_message": self.message,
            "error_type": self.error_type,
            "request_id": request_id,
            "suggested_action": null,
        })
    }

    pub fn into_response_with(self, request_id: &str) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, axum::Json(self.body(request_id))).into_response()
    }
}

/// Errors of the control surface (`/emulator/...` and the `RunningEmulator` methods).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The request is well formed but the session is not in a state that allows it.
    #[error("{0}")]
    Conflict(String),
}

impl ControlError {
    fn code(&self) -> &'static str {
        match self {
            ControlError::NotFound(_) => "not_found",
            ControlError::BadRequest(_) => "bad_request",
            ControlError::Conflict(_) => "conflict",
        }
    }
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::NotFound(_) => StatusCode::NOT_FOUND,
            ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ControlError::Conflict(_) => StatusCode::CONFLICT,
        };
        let body = json!({"error": {"code": self.code(), "message": self.to_string()}});
        (status, axum::Json(body)).into_response()
    }
}
