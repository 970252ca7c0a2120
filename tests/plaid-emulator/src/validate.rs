//! Request validation with Plaid's error codes: MISSING_FIELDS, UNKNOWN_FIELDS and
//! INVALID_FIELD naming the offending field, and the identity-data rules Plaid documents for
//! `user` (E.164 phone, `YYYY-MM-DD` birth date, all-or-nothing sub-objects, address forms,
//! id_number types and SSN formats).

use super::errors::PlaidApiError;
use super::state::{Address, IdNumber, Name, UserData};
use serde_json::{Map, Value};

pub type Obj = Map<String, Value>;

/// `IDNumberType` in the spec.
pub const ID_NUMBER_TYPES: &[&str] = &[
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
    "in_epic",
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

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Any key of `obj` not in `allowed` → UNKNOWN_FIELDS listing them all.
pub fn reject_unknown(obj: &Obj, allowed: &[&str], prefix: &str) -> Result<(), PlaidApiError> {
    let unknown: Vec<String> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| join(prefix, k))
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(PlaidApiError::unknown_fields(&unknown))
    }
}

/// Required keys that are absent or null → MISSING_FIELDS listing them all.
pub fn require(obj: &Obj, required: &[&str], prefix: &str) -> Result<(), PlaidApiError> {
    let missing: Vec<String> = required
        .iter()
        .filter(|k| obj.get(**k).is_none_or(Value::is_null))
        .map(|k| join(prefix, k))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(PlaidApiError::missing_fields(&missing))
    }
}

/// A present, non-null value; `None` when absent or null.
fn present<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub fn opt_str(obj: &Obj, key: &str, prefix: &str) -> Result<Option<String>, PlaidApiError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(PlaidApiError::invalid_field(format!(
            "{} must be a string",
            join(prefix, key)
        ))),
    }
}

/// A required string (call `require` first to report missing fields together).
pub fn req_str(obj: &Obj, key: &str, prefix: &str) -> Result<String, PlaidApiError> {
    opt_str(obj, key, prefix)?.ok_or_else(|| PlaidApiError::missing_fields(&[join(prefix, key)]))
}

/// A required string that must not be empty or blank.
pub fn req_nonempty(obj: &Obj, key: &str, prefix: &str) -> Result<String, PlaidApiError> {
    let s = req_str(obj, key, prefix)?;
    if s.trim().is_empty() {
        return Err(PlaidApiError::invalid_field(format!(
            "{} must be a non-empty string",
            join(prefix, key)
        )));
    }
    Ok(s)
}

pub fn opt_bool(obj: &Obj, key: &str, prefix: &str) -> Result<Option<bool>, PlaidApiError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(PlaidApiError::invalid_field(format!(
            "{} must be a boolean",
            join(prefix, key)
        ))),
    }
}

pub fn req_bool(obj: &Obj, key: &str, prefix: &str) -> Result<bool, PlaidApiError> {
    opt_bool(obj, key, prefix)?.ok_or_else(|| PlaidApiError::missing_fields(&[join(prefix, key)]))
}

pub fn opt_obj<'a>(
    obj: &'a Obj,
    key: &str,
    prefix: &str,
) -> Result<Option<&'a Obj>, PlaidApiError> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(PlaidApiError::invalid_field(format!(
            "{} must be an object",
            join(prefix, key)
        ))),
    }
}

/// `client_user_id`: non-empty, and (as Plaid asks) no PII such as an email address.
pub fn client_user_id(obj: &Obj, key: &str, prefix: &str) -> Result<String, PlaidApiError> {
    let id = req_nonempty(obj, key, prefix)?;
    if looks_like_email(&id) {
        return Err(PlaidApiError::invalid_field(format!(
            "{} must not contain personally identifiable information such as an email address",
            join(prefix, key)
        )));
    }
    Ok(id)
}

fn looks_like_email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => !local.is_empty() && domain.contains('.'),
        None => false,
    }
}

fn invalid(path: &str, what: &str) -> PlaidApiError {
    PlaidApiError::invalid_field(format!("{path} {what}"))
}

fn check_email(s: &str, path: &str) -> Result<(), PlaidApiError> {
    let ok = s.trim() == s
        && !s.chars().any(char::is_whitespace)
        && s.matches('@').count() == 1
        && s.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        });
    if ok {
        Ok(())
    } else {
        Err(invalid(path, "must be a valid email address"))
    }
}

/// E.164, and for the North American plan (+1) the numbering rules a real validator applies:
/// ten digits, area code and exchange not starting with 0 or 1.
pub fn check_phone(s: &str, path: &str) -> Result<(), PlaidApiError> {
    let err = || {
        invalid(
            path,
            "must be a valid phone number in E.164 format, e.g. +12345678909",
        )
    };
    let digits = s.strip_prefix('+').ok_or_else(err)?;
    if !(8..=15).contains(&digits.len())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return Err(err());
    }
    if let Some(national) = digits.strip_prefix('1') {
        let b = national.as_bytes();
        if b.len() != 10 || b[0] < b'2' || b[3] < b'2' {
            return Err(err());
        }
    }
    Ok(())
}

pub fn check_date(s: &str, path: &str) -> Result<(), PlaidApiError> {
    let ok = s.len() == 10
        && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .is_ok_and(|d| d <= chrono::Utc::now().date_naive());
    if ok {
        Ok(())
    } else {
        Err(invalid(path, "must be a valid date in YYYY-MM-DD format"))
    }
}

fn check_name_part(s: &str, path: &str) -> Result<(), PlaidApiError> {
    if s.trim().is_empty() || s.chars().count() > 100 {
        return Err(invalid(
            path,
            "must contain at least one non-whitespace character and at most 100 characters",
        ));
    }
    Ok(())
}

fn check_ssn(value: &str, kind: &str, path: &str) -> Result<(), PlaidApiError> {
    let digits = value.bytes().all(|b| b.is_ascii_digit());
    match kind {
        "us_ssn" => {
            let ok = digits
                && value.len() == 9
                && !value.starts_with('9')
                && !value.starts_with("666")
                && !value.starts_with("000")
                && &value[3..5] != "00"
                && &value[5..9] != "0000";
            if !ok {
                return Err(invalid(path, "is not a valid us_ssn (9 digits, no dashes)"));
            }
        }
        "us_ssn_last_4" if !(digits && value.len() == 4) => {
            return Err(invalid(path, "is not a valid us_ssn_last_4 (4 digits)"));
        }
        _ => {}
    }
    Ok(())
}

/// Per-country address rules: (postal_code, region) as required / optional / not accepted.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    Required,
    Optional,
    NotAccepted,
}

fn country_rules(country: &str) -> (Rule, Rule) {
    use Rule::*;
    match country {
        "US" | "CA" | "AU" | "BR" | "MX" | "IN" => (Required, Required),
        "GB" | "IE" | "NL" | "DE" | "FR" | "SG" | "NZ" => (Required, NotAccepted),
        "HK" | "AE" => (NotAccepted, Optional),
        _ => (Optional, Optional),
    }
}

fn validate_address(o: &Obj, path: &str) -> Result<Address, PlaidApiError> {
    reject_unknown(
        o,
        &[
            "street",
            "street2",
            "city",
            "region",
            "postal_code",
            "country",
        ],
        path,
    )?;
    let country = opt_str(o, "country", path)?.ok_or_else(|| {
        invalid(
            &join(path, "country"),
            "is required when address is provided",
        )
    })?;
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            &join(path, "country"),
            "must be an ISO-3166-1 alpha-2 country code in capital letters",
        ));
    }
    let street = opt_str(o, "street", path)?;
    let street2 = opt_str(o, "street2", path)?;
    let city = opt_str(o, "city", path)?;
    let region = opt_str(o, "region", path)?;
    let postal_code = opt_str(o, "postal_code", path)?;
    let (postal_rule, region_rule) = country_rules(&country);
    // "Not accepted" keys must be omitted, not sent as null.
    for (key, rule) in [("postal_code", postal_rule), ("region", region_rule)] {
        if rule == Rule::NotAccepted && o.contains_key(key) {
            return Err(invalid(
                &join(path, key),
                &format!("is not accepted for country {country}; omit the key"),
            ));
        }
    }
    let country_only = street.is_none()
        && street2.is_none()
        && city.is_none()
        && region.is_none()
        && postal_code.is_none();
    if !country_only {
        // Partial addresses are refused: a full address needs street and city, plus what the
        // country requires.
        let mut needed = vec![("street", street.is_some()), ("city", city.is_some())];
        if postal_rule == Rule::Required {
            needed.push(("postal_code", postal_code.is_some()));
        }
        if region_rule == Rule::Required {
            needed.push(("region", region.is_some()));
        }
        if let Some((key, _)) = needed.iter().find(|(_, ok)| !ok) {
            return Err(invalid(
                &join(path, key),
                "is required: send a country-only address or a complete address",
            ));
        }
        let has_alpha = |s: &str| s.chars().any(char::is_alphabetic);
        if let Some(s) = &street
            && (s.chars().count() > 80 || !has_alpha(s))
        {
            return Err(invalid(
                &join(path, "street"),
                "must contain a letter and at most 80 characters",
            ));
        }
        if let Some(s) = &street2
            && s.chars().count() > 50
        {
            return Err(invalid(
                &join(path, "street2"),
                "must be at most 50 characters",
            ));
        }
        if let Some(s) = &city
            && (s.chars().count() > 100 || !has_alpha(s))
        {
            return Err(invalid(
                &join(path, "city"),
                "must contain a letter and at most 100 characters",
            ));
        }
        if let Some(r) = &region
            && (r.is_empty()
                || r.len() > 3
                || !r.bytes().all(|b| b.is_ascii_alphanumeric())
                || r.contains('-'))
        {
            return Err(invalid(
                &join(path, "region"),
                "must be an ISO-3166-2 subdivision code without the country prefix, e.g. IN",
            ));
        }
        if let Some(p) = &postal_code {
            let ok = if country == "US" {
                p.len() == 5 && p.bytes().all(|b| b.is_ascii_digit())
            } else {
                (2..=10).contains(&p.len())
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-')
            };
            if !ok {
                return Err(invalid(
                    &join(path, "postal_code"),
                    &format!("is not a valid postal code for {country}"),
                ));
            }
        }
    }
    Ok(Address {
        street,
        street2,
        city,
        region,
        postal_code,
        country,
    })
}

/// `IdentityVerificationCreateRequestUser` / `IdentityVerificationRequestUser`.
/// `allow_client_user_id` admits the deprecated `user.client_user_id` (create only).
pub fn user_data(
    o: &Obj,
    path: &str,
    allow_client_user_id: bool,
) -> Result<UserData, PlaidApiError> {
    let mut allowed = vec![
        "email_address",
        "phone_number",
        "date_of_birth",
        "name",
        "address",
        "id_number",
    ];
    if allow_client_user_id {
        // Create's `IdentityVerificationCreateRequestUser`; `ip_address` since API 1.778.0.
        allowed.push("client_user_id");
        allowed.push("ip_address");
    }
    reject_unknown(o, &allowed, path)?;
    let mut user = UserData::default();
    if let Some(ip) = opt_str(o, "ip_address", path)? {
        if ip.parse::<std::net::IpAddr>().is_err() {
            return Err(invalid(
                &join(path, "ip_address"),
                "is not a valid IPv4 or IPv6 address",
            ));
        }
        user.ip_address = Some(ip);
    }
    if let Some(email) = opt_str(o, "email_address", path)? {
        check_email(&email, &join(path, "email_address"))?;
        user.email_address = Some(email);
    }
    if let Some(phone) = opt_str(o, "phone_number", path)? {
        check_phone(&phone, &join(path, "phone_number"))?;
        user.phone_number = Some(phone);
    }
    if let Some(dob) = opt_str(o, "date_of_birth", path)? {
        check_date(&dob, &join(path, "date_of_birth"))?;
        user.date_of_birth = Some(dob);
    }
    if let Some(name) = opt_obj(o, "name", path)? {
        let p = join(path, "name");
        reject_unknown(name, &["given_name", "family_name"], &p)?;
        let mut parts = Vec::new();
        for key in ["given_name", "family_name"] {
            let v = opt_str(name, key, &p)?
                .ok_or_else(|| invalid(&join(&p, key), "is required when name is provided"))?;
            check_name_part(&v, &join(&p, key))?;
            parts.push(v);
        }
        let family_name = parts.pop().unwrap_or_default();
        let given_name = parts.pop().unwrap_or_default();
        user.name = Some(Name {
            given_name,
            family_name,
        });
    }
    if let Some(address) = opt_obj(o, "address", path)? {
        user.address = Some(validate_address(address, &join(path, "address"))?);
    }
    if let Some(idn) = opt_obj(o, "id_number", path)? {
        let p = join(path, "id_number");
        reject_unknown(idn, &["value", "type"], &p)?;
        let value = opt_str(idn, "value", &p)?
            .ok_or_else(|| invalid(&join(&p, "value"), "is required when id_number is provided"))?;
        let kind = opt_str(idn, "type", &p)?
            .ok_or_else(|| invalid(&join(&p, "type"), "is required when id_number is provided"))?;
        if !ID_NUMBER_TYPES.contains(&kind.as_str()) {
            return Err(invalid(
                &join(&p, "type"),
                "is not a supported id number type",
            ));
        }
        if value.is_empty() || !value.chars().all(char::is_alphanumeric) {
            return Err(invalid(
                &join(&p, "value"),
                "must contain only letters and digits (strip spaces, dashes and dots)",
            ));
        }
        check_ssn(&value, &kind, &join(&p, "value"))?;
        user.id_number = Some(IdNumber { value, kind });
    }
    Ok(user)
}

#[cfg(test)]
mod tests;
