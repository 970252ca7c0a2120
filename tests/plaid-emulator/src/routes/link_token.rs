//! `/link/token/create`.

use super::{known_template, no_user_id};
use crate::Inner;
use crate::errors::PlaidApiError;
use crate::ids;
use crate::state::{LinkTokenRecord, State, ts};
use crate::validate::{self as v, Obj};
use serde_json::{Value, json};

/// `CountryCode` of the spec; Identity Verification also needs the company in US, CA or GB.
const COUNTRY_CODES: &[&str] = &[
    "US", "GB", "ES", "NL", "FR", "IE", "CA", "DE", "IT", "PL", "DK", "NO", "SE", "EE", "LT", "LV",
    "PT", "BE", "AT", "FI",
];
const LANGUAGES: &[&str] = &[
    "da", "nl", "en", "et", "fr", "de", "hi", "it", "ja", "lv", "lt", "no", "pl", "pt", "ro", "es",
    "sv", "vi",
];
const LINK_TOKEN_FIELDS: &[&str] = &[
    "client_id",
    "secret",
    "client_name",
    "language",
    "country_codes",
    "user",
    "user_id",
    "products",
    "required_if_supported_products",
    "optional_products",
    "additional_consented_products",
    "webhook",
    "access_token",
    "access_tokens",
    "link_customization_name",
    "appearance_mode",
    "redirect_uri",
    "android_package_name",
    "institution_data",
    "card_switch",
    "account_filters",
    "eu_config",
    "institution_id",
    "payment_configuration",
    "payment_initiation",
    "employment",
    "income_verification",
    "base_report",
    "credit_partner_insights",
    "cra_options",
    "cra_report_parameter",
    "consumer_report_permissible_purpose",
    "auth",
    "transfer",
    "update",
    "identity_verification",
    "statements",
    "third_party_user_token",
    "investments",
    "investments_auth",
    "hosted_link",
    "transactions",
    "cashflow_report",
    "cra_enabled",
    "identity",
    "financekit_supported",
    "enable_multi_item_link",
    "user_token",
];

pub(super) fn link_token_create(
    inner: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<crate::state::Event>), PlaidApiError> {
    v::reject_unknown(obj, LINK_TOKEN_FIELDS, "")?;
    v::require(obj, &["client_name", "language", "country_codes"], "")?;
    no_user_id(obj)?;
    v::require(obj, &["user", "products", "identity_verification"], "")?;
    v::req_nonempty(obj, "client_name", "")?;
    let language = v::req_nonempty(obj, "language", "")?;
    if !LANGUAGES.contains(&language.as_str()) {
        return Err(PlaidApiError::invalid_field(
            "language is not a supported language code",
        ));
    }
    let countries = match obj.get("country_codes") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(PlaidApiError::invalid_field(
                "country_codes must be a non-empty array of country codes",
            ));
        }
    };
    for c in countries {
        let code = c.as_str().unwrap_or_default();
        if !COUNTRY_CODES.contains(&code) {
            return Err(PlaidApiError::invalid_field(format!(
                "country_codes contains an unsupported country code: {c}"
            )));
        }
        if !["US", "CA", "GB"].contains(&code) {
            return Err(PlaidApiError::invalid_field(
                "country_codes: Identity Verification is only available to companies based in US, CA or GB",
            ));
        }
    }
    let user = v::opt_obj(obj, "user", "")?
        .ok_or_else(|| PlaidApiError::invalid_field("user must be an object"))?;
    v::reject_unknown(
        user,
        &[
            "client_user_id",
            "legal_name",
            "name",
            "phone_number",
            "phone_number_verified_time",
            "email_address",
            "email_address_verified_time",
            "ssn",
            "date_of_birth",
            "address",
            "id_number",
        ],
        "user",
    )?;
    v::require(user, &["client_user_id"], "user")?;
    let client_user_id = v::client_user_id(user, "client_user_id", "user")?;
    let prefill: Obj = user
        .iter()
        .filter(|(k, val)| {
            [
                "name",
                "phone_number",
                "email_address",
                "date_of_birth",
                "address",
                "id_number",
            ]
            .contains(&k.as_str())
                && !val.is_null()
        })
        .map(|(k, val)| (k.clone(), val.clone()))
        .collect();
    let prefill = v::user_data(&prefill, "user", false)?;
    match obj.get("products") {
        Some(Value::Array(p)) if p.len() == 1 && p[0] == "identity_verification" => {}
        _ => {
            return Err(PlaidApiError::invalid_field(
                "products must be exactly [\"identity_verification\"]: Identity Verification cannot be combined with other products",
            ));
        }
    }
    for key in [
        "required_if_supported_products",
        "optional_products",
        "additional_consented_products",
    ] {
        if obj
            .get(key)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            return Err(PlaidApiError::invalid_field(format!(
                "{key} cannot be used with identity_verification"
            )));
        }
    }
    let idv = v::opt_obj(obj, "identity_verification", "")?
        .ok_or_else(|| PlaidApiError::invalid_field("identity_verification must be an object"))?;
    v::reject_unknown(
        idv,
        &["template_id", "consent", "gave_consent"],
        "identity_verification",
    )?;
    v::require(idv, &["template_id"], "identity_verification")?;
    let template_id = v::req_nonempty(idv, "template_id", "identity_verification")?;
    let gave_consent = v::opt_bool(idv, "gave_consent", "identity_verification")?.or(v::opt_bool(
        idv,
        "consent",
        "identity_verification",
    )?);
    known_template(state, &template_id, "identity_verification.template_id")?;
    let now = chrono::Utc::now();
    let link_token = format!("link-{}-{}", inner.environment.as_str(), ids::uuid_v4());
    let expiration = ts(now + chrono::Duration::hours(4));
    state.link_tokens.insert(
        link_token.clone(),
        LinkTokenRecord {
            link_token: link_token.clone(),
            template_id,
            client_user_id,
            gave_consent,
            created_at: ts(now),
            expiration: expiration.clone(),
            invalidated_at: None,
            user: prefill,
        },
    );
    Ok((
        json!({"link_token": link_token, "expiration": expiration}),
        vec![],
    ))
}
