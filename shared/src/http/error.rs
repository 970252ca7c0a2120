//! The one place where failures become HTTP answers:
//! `{"error": {"code": "snake_case_code", "message": "…", "request_id": "…"}}` with the right
//! status, never a stack trace, never Plaid's raw body.
//!
//! Every `code` an answer can carry is an [`ErrorCode`]; [`ErrorCode::ALL`] is the catalogue
//! that `shared/openapi.yaml` (the error schema's `code` enum) and functions/README.md's error table are
//! tested against. `request_id` is the Lambda request id of the invocation, the one its log line
//! carries as `aws_request_id` (see `handlers::finish`); a handler called without a Lambda
//! context (tests calling it directly) answers with an empty `request_id`.
//!
//! **Errors say what, not where.** A message tells the caller what went wrong and whose it is to
//! fix; it never names an environment variable, a secret id or a configuration key (a caller has
//! no use for them, and they map our deployment for anyone probing it). The operator finds the
//! setting to fix in the request's log line, which carries the same request id and, for the
//! errors only configuration can cause, the setting's name ([`ApiError::config_key`]).

use crate::plaid::PlaidError;
use crate::session::user_input::FieldError;
use crate::store::StoreError;
use lambda_http::{Body, Response};
use std::time::Duration;

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = ($code:literal, $status:literal),)*) => {
        /// Every `code` an error answer can carry, with its HTTP status.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// The whole catalogue, in the order functions/README.md lists it.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)*
                }
            }

            pub const fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)*
                }
            }
        }
    };
}

error_codes! {
    /// The body is not JSON (or not UTF-8).
    InvalidJson = ("invalid_json", 400),
    /// The body is JSON of the wrong shape (unknown field, wrong type).
    InvalidBody = ("invalid_body", 400),
    /// A field's value is not valid (`user.phone_number` not E.164…).
    InvalidField = ("invalid_field", 400),
    /// A query parameter is not valid.
    InvalidQuery = ("invalid_query", 400),
    /// The list cursor is not one we handed out.
    InvalidCursor = ("invalid_cursor", 400),
    /// `template_id` is not one of `IDV_TEMPLATE_ID` / `IDV_TEMPLATE_IDS`.
    TemplateNotAllowed = ("template_not_allowed", 400),
    RedirectUriNotAllowed = ("redirect_uri_not_allowed", 400),
    AndroidPackageNameNotAllowed = ("android_package_name_not_allowed", 400),
    Unauthorized = ("unauthorized", 401),
    /// A webhook whose signature, age or body hash does not check out (or from an address not
    /// on `PLAID_WEBHOOK_SOURCE_IPS`).
    InvalidWebhook = ("invalid_webhook", 401),
    Forbidden = ("forbidden", 403),
    SessionNotFound = ("session_not_found", 404),
    /// A path this function does not serve.
    RouteNotFound = ("route_not_found", 404),
    /// One of this function's paths with a method it does not serve (`Allow` lists those it does).
    MethodNotAllowed = ("method_not_allowed", 405),
    SessionFinished = ("session_finished", 409),
    SessionInReview = ("session_in_review", 409),
    StartInProgress = ("start_in_progress", 409),
    SessionExpired = ("session_expired", 410),
    PayloadTooLarge = ("payload_too_large", 413),
    UnsupportedMediaType = ("unsupported_media_type", 415),
    PlaidRejectedData = ("plaid_rejected_data", 422),
    RateLimited = ("rate_limited", 429),
    AttemptLimitReached = ("attempt_limit_reached", 429),
    InternalError = ("internal_error", 500),
    PlaidError = ("plaid_error", 502),
    /// Plaid refused our API keys (`INVALID_API_KEYS`), or the credentials secret is unusable.
    PlaidCredentialsInvalid = ("plaid_credentials_invalid", 502),
    /// Our Plaid client may not use Identity Verification (`INVALID_PRODUCT`,
    /// `UNAUTHORIZED_ROUTE_ACCESS`).
    PlaidProductNotEnabled = ("plaid_product_not_enabled", 502),
    /// Our Plaid client may not use this environment (`UNAUTHORIZED_ENVIRONMENT`).
    PlaidEnvironmentNotAllowed = ("plaid_environment_not_allowed", 502),
    /// Plaid does not know the configured template (`INVALID_FIELD` naming `template_id`).
    PlaidTemplateInvalid = ("plaid_template_invalid", 502),
    PlaidUnavailable = ("plaid_unavailable", 503),
    StoreUnavailable = ("store_unavailable", 503),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: ErrorCode, message: String },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("missing or invalid caller identity")]
    Unauthorized,
    /// A webhook that did not verify (or came from an address not allowed).
    #[error("webhook verification failed")]
    InvalidWebhook,
    #[error("session not found")]
    NotFound,
    /// The caller's token lacks the scope this answer needs (`view=full`: the reviewer scope).
    #[error("{message}")]
    Forbidden { message: &'static str },
    /// A path this function does not serve.
    #[error("no such route")]
    RouteNotFound,
    /// One of this function's paths, with a method it does not serve; `allow` lists those it does.
    #[error("method not allowed; use {allow}")]
    MethodNotAllowed { allow: String },
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
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
    /// The session was read from Plaid moments ago (the per-session cool-down of live reads).
    #[error("this session was read from Plaid moments ago; retry after Retry-After seconds")]
    ReadCooldown { retry_after: Duration },
    /// The caller started `MAX_ATTEMPTS_PER_DAY` billed attempts for this template in the last
    /// 24 hours; `retry_after` is when the oldest of them leaves the window.
    #[error("too many verification attempts in 24 hours; retry later")]
    AttemptLimit { retry_after: Duration },
    #[error("Plaid is unavailable; retry later")]
    PlaidUnavailable { retry_after: Duration },
    #[error("Plaid could not complete the request")]
    PlaidFailed,
    /// Plaid refused this service's API keys, or the credentials secret is unusable.
    #[error("Plaid refused this service's credentials; the operator must fix the Plaid secret")]
    PlaidCredentialsInvalid,
    #[error(
        "this service's Plaid account is not enabled for Identity Verification; the operator must ask Plaid to enable it"
    )]
    PlaidProductNotEnabled,
    #[error(
        "this service's Plaid account may not use the configured Plaid environment; the operator must fix the configuration or ask Plaid for access"
    )]
    PlaidEnvironmentNotAllowed,
    #[error(
        "Plaid does not know the configured verification template; the operator must fix the configuration"
    )]
    PlaidTemplateInvalid,
    #[error("the session store is unavailable; retry later")]
    StoreUnavailable,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// Every code an error answer can carry (see [`ErrorCode::ALL`]).
    pub const ALL_CODES: &'static [ErrorCode] = ErrorCode::ALL;

    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        self.error_code().status()
    }

    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    pub fn error_code(&self) -> ErrorCode {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Conflict { code, .. } => *code,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::UnsupportedMediaType => ErrorCode::UnsupportedMediaType,
            ApiError::Unauthorized => ErrorCode::Unauthorized,
            ApiError::InvalidWebhook => ErrorCode::InvalidWebhook,
            ApiError::Forbidden { .. } => ErrorCode::Forbidden,
            ApiError::NotFound => ErrorCode::SessionNotFound,
            ApiError::RouteNotFound => ErrorCode::RouteNotFound,
            ApiError::MethodNotAllowed { .. } => ErrorCode::MethodNotAllowed,
            ApiError::Gone => ErrorCode::SessionExpired,
            ApiError::PlaidRejected { .. } => ErrorCode::PlaidRejectedData,
            ApiError::RateLimited { .. } | ApiError::ReadCooldown { .. } => ErrorCode::RateLimited,
            ApiError::AttemptLimit { .. } => ErrorCode::AttemptLimitReached,
            ApiError::PlaidUnavailable { .. } => ErrorCode::PlaidUnavailable,
            ApiError::PlaidFailed => ErrorCode::PlaidError,
            ApiError::PlaidCredentialsInvalid => ErrorCode::PlaidCredentialsInvalid,
            ApiError::PlaidProductNotEnabled => ErrorCode::PlaidProductNotEnabled,
            ApiError::PlaidEnvironmentNotAllowed => ErrorCode::PlaidEnvironmentNotAllowed,
            ApiError::PlaidTemplateInvalid => ErrorCode::PlaidTemplateInvalid,
            ApiError::StoreUnavailable => ErrorCode::StoreUnavailable,
            ApiError::Internal => ErrorCode::InternalError,
        }
    }

    /// For a failure only the operator's configuration can cause, the setting to look at: for
    /// the request's log line, never for the answer's body.
    pub fn config_key(&self) -> Option<&'static str> {
        match self {
            ApiError::PlaidCredentialsInvalid => Some("PLAID_SECRET_ID"),
            ApiError::PlaidEnvironmentNotAllowed => Some("PLAID_ENV"),
            ApiError::PlaidTemplateInvalid => Some("IDV_TEMPLATE_ID / IDV_TEMPLATE_IDS"),
            _ => None,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after }
            | ApiError::ReadCooldown { retry_after }
            | ApiError::AttemptLimit { retry_after }
            | ApiError::PlaidUnavailable { retry_after } => Some(*retry_after),
            ApiError::Conflict { retry_after, .. } => *retry_after,
            ApiError::StoreUnavailable => Some(Duration::from_secs(1)),
            _ => None,
        }
    }

    /// The answer, naming `request_id` (the invocation's Lambda request id, or `""` without a
    /// Lambda context). Only `handlers::finish` calls this, so every error answer names it.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let body = serde_json::json!({
            "error": {
                "code": self.code(),
                "message": self.to_string(),
                "request_id": request_id,
            }
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
        ApiError::bad_request(ErrorCode::InvalidField, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Throttled | StoreError::Unavailable(_) => ApiError::StoreUnavailable,
            StoreError::BadCursor => {
                ApiError::bad_request(ErrorCode::InvalidCursor, "the page cursor is not valid")
            }
            StoreError::Corrupt(_) => ApiError::Internal,
        }
    }
}

/// Plaid error codes that mean the caller's data was wrong, not our request.
const CALLER_DATA_CODES: &[&str] = &["INVALID_FIELD", "INVALID_USER_IDENTITY_DATA"];

/// Plaid refusals that only the operator can fix (keys, product access, environment, template):
/// each gets its own code, 502 (the caller cannot fix it), and the request's log line keeps
/// Plaid's `error_code`. Codes from Plaid's error reference (team reference §1.5).
fn operator_error(status: u16, error_code: &str, error_message: &str) -> Option<ApiError> {
    if !(400..500).contains(&status) {
        return None;
    }
    match error_code {
        "INVALID_API_KEYS" => Some(ApiError::PlaidCredentialsInvalid),
        "INVALID_PRODUCT" | "UNAUTHORIZED_ROUTE_ACCESS" => Some(ApiError::PlaidProductNotEnabled),
        "UNAUTHORIZED_ENVIRONMENT" => Some(ApiError::PlaidEnvironmentNotAllowed),
        // Plaid documents no code of its own for an unknown template: it is an `INVALID_FIELD`
        // whose message names the field. The template id we send always comes from our own
        // configuration (callers may only pick from the allow-list), so it is never the
        // caller's data. Plaid's messages may change; if this one does, the answer falls back
        // to 422 `plaid_rejected_data`, and the log line still has `INVALID_FIELD`.
        "INVALID_FIELD" if error_message.contains("template_id") => {
            Some(ApiError::PlaidTemplateInvalid)
        }
        _ => None,
    }
}

impl From<PlaidError> for ApiError {
    fn from(e: PlaidError) -> Self {
        let retry_after = |e: &PlaidError| match e {
            PlaidError::Api {
                retry_after: Some(d),
                ..
            } => (*d).min(Duration::from_secs(60)),
            _ => Duration::from_secs(2),
        };
        if let PlaidError::Api { status, body, .. } = &e
            && let Some(op) = operator_error(*status, &body.error_code, &body.error_message)
        {
            return op;
        }
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
            // The secret is missing or malformed: the operator's to fix, like refused keys.
            PlaidError::Credentials(_) => ApiError::PlaidCredentialsInvalid,
            _ => ApiError::PlaidFailed,
        }
    }
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests;
