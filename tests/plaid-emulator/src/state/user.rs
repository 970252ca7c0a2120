//! The identity data a session holds.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name {
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub street: Option<String>,
    pub street2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdNumber {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// Identity data the session holds (what Plaid returns as `user`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserData {
    pub email_address: Option<String>,
    pub phone_number: Option<String>,
    pub date_of_birth: Option<String>,
    pub name: Option<Name>,
    pub address: Option<Address>,
    pub id_number: Option<IdNumber>,
    /// `user.ip_address` given to `/identity_verification/create` (API 1.778.0).
    pub ip_address: Option<String>,
}

impl UserData {
    /// Fields set in `other` replace ours (a sub-object is replaced whole).
    pub fn merge(&mut self, other: UserData) {
        if other.email_address.is_some() {
            self.email_address = other.email_address;
        }
        if other.phone_number.is_some() {
            self.phone_number = other.phone_number;
        }
        if other.date_of_birth.is_some() {
            self.date_of_birth = other.date_of_birth;
        }
        if other.name.is_some() {
            self.name = other.name;
        }
        if other.address.is_some() {
            self.address = other.address;
        }
        if other.id_number.is_some() {
            self.id_number = other.id_number;
        }
        if other.ip_address.is_some() {
            self.ip_address = other.ip_address;
        }
    }

    /// `IdentityVerificationUserData`: every required key present, null when unknown.
    pub fn to_json(&self) -> Value {
        json!({
            "phone_number": self.phone_number,
            "date_of_birth": self.date_of_birth,
            "ip_address": self.ip_address,
            "email_address": self.email_address,
            "name": self.name.as_ref().map(|n| json!({"given_name": n.given_name, "family_name": n.family_name})),
            "address": self.address.as_ref().map(|a| json!({
                "street": a.street, "street2": a.street2, "city": a.city,
                "region": a.region, "postal_code": a.postal_code, "country": a.country,
            })),
            "id_number": self.id_number.as_ref().map(|i| json!({"value": i.value, "type": i.kind})),
        })
    }
}
