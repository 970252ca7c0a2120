//! The user's data: what Plaid returns in a session and what we prefill in requests.

use super::REDACTED;
use serde::{Deserialize, Serialize};

/// `IdentityVerificationUserData`: what the user entered or we prefilled. Every key is
/// nullable; `address` uses `IdentityVerificationUserAddress`, whose parts may be null
/// depending on the country (no region in the UK, no postal code in Hong Kong).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserData {
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub name: Option<UserName>,
    #[serde(default)]
    pub address: Option<UserAddress>,
    #[serde(default)]
    pub id_number: Option<IdNumber>,
}

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserData")
            .field(
                "phone_number",
                &self.phone_number.as_ref().map(|_| REDACTED),
            )
            .field(
                "date_of_birth",
                &self.date_of_birth.as_ref().map(|_| REDACTED),
            )
            .field("ip_address", &self.ip_address.as_ref().map(|_| REDACTED))
            .field(
                "email_address",
                &self.email_address.as_ref().map(|_| REDACTED),
            )
            .field("name", &self.name.as_ref().map(|_| REDACTED))
            .field("address", &self.address.as_ref().map(|_| REDACTED))
            .field("id_number", &self.id_number.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// `IdentityVerificationRequestUserName`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserName {
    pub given_name: String,
    pub family_name: String,
}

/// `UserAddress` (requests) and `IdentityVerificationUserAddress` (responses). In requests the
/// keys a country does not accept are omitted, never sent as `null`; in responses any part but
/// `country` may be `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    pub country: String,
}

/// `IDNumberType`: open, like every Plaid enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdNumberType(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdNumber {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: IdNumberType,
}

/// `IdentityVerificationRequestUser` / `IdentityVerificationCreateRequestUser`: data we already
/// hold about the user, to skip screens in Link. Every sub-object is all-or-nothing. `Debug`
/// shows only which keys are set: the values are PII.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<UserName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<UserAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<IdNumber>,
}

impl RequestUser {
    pub fn is_empty(&self) -> bool {
        *self == RequestUser::default()
    }
}

impl std::fmt::Debug for RequestUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestUser")
            .field(
                "email_address",
                &self.email_address.as_ref().map(|_| REDACTED),
            )
            .field(
                "phone_number",
                &self.phone_number.as_ref().map(|_| REDACTED),
            )
            .field(
                "date_of_birth",
                &self.date_of_birth.as_ref().map(|_| REDACTED),
            )
            .field("name", &self.name.as_ref().map(|_| REDACTED))
            .field("address", &self.address.as_ref().map(|_| REDACTED))
            .field("id_number", &self.id_number.as_ref().map(|_| REDACTED))
            .finish()
    }
}
