//! `/identity_verification/list`.

use super::IdentityVerification;
use crate::ids::{ClientUserId, TemplateId};
use serde::{Deserialize, Serialize};

/// `IdentityVerificationListRequest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListRequest {
    pub template_id: TemplateId,
    pub client_user_id: ClientUserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `IdentityVerificationListResponse`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ListResponse {
    pub identity_verifications: Vec<IdentityVerification>,
    /// Required but nullable: `null` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
