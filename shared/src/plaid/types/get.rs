//! `/identity_verification/get`.

use crate::ids::IdvId;
use serde::Serialize;

/// `IdentityVerificationGetRequest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GetRequest {
    pub identity_verification_id: IdvId,
}
