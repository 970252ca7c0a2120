//! The error body of every non-2xx Plaid response.

use serde::{Deserialize, Serialize};

/// Plaid's `error_type`, open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorType(pub String);

/// `PlaidError`: the body of every non-2xx response. Only the fields code may branch on and the
/// `request_id` support asks for; `error_message` is for developers and may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaidErrorBody {
    pub error_type: ErrorType,
    pub error_code: String,
    #[serde(default)]
    pub error_message: String,
    /// Required but nullable.
    #[serde(default)]
    pub display_message: Option<String>,
    /// A string when present (never `null`); absent only in errors embedded in webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default)]
    pub error_code_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_url: Option<String>,
    #[serde(default)]
    pub suggested_action: Option<String>,
}
