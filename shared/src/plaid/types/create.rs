//! `/identity_verification/create`.

use super::RequestUser;
use crate::ids::{ClientUserId, TemplateId};
use serde::Serialize;

/// `IdentityVerificationCreateRequest` (credentials travel as headers, not in the body).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateRequest {
    pub client_user_id: ClientUserId,
    pub template_id: TemplateId,
    pub gave_consent: bool,
    pub is_shareable: bool,
    pub is_idempotent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<RequestUser>,
}
