//! The result objects Plaid fills in when a step finishes (`kyc_check`,
//! `documentary_verification`, `verify_sms`, `selfie_check`, `risk_check`), and the Sandbox
//! rules that decide an outcome when a test does not force one: only the test identity
//! (Leslie Knope) passes the data-source and document checks, and the SMS code is 11111.

use super::state::{Outcome, Session, Step, UserData, ts};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

pub const SANDBOX_SMS_CODE: &str = "11111";

/// The Sandbox test identity (Plaid docs, "Testing Identity Verification").
pub mod leslie {
    pub const GIVEN_NAME: &str = "Leslie";
    pub const FAMILY_NAME: &str = "Knope";
    pub const DATE_OF_BIRTH: &str = "1975-01-18";
    pub const PHONE: &str = "+12345678909";
    pub const STREET: &str = "123 Main St.";
    pub const CITY: &str = "Pawnee";
    pub const REGION: &str = "IN";
    pub const POSTAL_CODE: &str = "46001";
    pub const COUNTRY: &str = "US";
    pub const SSNS: [&str; 2] = ["123456788", "123456789"];
    pub const SSN_LAST_4: [&str; 2] = ["6788", "6789"];
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

fn summary(input: Option<bool>) -> &'static str {
    match input {
        None => "no_input",
        Some(true) => "match",
        Some(false) => "no_match",
    }
}

/// Per-field comparison with the test identity: `None` when the user gave no such field.
struct Matches {
    name: Option<bool>,
    date_of_birth: Option<bool>,
    address: Option<bool>,
    id_number: Option<bool>,
    phone: Option<bool>,
}

fn compare(user: &UserData) -> Matches {
    Matches {
        name: user.name.as_ref().map(|n| {
            norm(&n.given_name) == norm(leslie::GIVEN_NAME)
                && norm(&n.family_name) == norm(leslie::FAMILY_NAME)
        }),
        date_of_birth: user
            .date_of_birth
            .as_ref()
            .map(|d| d == leslie::DATE_OF_BIRTH),
        address: user.address.as_ref().map(|a| {
            a.country == leslie::COUNTRY
                && a.street.as_deref().map(norm) == Some(norm(leslie::STREET))
                && a.city.as_deref().map(norm) == Some(norm(leslie::CITY))
                && a.region.as_deref() == Some(leslie::REGION)
                && a.postal_code.as_deref() == Some(leslie::POSTAL_CODE)
        }),
        id_number: user.id_number.as_ref().map(|i| match i.kind.as_str() {
            "us_ssn" => leslie::SSNS.contains(&i.value.as_str()),
            "us_ssn_last_4" => leslie::SSN_LAST_4.contains(&i.value.as_str()),
            _ => false,
        }),
        phone: user.phone_number.as_ref().map(|p| p == leslie::PHONE),
    }
}

/// The outcome Sandbox would give `step` for this session's data.
pub fn sandbox_outcome(session: &Session, step: Step, sms_code: Option<&str>) -> Outcome {
    let m = compare(&session.user);
    let pass = match step {
        Step::VerifySms => sms_code.unwrap_or(SANDBOX_SMS_CODE) == SANDBOX_SMS_CODE,
        // Data source: name, birth date and address must match; anything else given must too.
        Step::KycCheck => {
            m.name == Some(true)
                && m.date_of_birth == Some(true)
                && m.address == Some(true)
                && m.id_number != Some(false)
                && m.phone != Some(false)
        }
        // Any document is read as Leslie's: it passes iff the entered name and birth date are hers.
        Step::DocumentaryVerification => m.name == Some(true) && m.date_of_birth == Some(true),
        _ => true,
    };
    if pass {
        Outcome::Success
    } else {
        Outcome::Failed
    }
}

/// `kyc_check.id_number.ssa_verification` (API 1.778.0, required and nullable): the Social
/// Security Administration's answer for name, date of birth and a full US SSN together
/// (`fields`, in that order, compared as for the KYC summaries): `match` when all three match,
/// `no_match` when one does not, `no_data` when the name or date of birth is missing; `null`
/// when no full SSN was given (nothing to send: no number, the last 4, another country's id).
fn ssa_verification(user: &UserData, fields: [Option<bool>; 3]) -> Value {
    if user.id_number.as_ref().is_none_or(|i| i.kind != "us_ssn") {
        return Value::Null;
    }
    if fields.contains(&Some(false)) {
        json!({"match": "no_match", "is_deceased": null})
    } else if fields.iter().all(|f| *f == Some(true)) {
        json!({"match": "match", "is_deceased": false})
    } else {
        json!({"match": "no_data", "is_deceased": null})
    }
}

/// `risk_check.email.name` (API 1.778.0, required): whether the email's local part carries
/// the user's name.
fn email_name(user: &UserData) -> &'static str {
    let (Some(email), Some(name)) = (user.email_address.as_ref(), user.name.as_ref()) else {
        return "no_input";
    };
    let local = email.split('@').next().unwrap_or_default().to_lowercase();
    if !local.chars().any(|c| c.is_ascii_alphabetic()) {
        return "indeterminate";
    }
    let has = |part: &str| {
        let p = norm(part);
        !p.is_empty() && local.contains(&p.replace(' ', ""))
    };
    match (has(&name.given_name), has(&name.family_name)) {
        (true, true) => "match",
        (true, false) | (false, true) => "partial_match",
        (false, false) => "no_match",
    }
}

/// `selfie_check.selfies[].analysis.age_check` (API 1.778.0, optional, nullable): the age
/// estimated from the selfie against the age from the date of birth given.
fn age_check(user: &UserData, ok: bool, now: DateTime<Utc>) -> Value {
    let reported = user
        .date_of_birth
        .as_deref()
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .and_then(|dob| now.date_naive().years_since(dob))
        .map(i64::from);
    let centre = reported.unwrap_or(35);
    let (lower, upper, status) = match reported {
        None => (centre - 5, centre + 5, "no_data"),
        Some(_) if ok => (centre - 3, centre + 4, "match"),
        Some(_) => (centre + 15, centre + 25, "no_match"),
    };
    json!({
        "status": status,
        "reported_age": reported,
        "age_estimate_lower_bound": lower.max(0),
        "age_estimate_upper_bound": upper,
    })
}

fn status_str(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Success => "success",
        Outcome::Failed => "failed",
        Outcome::PendingReview => "pending_review",
    }
}

/// The result object for a finished step, or `None` for steps that have none.
pub fn for_step(
    session: &Session,
    step: Step,
    outcome: Outcome,
    now: DateTime<Utc>,
) -> Option<Value> {
    let status = status_str(outcome);
    let ok = outcome == Outcome::Success;
    let media = |path: &str| {
        format!(
            "https://example.plaid.com/verifications/{}/{path}",
            session.id
        )
    };
    match step {
        Step::VerifySms => Some(json!({
            "status": status,
            "verifications": [{
                "status": status,
                "attempt": 1,
                "phone_number": session.user.phone_number,
                "delivery_attempt_count": 1,
                "solve_attempt_count": if ok { 1 } else { 3 },
                "initially_sent_at": ts(now),
                "last_sent_at": ts(now),
                "redacted_at": null,
            }],
        })),
        Step::KycCheck => {
            let m = compare(&session.user);
            // A forced outcome wins over the data: every field given reads as (no) match.
            let forced = |field: Option<bool>| field.map(|_| ok);
            let pick = |field: Option<bool>| {
                if sandbox_outcome(session, step, None) == outcome {
                    field
                } else {
                    forced(field)
                }
            };
            Some(json!({
                "status": status,
                "address": {"summary": summary(pick(m.address)), "po_box": "no", "type": "residential"},
                "name": {"summary": summary(pick(m.name))},
                "date_of_birth": {"summary": summary(pick(m.date_of_birth))},
                "id_number": {
                    "summary": summary(pick(m.id_number)),
                    "ssa_verification": ssa_verification(
                        &session.user,
                        [pick(m.name), pick(m.date_of_birth), pick(m.id_number)],
                    ),
                },
                "phone_number": {"summary": summary(pick(m.phone)), "area_code": summary(pick(m.phone))},
            }))
        }
        Step::DocumentaryVerification => {
            let m = compare(&session.user);
            let code = |field: Option<bool>| match field {
                Some(true) => "match",
                Some(false) => "no_match",
                None => "no_data",
            };
            let (name_code, dob_code) = if ok {
                ("match", "match")
            } else if m.name == Some(true) && m.date_of_birth == Some(true) {
                ("no_match", "no_match")
            } else {
                (code(m.name), code(m.date_of_birth))
            };
            // Sandbox lets a user try three times before the step fails.
            let attempts = if ok { 1 } else { 3 };
            let documents: Vec<Value> = (1..=attempts)
                .map(|attempt| {
                    json!({
                        "status": status,
                        "attempt": attempt,
                        "images": {
                            "original_front": media(&format!("documents/{attempt}/original_front.jpeg")),
                            "original_back": media(&format!("documents/{attempt}/original_back.jpeg")),
                            "cropped_front": media(&format!("documents/{attempt}/cropped_front.jpeg")),
                            "cropped_back": media(&format!("documents/{attempt}/cropped_back.jpeg")),
                            "face": media(&format!("documents/{attempt}/face.jpeg")),
                        },
                        "extracted_data": {
                            "id_number": "AB123456",
                            "category": "drivers_license",
                            "expiration_date": "2030-05-29",
                            "issue_date": "2020-05-29",
                            "issuing_country": leslie::COUNTRY,
                            "issuing_region": leslie::REGION,
                            "date_of_birth": leslie::DATE_OF_BIRTH,
                            "address": {
                                "street": leslie::STREET, "city": leslie::CITY, "region": leslie::REGION,
                                "postal_code": leslie::POSTAL_CODE, "country": leslie::COUNTRY,
                            },
                            "name": {"given_name": leslie::GIVEN_NAME, "family_name": leslie::FAMILY_NAME},
                        },
                        "analysis": {
                            "authenticity": "match",
                            "image_quality": "high",
                            "extracted_data": {
                                "name": name_code,
                                "date_of_birth": dob_code,
                                "expiration_date": "not_expired",
                                "issuing_country": "match",
                            },
                            "fraud_analysis_details": {
                                "type_supported": "success",
                                "portrait_presence_check": "success",
                                "portrait_details_check": "success",
                                "image_composition_check": "success",
                                "integrity_check": "success",
                                "detail_check": "success",
                                "issue_date_check": "success",
                            },
                            "image_quality_details": {
                                "glare_check": "success",
                                "dimensions_check": "success",
                                "blur_check": "success",
                            },
                            "human_review": {"status": "no_data"},
                            "aamva_verification": null,
                        },
                        "redacted_at": null,
                    })
                })
                .collect();
            Some(json!({"status": status, "documents": documents}))
        }
        Step::SelfieCheck => Some(json!({
            "status": status,
            "selfies": [{
                "status": status,
                "attempt": 1,
                "capture": {"image_url": null, "video_url": media("selfie/liveness.webm")},
                "analysis": {
                    "document_comparison": if ok { "match" } else { "no_match" },
                    "liveness_check": status,
                    "age_check": age_check(&session.user, ok, now),
                },
            }],
        })),
        Step::RiskCheck => {
            let level = if ok { "low" } else { "high" };
            let factors: Vec<&str> = if ok {
                vec![]
            } else {
                vec!["Device associated with many identities"]
            };
            Some(json!({
                "status": status,
                "behavior": {
                    "user_interactions": if ok { "genuine" } else { "risky" },
                    "fraud_ring_detected": if ok { "no" } else { "yes" },
                    "bot_detected": "no",
                    "risk_level": level,
                },
                "email": session.user.email_address.as_ref().map(|_| json!({
                    "is_deliverable": "yes",
                    "breach_count": 0,
                    "first_breached_at": null,
                    "last_breached_at": null,
                    "domain_registered_at": "1995-08-13",
                    "domain_is_free_provider": "no",
                    "domain_is_custom": "no",
                    "domain_is_disposable": "no",
                    "top_level_domain_is_suspicious": "no",
                    "is_edu": "no",
                    "includes_date_of_birth": "no",
                    "name": email_name(&session.user),
                    "linked_services": [],
                    "risk_level": "low",
                    "factors": [],
                })),
                "phone": session.user.phone_number.as_ref().map(|_| json!({
                    "linked_services": [],
                    "risk_level": "low",
                    "factors": [],
                })),
                "devices": [{
                    "ip_proxy_type": "none_detected",
                    "ip_spam_list_count": 0,
                    "ip_timezone_offset": "-05:00:00",
                    "risk_level": level,
                    "factors": factors,
                }],
                "identity_abuse_signals": {
                    "synthetic_identity": {"score": if ok { 5 } else { 92 }, "risk_level": level},
                    "stolen_identity": {"score": if ok { 3 } else { 88 }, "risk_level": level},
                },
                "network": {"risk_level": level, "factors": factors},
                "facial_duplicates": [],
                "trust_index_score": if ok { 86 } else { 12 },
            }))
        }
        Step::AcceptTos | Step::WatchlistScreening => None,
    }
}

#[cfg(test)]
mod tests;
