//! Link tokens as Link sees them: opening the session a token stands for, and invalidating it.

use crate::Inner;
use crate::errors::ControlError;
use crate::state::{LinkTokenRecord, Status, StepStatus};
use serde_json::{Value, json};

/// Why Link cannot serve a session for a link token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpenRefusal {
    /// The emulator never issued this token (or forgot it on reset).
    UnknownToken,
    /// The token was invalidated (`POST /emulator/link_tokens/{token}/invalidate`).
    Invalidated,
    /// The user's latest session for the token's template has ended; Link serves a new one
    /// only after a retry.
    Ended { id: String, status: Status },
    /// The token's template was removed since (a reset dropped a template added at run time).
    UnknownTemplate(String),
}

/// The session Link serves for a token, and whether opening it started it.
pub(crate) struct Opened {
    pub id: String,
    pub created: bool,
    pub session: Value,
}

/// What Link does when a user opens it with this token: resume the user's open session for the
/// token's template, or start one (with the token's `user` prefill) if the user has none. An
/// ended session is not reopened: Link serves a new one only after a retry.
pub(crate) fn open_session(inner: &Inner, token: &str) -> Result<Opened, OpenRefusal> {
    let mut state = inner.lock();
    let rec = state
        .link_tokens
        .get(token)
        .cloned()
        .ok_or(OpenRefusal::UnknownToken)?;
    if rec.invalidated_at.is_some() {
        return Err(OpenRefusal::Invalidated);
    }
    if let Some(latest) = state
        .sessions_of(&rec.client_user_id, Some(&rec.template_id))
        .first()
    {
        if matches!(latest.status, Status::Active | Status::PendingReview) {
            return Ok(Opened {
                id: latest.id.clone(),
                created: false,
                session: latest.to_json(),
            });
        }
        return Err(OpenRefusal::Ended {
            id: latest.id.clone(),
            status: latest.status,
        });
    }
    let template = state
        .templates
        .get(&rec.template_id)
        .cloned()
        .ok_or_else(|| OpenRefusal::UnknownTemplate(rec.template_id.clone()))?;
    let id = crate::ids::idv_id();
    let seq = state.seq();
    let mut session = crate::state::Session {
        id: id.clone(),
        seq,
        client_user_id: rec.client_user_id,
        template_id: template.id.clone(),
        template_version: template.version,
        template_steps: template.steps,
        created_at: chrono::Utc::now(),
        completed_at: None,
        previous_attempt_id: None,
        shareable_url: None,
        is_shareable: false,
        user: rec.user,
        status: Status::Active,
        steps: [StepStatus::NotApplicable; 7],
        details: Default::default(),
        watchlist_screening_id: None,
    };
    session.lay_out(rec.gave_consent.unwrap_or(false), |_| false, |_| false);
    let value = session.to_json();
    state.sessions.insert(id.clone(), session);
    Ok(Opened {
        id,
        created: true,
        session: value,
    })
}

/// What Plaid does when a person takes too long in Link or fails too often: the token stops
/// working, and Link exits with `INVALID_LINK_TOKEN`. Idempotent.
pub(crate) fn invalidate_link_token(
    inner: &Inner,
    token: &str,
) -> Result<LinkTokenRecord, ControlError> {
    let mut state = inner.lock();
    let rec = state
        .link_tokens
        .get_mut(token)
        .ok_or_else(|| ControlError::NotFound(format!("link token {token}")))?;
    rec.invalidated_at
        .get_or_insert_with(|| crate::state::ts(chrono::Utc::now()));
    Ok(rec.clone())
}

/// `POST /emulator/link_tokens/{token}/open`: [`open_session`] as a control call.
pub(crate) fn open_link(inner: &Inner, token: &str) -> Result<Value, ControlError> {
    match open_session(inner, token) {
        Ok(o) => Ok(json!({"session": o.session, "created": o.created})),
        Err(OpenRefusal::UnknownToken) => {
            Err(ControlError::NotFound(format!("link token {token}")))
        }
        Err(OpenRefusal::Invalidated) => Err(ControlError::Conflict(format!(
            "link token {token} was invalidated; create a new one"
        ))),
        Err(OpenRefusal::UnknownTemplate(t)) => {
            Err(ControlError::NotFound(format!("template {t}")))
        }
        Err(OpenRefusal::Ended { id, status }) => Err(ControlError::Conflict(format!(
            "the latest session {id} has ended ({}); issue /identity_verification/retry first",
            json!(status).as_str().unwrap_or_default()
        ))),
    }
}
