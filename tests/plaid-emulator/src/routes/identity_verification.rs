//! `/identity_verification/{create,get,list,retry}`.

use super::{known_template, no_user_id};
use crate::Inner;
use crate::errors::PlaidApiError;
use crate::ids;
use crate::state::{Session, State, Status, Step};
use crate::validate::{self as v, Obj};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

fn new_session(
    inner: &Inner,
    state: &mut State,
    template: &crate::state::Template,
    client_user_id: String,
    is_shareable: bool,
) -> Session {
    let id = ids::idv_id();
    let shareable_url = is_shareable.then(|| {
        format!(
            "{}{}/{id}?key={}",
            inner.base_url,
            crate::hosted::VERIFY_PATH,
            ids::share_key()
        )
    });
    Session {
        id,
        seq: state.seq(),
        client_user_id,
        template_id: template.id.clone(),
        template_version: template.version,
        template_steps: template.steps,
        created_at: chrono::Utc::now(),
        completed_at: None,
        previous_attempt_id: None,
        shareable_url,
        is_shareable,
        user: Default::default(),
        status: Status::Active,
        steps: [crate::state::StepStatus::NotApplicable; 7],
        details: Default::default(),
        watchlist_screening_id: None,
    }
}

/// `IdentityVerificationLanguage` (API 1.778.0).
const IDV_LANGUAGES: &[&str] = &[
    "en-US", "es-ES", "es-US", "fr-CA", "ja-JP", "pt-BR", "pt-PT",
];

pub(super) fn create(
    inner: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<crate::state::Event>), PlaidApiError> {
    v::reject_unknown(
        obj,
        &[
            "client_id",
            "secret",
            "client_user_id",
            "user_id",
            "is_shareable",
            "template_id",
            "gave_consent",
            "user",
            "is_idempotent",
            "language",
        ],
        "",
    )?;
    v::require(obj, &["template_id", "gave_consent", "is_shareable"], "")?;
    // `language` (API 1.778.0): the flow's language; nullable. Validated, not otherwise used.
    if let Some(lang) = v::opt_str(obj, "language", "")?
        && !IDV_LANGUAGES.contains(&lang.as_str())
    {
        return Err(PlaidApiError::invalid_field(format!(
            "language must be one of {}",
            IDV_LANGUAGES.join(", ")
        )));
    }
    no_user_id(obj)?;
    let user_obj = v::opt_obj(obj, "user", "")?;
    let root_cuid = v::opt_str(obj, "client_user_id", "")?;
    let client_user_id = match (
        root_cuid,
        user_obj
            .and_then(|u| u.get("client_user_id"))
            .filter(|c| !c.is_null()),
    ) {
        (Some(_), _) => v::client_user_id(obj, "client_user_id", "")?,
        (None, Some(_)) => v::client_user_id(user_obj.unwrap_or(obj), "client_user_id", "user")?,
        (None, None) => return Err(PlaidApiError::missing_fields(&["client_user_id".into()])),
    };
    let template_id = v::req_nonempty(obj, "template_id", "")?;
    let gave_consent = v::req_bool(obj, "gave_consent", "")?;
    let is_shareable = v::req_bool(obj, "is_shareable", "")?;
    let is_idempotent = v::opt_bool(obj, "is_idempotent", "")?.unwrap_or(false);
    let user = match user_obj {
        Some(u) => v::user_data(u, "user", true)?,
        None => Default::default(),
    };
    let template = known_template(state, &template_id, "template_id")?;
    if let Some(existing) = state
        .sessions_of(&client_user_id, Some(&template_id))
        .first()
    {
        if is_idempotent {
            return Ok((existing.to_json(), vec![]));
        }
        return Err(PlaidApiError::invalid_field(
            "client_user_id already has an identity verification for this template_id; pass is_idempotent: true to fetch it, or use /identity_verification/retry",
        ));
    }
    let mut session = new_session(inner, state, &template, client_user_id, is_shareable);
    session.user = user;
    session.lay_out(gave_consent, |_| false, |_| false);
    let value = session.to_json();
    state.sessions.insert(session.id.clone(), session);
    Ok((value, vec![]))
}

pub(super) fn get(
    _: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<crate::state::Event>), PlaidApiError> {
    v::reject_unknown(
        obj,
        &["client_id", "secret", "identity_verification_id"],
        "",
    )?;
    v::require(obj, &["identity_verification_id"], "")?;
    let id = v::req_str(obj, "identity_verification_id", "")?;
    let session = state.sessions.get(&id).ok_or_else(|| {
        PlaidApiError::invalid_field(
            "identity_verification_id does not match an identity verification of this client",
        )
    })?;
    Ok((session.to_json(), vec![]))
}

fn encode_cursor(seq: u64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{seq}"))
}

fn decode_cursor(c: &str) -> Option<u64> {
    let raw = URL_SAFE_NO_PAD.decode(c).ok()?;
    String::from_utf8(raw)
        .ok()?
        .strip_prefix("v1:")?
        .parse()
        .ok()
}

pub(super) fn list(
    inner: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<crate::state::Event>), PlaidApiError> {
    v::reject_unknown(
        obj,
        &[
            "client_id",
            "secret",
            "template_id",
            "client_user_id",
            "user_id",
            "cursor",
        ],
        "",
    )?;
    v::require(obj, &["template_id"], "")?;
    no_user_id(obj)?;
    v::require(obj, &["client_user_id"], "")?;
    let template_id = v::req_nonempty(obj, "template_id", "")?;
    let client_user_id = v::req_nonempty(obj, "client_user_id", "")?;
    known_template(state, &template_id, "template_id")?;
    let before = match v::opt_str(obj, "cursor", "")? {
        None => u64::MAX,
        Some(c) => decode_cursor(&c).ok_or_else(|| {
            PlaidApiError::invalid_field("cursor is not a cursor returned by this endpoint")
        })?,
    };
    let matching: Vec<&Session> = state
        .sessions_of(&client_user_id, Some(&template_id))
        .into_iter()
        .filter(|s| s.seq < before)
        .collect();
    let page: Vec<&Session> = matching
        .iter()
        .take(inner.list_page_size)
        .copied()
        .collect();
    let next_cursor = (matching.len() > page.len())
        .then(|| page.last().map(|s| encode_cursor(s.seq)))
        .flatten();
    Ok((
        json!({
            "identity_verifications": page.iter().map(|s| s.to_json()).collect::<Vec<_>>(),
            "next_cursor": next_cursor,
        }),
        vec![],
    ))
}

pub(super) fn retry(
    inner: &Inner,
    state: &mut State,
    obj: &Obj,
) -> Result<(Value, Vec<crate::state::Event>), PlaidApiError> {
    v::reject_unknown(
        obj,
        &[
            "client_id",
            "secret",
            "client_user_id",
            "template_id",
            "strategy",
            "steps",
            "user",
            "is_shareable",
        ],
        "",
    )?;
    v::require(obj, &["client_user_id", "template_id", "strategy"], "")?;
    let client_user_id = v::client_user_id(obj, "client_user_id", "")?;
    let template_id = v::req_nonempty(obj, "template_id", "")?;
    let strategy = v::req_str(obj, "strategy", "")?;
    if !["reset", "incomplete", "infer", "custom"].contains(&strategy.as_str()) {
        return Err(PlaidApiError::invalid_field(
            "strategy must be one of reset, incomplete, infer, custom",
        ));
    }
    let steps = v::opt_obj(obj, "steps", "")?;
    let custom = match (strategy.as_str(), steps) {
        ("custom", None) => return Err(PlaidApiError::missing_fields(&["steps".into()])),
        ("custom", Some(s)) => {
            v::reject_unknown(
                s,
                &[
                    "verify_sms",
                    "kyc_check",
                    "documentary_verification",
                    "selfie_check",
                ],
                "steps",
            )?;
            v::require(
                s,
                &[
                    "verify_sms",
                    "kyc_check",
                    "documentary_verification",
                    "selfie_check",
                ],
                "steps",
            )?;
            let mut on = std::collections::HashMap::new();
            for (key, step) in [
                ("verify_sms", Step::VerifySms),
                ("kyc_check", Step::KycCheck),
                ("documentary_verification", Step::DocumentaryVerification),
                ("selfie_check", Step::SelfieCheck),
            ] {
                on.insert(step, v::req_bool(s, key, "steps")?);
            }
            Some(on)
        }
        (_, Some(_)) => {
            return Err(PlaidApiError::invalid_field(
                "steps must only be provided when strategy is custom",
            ));
        }
        (_, None) => None,
    };
    let user = match v::opt_obj(obj, "user", "")? {
        Some(u) => Some(v::user_data(u, "user", false)?),
        None => None,
    };
    let is_shareable = v::opt_bool(obj, "is_shareable", "")?;
    let template = known_template(state, &template_id, "template_id")?;
    let previous = {
        let same = state.sessions_of(&client_user_id, Some(&template_id));
        let any = state.sessions_of(&client_user_id, None);
        same.first().or(any.first()).map(|s| (*s).clone())
    }
    .ok_or_else(|| {
        PlaidApiError::invalid_field(
            "client_user_id has no identity verification to retry; create one first",
        )
    })?;

    let effective = match strategy.as_str() {
        "infer" => match previous.status {
            Status::Active => {
                return Err(PlaidApiError::invalid_field(
                    "strategy infer is not allowed while the latest identity verification is still active",
                ));
            }
            Status::Failed | Status::Expired => "incomplete",
            _ => "reset",
        },
        other => other,
    };
    if effective == "incomplete" {
        if previous.status == Status::Success {
            return Err(PlaidApiError::invalid_field(
                "strategy incomplete needs a latest identity verification that did not succeed; use reset or custom",
            ));
        }
        if let Some(step @ (Step::RiskCheck | Step::WatchlistScreening)) = previous.failed_step() {
            return Err(PlaidApiError::invalid_field(format!(
                "strategy incomplete is not allowed when the failing step is {}; use reset or custom",
                step.as_str()
            )));
        }
    }

    let mut session = new_session(
        inner,
        state,
        &template,
        client_user_id,
        is_shareable.unwrap_or(previous.is_shareable),
    );
    session.previous_attempt_id = Some(previous.id.clone());
    session.user = previous.user.clone();
    if let Some(u) = user {
        session.user.merge(u);
    }
    let tos_done = previous.tos_accepted();
    match (effective, &custom) {
        ("incomplete", _) => session.lay_out(tos_done, |s| previous.step_passed(s), |_| false),
        ("custom", Some(on)) => session.lay_out(
            tos_done,
            |s| on.get(&s) == Some(&false),
            |s| on.get(&s) == Some(&true),
        ),
        _ => session.lay_out(tos_done, |_| false, |_| false),
    }
    let value = session.to_json();
    let event = crate::state::Event {
        code: "RETRIED",
        identity_verification_id: session.id.clone(),
    };
    state.sessions.insert(session.id.clone(), session);
    Ok((value, vec![event]))
}
