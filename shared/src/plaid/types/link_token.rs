//! `/link/token/create`, for IDV.

use super::REDACTED;
use crate::ids::{ClientUserId, TemplateId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `LinkTokenCreateRequestUser` (only the parts IDV uses).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkTokenUser {
    pub client_user_id: ClientUserId,
}

/// `LinkTokenCreateRequestIdentityVerification`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkTokenIdentityVerification {
    pub template_id: TemplateId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gave_consent: Option<bool>,
}

/// The only product of an IDV Link token: Plaid refuses to mix IDV with other products.
pub const PRODUCT_IDENTITY_VERIFICATION: &str = "identity_verification";

/// `LinkTokenCreateRequest` for IDV: `products` is exactly `["identity_verification"]`
/// (the client refuses anything else before sending). `redirect_uri` and
/// `android_package_name` are mutually exclusive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkTokenCreateRequest {
    pub client_name: String,
    pub language: String,
    pub country_codes: Vec<String>,
    pub user: LinkTokenUser,
    pub products: Vec<String>,
    pub identity_verification: LinkTokenIdentityVerification,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android_package_name: Option<String>,
}

impl LinkTokenCreateRequest {
    /// An IDV Link token request with `products: ["identity_verification"]` and no optional keys.
    pub fn identity_verification(
        client_name: impl Into<String>,
        language: impl Into<String>,
        country_codes: Vec<String>,
        client_user_id: ClientUserId,
        template_id: TemplateId,
    ) -> Self {
        LinkTokenCreateRequest {
            client_name: client_name.into(),
            language: language.into(),
            country_codes,
            user: LinkTokenUser { client_user_id },
            products: vec![PRODUCT_IDENTITY_VERIFICATION.to_owned()],
            identity_verification: LinkTokenIdentityVerification {
                template_id,
                gave_consent: None,
            },
            redirect_uri: None,
            android_package_name: None,
        }
    }
}

/// `LinkTokenCreateResponse`. The link token is a bearer credential for the user's session:
/// `Debug` hides it.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
pub struct LinkTokenCreateResponse {
    pub link_token: String,
    pub expiration: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_link_url: Option<String>,
}

impl std::fmt::Debug for LinkTokenCreateResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkTokenCreateResponse")
            .field("link_token", &REDACTED)
            .field("expiration", &self.expiration)
            .field("request_id", &self.request_id)
            .field(
                "hosted_link_url",
                &self.hosted_link_url.as_ref().map(|_| REDACTED),
            )
            .finish()
    }
}
