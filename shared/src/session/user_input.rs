//! Identity data a caller may hand us to prefill Plaid's flow, validated before Plaid sees it.
//!
//! Plaid validates the same data (and rejects some of it only in production, or silently lowers
//! match rates on wrong formats), so catching it here gives the caller a clear 400 naming the
//! field instead of a Plaid error later. Values are never logged: they are PII.

use crate::plaid::types::{IdNumber, IdNumberType, RequestUser, UserAddress, UserName};
use chrono::{Datelike, NaiveDate, Utc};
use serde::Deserialize;

/// A field that failed validation: `field` is the JSON path the caller sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FieldError {
    pub field: &'static str,
    pub reason: &'static str,
}

fn err(field: &'static str, reason: &'static str) -> FieldError {
    FieldError { field, reason }
}

/// An e-mail address in the shape RFC 3696 allows (Plaid uses it for fraud checks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        const F: &str = "user.email_address";
        if raw.trim() != raw || raw.is_empty() {
            return Err(err(F, "must not be empty or have surrounding spaces"));
        }
        if raw.len() > 254 {
            return Err(err(F, "is longer than 254 characters"));
        }
        let (local, domain) = raw
            .rsplit_once('@')
            .ok_or(err(F, "is not an e-mail address"))?;
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        if !local_ok || labels.len() < 2 || !labels.iter().all(|l| label_ok(l)) {
            return Err(err(F, "is not an e-mail address"));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A phone number in E.164 (`+` then 8 to 15 digits, no leading zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        const F: &str = "user.phone_number";
        let digits = raw
            .strip_prefix('+')
            .ok_or(err(F, "must be in E.164 form, e.g. +12345678909"))?;
        let ok = (8..=15).contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_digit())
            && !digits.starts_with('0');
        if !ok {
            return Err(err(F, "must be in E.164 form, e.g. +12345678909"));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// A date of birth as `YYYY-MM-DD`, a real calendar date, not in the future, after 1900.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateOfBirth(NaiveDate);

impl DateOfBirth {
    pub fn parse(raw: &str, today: NaiveDate) -> Result<Self, FieldError> {
        const F: &str = "user.date_of_birth";
        let shape_ok = raw.len() == 10
            && raw.char_indices().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            });
        let date = shape_ok
            .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
            .flatten()
            .ok_or(err(F, "must be a date in the form YYYY-MM-DD"))?;
        if date > today || date.year() < 1900 {
            return Err(err(F, "is not a plausible date of birth"));
        }
        Ok(Self(date))
    }

    pub fn to_plaid(&self) -> String {
        self.0.format("%Y-%m-%d").to_string()
    }
}

/// The `id_number.type` values Plaid documents.
const ID_NUMBER_TYPES: &[&str] = &[
    "ar_dni",
    "au_drivers_license",
    "au_passport",
    "br_cpf",
    "ca_sin",
    "cl_run",
    "cn_resident_card",
    "co_nit",
    "dk_cpr",
    "eg_national_id",
    "es_dni",
    "es_nie",
    "hk_hkid",
    "in_pan",
    "it_cf",
    "jo_civil_id",
    "jp_my_number",
    "ke_huduma_namba",
    "kw_civil_id",
    "mx_curp",
    "mx_rfc",
    "my_nric",
    "ng_nin",
    "nz_drivers_license",
    "om_civil_id",
    "ph_psn",
    "pl_pesel",
    "ro_cnp",
    "sa_national_id",
    "se_pin",
    "sg_nric",
    "tr_tc_kimlik",
    "us_ssn",
    "us_ssn_last_4",
    "za_smart_id",
];

fn parse_id_number(value: &str, kind: &str) -> Result<IdNumber, FieldError> {
    if !ID_NUMBER_TYPES.contains(&kind) {
        return Err(err(
            "user.id_number.type",
            "is not an ID number type Plaid accepts",
        ));
    }
    const F: &str = "user.id_number.value";
    if value.is_empty() || value.len() > 64 || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(err(
            F,
            "must be letters and digits only (strip spaces, dashes and dots)",
        ));
    }
    let digits = |n: usize| value.len() == n && value.chars().all(|c| c.is_ascii_digit());
    match kind {
        "us_ssn" => {
            // The SSA never issues area 000, 666 or 9xx, group 00 or serial 0000.
            let ok = digits(9)
                && !value.starts_with('9')
                && !value.starts_with("666")
                && !value.starts_with("000")
                && &value[3..5] != "00"
                && &value[5..] != "0000";
            if !ok {
                return Err(err(F, "is not a valid US SSN (9 digits)"));
            }
        }
        "us_ssn_last_4" if !digits(4) => {
            return Err(err(F, "must be the last 4 digits of the SSN"));
        }
        _ => {}
    }
    Ok(IdNumber {
        value: value.to_owned(),
        kind: IdNumberType(kind.to_owned()),
    })
}

fn bounded(field: &'static str, raw: &str, max: usize) -> Result<String, FieldError> {
    if raw.trim().is_empty() {
        return Err(err(field, "must not be blank"));
    }
    if raw.chars().count() > max {
        return Err(err(field, "is too long"));
    }
    if raw.chars().any(char::is_control) {
        return Err(err(field, "contains control characters"));
    }
    Ok(raw.to_owned())
}

/// The `user` object of `POST /sessions` as the caller sends it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    pub email_address: Option<String>,
    pub phone_number: Option<String>,
    pub date_of_birth: Option<String>,
    pub name: Option<NameInput>,
    pub address: Option<AddressInput>,
    pub id_number: Option<IdNumberInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameInput {
    pub given_name: String,
    pub family_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressInput {
    pub street: Option<String>,
    pub street2: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdNumberInput {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: String,
}

fn parse_address(a: &AddressInput) -> Result<UserAddress, FieldError> {
    let country = &a.country;
    if country.len() != 2 || !country.chars().all(|c| c.is_ascii_uppercase()) {
        return Err(err(
            "user.address.country",
            "must be an ISO-3166-1 alpha-2 code such as US",
        ));
    }
    let street = a
        .street
        .as_deref()
        .map(|s| bounded("user.address.street", s, 80))
        .transpose()?;
    let street2 = a
        .street2
        .as_deref()
        .map(|s| bounded("user.address.street2", s, 50))
        .transpose()?;
    let city = a
        .city
        .as_deref()
        .map(|s| bounded("user.address.city", s, 100))
        .transpose()?;
    let region = a
        .region
        .as_deref()
        .map(|r| {
            // ISO-3166-2 subdivision without the country prefix: `IN`, not `US-IN`.
            if (1..=3).contains(&r.len()) && r.chars().all(|c| c.is_ascii_alphanumeric()) {
                Ok(r.to_owned())
            } else {
                Err(err(
                    "user.address.region",
                    "must be an ISO-3166-2 subdivision code without the country prefix, e.g. IN",
                ))
            }
        })
        .transpose()?;
    let postal_code = a
        .postal_code
        .as_deref()
        .map(|p| {
            let ok = (2..=10).contains(&p.len())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
            let us_ok = country != "US" || (p.len() == 5 && p.chars().all(|c| c.is_ascii_digit()));
            if ok && us_ok {
                Ok(p.to_owned())
            } else {
                Err(err(
                    "user.address.postal_code",
                    "is not a valid postal code for the country",
                ))
            }
        })
        .transpose()?;
    // Plaid takes a country alone or a full address, nothing in between.
    let any_line = street.is_some()
        || street2.is_some()
        || city.is_some()
        || region.is_some()
        || postal_code.is_some();
    if any_line && (street.is_none() || city.is_none()) {
        return Err(err(
            "user.address",
            "must be a country alone or a full address with street and city",
        ));
    }
    if any_line && country == "US" && (region.is_none() || postal_code.is_none()) {
        return Err(err(
            "user.address",
            "a US address needs region and postal_code",
        ));
    }
    Ok(UserAddress {
        street,
        street2,
        city,
        region,
        postal_code,
        country: country.clone(),
    })
}

impl UserInput {
    /// Validate everything and build Plaid's request object. `today` bounds the date of birth.
    pub fn parse(&self, today: NaiveDate) -> Result<RequestUser, FieldError> {
        Ok(RequestUser {
            email_address: self
                .email_address
                .as_deref()
                .map(EmailAddress::parse)
                .transpose()?
                .map(|e| e.0),
            phone_number: self
                .phone_number
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()?
                .map(|p| p.0),
            date_of_birth: self
                .date_of_birth
                .as_deref()
                .map(|d| DateOfBirth::parse(d, today))
                .transpose()?
                .map(|d| d.to_plaid()),
            name: self
                .name
                .as_ref()
                .map(|n| {
                    Ok::<_, FieldError>(UserName {
                        given_name: bounded("user.name.given_name", &n.given_name, 100)?,
                        family_name: bounded("user.name.family_name", &n.family_name, 100)?,
                    })
                })
                .transpose()?,
            address: self.address.as_ref().map(parse_address).transpose()?,
            id_number: self
                .id_number
                .as_ref()
                .map(|i| parse_id_number(&i.value, &i.kind))
                .transpose()?,
        })
    }

    pub fn parse_today(&self) -> Result<RequestUser, FieldError> {
        self.parse(Utc::now().date_naive())
    }
}

#[cfg(test)]
mod tests;
