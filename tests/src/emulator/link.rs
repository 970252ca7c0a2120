//! The Link stand-in: an offline copy of Plaid Link's web SDK for Identity Verification.
//!
//! - `GET /link/v2/stable/link-initialize.js`: the SDK, at the path of Plaid's CDN, with Link's
//!   JavaScript API (`Plaid.create({token, onSuccess, onExit, onEvent, onLoad})` → `open()`,
//!   `exit()`, `destroy()`).
//! - `GET /link/flow?token=…&origin=…`: the page the SDK frames in a full-viewport overlay, as
//!   real Link frames `cdn.plaid.com`. It talks to the endpoints below on its own origin and
//!   posts Link's callbacks to the parent page (its origin given as `origin`).
//! - `POST /link/flow/api/open` and `POST /link/flow/api/step`: what the framed page calls.
//!   Every change goes through the emulator's own session machine (the same as the control
//!   API's), so `STEP_UPDATED` / `STATUS_UPDATED` webhooks fire as the person moves on.
//!
//! See the "Link stand-in" section of `tests/EMULATOR.md`.

use super::control::{self, OpenRefusal};
use super::details::{SANDBOX_SMS_CODE, sandbox_outcome};
use super::errors::ControlError;
use super::state::{Outcome, Session, Status, Step, StepStatus};
use super::{Inner, ids, validate};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

const INITIALIZE_JS: &str = include_str!("link/link-initialize.js");
const FLOW_HTML: &str = include_str!("link/flow.html");

/// Wrong SMS codes Sandbox accepts before the step fails (`solve_attempt_count`, max 3).
pub const SMS_ATTEMPTS: u32 = 3;

type S = AxState<Arc<Inner>>;

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route(
            "/link/v2/stable/link-initialize.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-store"),
                        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                    ],
                    INITIALIZE_JS,
                )
            }),
        )
        .route(
            "/link/flow",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                        (header::CACHE_CONTROL, "no-store"),
                        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                        (header::REFERRER_POLICY, "no-referrer"),
                    ],
                    FLOW_HTML,
                )
            }),
        )
        .route(
            "/link/flow/api/open",
            post(|AxState(i): S, b: Bytes| async move {
                match serde_json::from_slice::<OpenBody>(&b) {
                    Ok(req) => open(&i, &req.link_token).await,
                    Err(e) => bad_body(e),
                }
            }),
        )
        .route(
            "/link/flow/api/step",
            post(|AxState(i): S, b: Bytes| async move {
                match serde_json::from_slice::<StepBody>(&b) {
                    Ok(req) => step(&i, req).await,
                    Err(e) => bad_body(e),
                }
            }),
        )
        .with_state(inner)
}

#[derive(Debug, Deserialize)]
struct OpenBody {
    link_token: String,
}

/// What the person did on the active step's screen.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    link_token: String,
    /// The session the page shows; refused if it is no longer the token's session.
    #[serde(default)]
    link_session_id: Option<String>,
    /// The step the screen was for; refused unless it is the active step.
    step: Step,
    /// `verify_sms`: the code typed.
    #[serde(default)]
    code: Option<String>,
    /// `verify_sms`: the phone number typed (E.164).
    #[serde(default)]
    phone_number: Option<String>,
    /// `kyc_check`: the identity form (`IdentityVerificationUserData` keys).
    #[serde(default)]
    user: Option<Value>,
}

/// Link's `view_name` for a step (Plaid's IDV view names).
pub fn view_name(step: Step) -> &'static str {
    match step {
        Step::AcceptTos => "ACCEPT_TOS",
        Step::VerifySms => "VERIFY_SMS",
        Step::KycCheck => "KYC_CHECK",
        Step::DocumentaryVerification => "DOCUMENTARY_VERIFICATION",
        Step::SelfieCheck => "SELFIE_CHECK",
        Step::RiskCheck => "RISK_CHECK",
        Step::WatchlistScreening => "SCREENING",
    }
}

/// Steps that run without the person (Plaid runs them in the background).
fn background(step: Step) -> bool {
    matches!(step, Step::RiskCheck | Step::WatchlistScreening)
}

fn event(name: &str, step: Option<Step>) -> Value {
    json!({"event_name": name, "view_name": step.map(view_name)})
}

/// Link's IDV events for a change of the session from `before` (its step statuses) to `after`.
fn step_events(before: &[StepStatus; 7], after: &Session) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, step) in Step::ORDER.into_iter().enumerate() {
        let was = before[i];
        let now = after.step(step);
        if !matches!(was, StepStatus::Active | StepStatus::WaitingForPrerequisite) {
            continue;
        }
        let name = match now {
            StepStatus::Success => "IDENTITY_VERIFICATION_PASS_STEP",
            StepStatus::Failed => "IDENTITY_VERIFICATION_FAIL_STEP",
            StepStatus::PendingReview => "IDENTITY_VERIFICATION_PENDING_REVIEW_STEP",
            _ => continue,
        };
        if was != StepStatus::Active {
            out.push(event("IDENTITY_VERIFICATION_START_STEP", Some(step)));
        }
        out.push(event(name, Some(step)));
    }
    out.extend(status_events(after, Some(before)));
    out
}

/// The event for where the session stands now: the active step starting (unless it was
/// already active before), or the session's outcome.
fn status_events(s: &Session, before: Option<&[StepStatus; 7]>) -> Vec<Value> {
    match s.status {
        Status::Active => s
            .active_step()
            .filter(|st| {
                before.is_none_or(|b| {
                    b[Step::ORDER.iter().position(|x| x == st).unwrap_or(0)] != StepStatus::Active
                })
            })
            .map(|st| vec![event("IDENTITY_VERIFICATION_START_STEP", Some(st))])
            .unwrap_or_default(),
        Status::Success => vec![event("IDENTITY_VERIFICATION_PASS_SESSION", None)],
        Status::Failed => vec![event("IDENTITY_VERIFICATION_FAIL_SESSION", None)],
        Status::PendingReview => vec![event("IDENTITY_VERIFICATION_PENDING_REVIEW_SESSION", None)],
        Status::Expired | Status::Canceled => vec![],
    }
}

/// What the framed page needs of the session: no more than Link shows the person.
fn view(s: &Session, sms_attempts: u32) -> Value {
    let mut steps = serde_json::Map::new();
    for st in Step::ORDER {
        steps.insert(st.as_str().into(), json!(s.step(st)));
    }
    json!({
        "link_session_id": s.id,
        "status": s.status,
        "active_step": s.active_step().map(Step::as_str),
        "steps": steps,
        "user": s.user.to_json(),
        "sms_attempts_left": SMS_ATTEMPTS.saturating_sub(sms_attempts),
    })
}

fn session_view(inner: &Inner, id: &str) -> Option<Value> {
    let state = inner.lock();
    let attempts = state.sms_attempts.get(id).copied().unwrap_or(0);
    state.sessions.get(id).map(|s| view(s, attempts))
}

/// Link's own error for a token it cannot use (`onExit`'s `error`), as Plaid documents it.
pub fn invalid_link_token_error() -> Value {
    json!({
        "error_type": "INVALID_INPUT",
        "error_code": "INVALID_LINK_TOKEN",
        "error_message": "invalid link_token provided",
        "display_message": null,
    })
}

fn invalid_link_token(request_id: &str) -> Response {
    let mut body = invalid_link_token_error();
    body["request_id"] = json!(request_id);
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

/// An error of the flow's own endpoints (not a Plaid API): `{error: {code, message,
/// display_message}, request_id, …extra}`.
fn flow_error(
    status: StatusCode,
    code: &str,
    message: impl Into<String>,
    display: Option<&str>,
    request_id: &str,
    extra: Value,
) -> Response {
    let mut body = json!({
        "error": {"code": code, "message": message.into(), "display_message": display},
        "request_id": request_id,
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    (status, axum::Json(body)).into_response()
}

fn bad_body(e: serde_json::Error) -> Response {
    flow_error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        format!("invalid request body: {e}"),
        None,
        &ids::request_id(),
        json!({}),
    )
}

fn conflict(e: ControlError, request_id: &str) -> Response {
    let status = match e {
        ControlError::NotFound(_) => StatusCode::NOT_FOUND,
        ControlError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ControlError::Conflict(_) => StatusCode::CONFLICT,
    };
    flow_error(
        status,
        "step_refused",
        e.to_string(),
        Some("This step cannot be completed now."),
        request_id,
        json!({}),
    )
}

/// Runs the steps Plaid runs without the person (risk, screening) while one is active.
fn run_background(
    s: &mut Session,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<super::state::Event>, ControlError> {
    let mut events = Vec::new();
    while s.status == Status::Active {
        let Some(st) = s.active_step().filter(|st| background(*st)) else {
            break;
        };
        let outcome = sandbox_outcome(s, st, None);
        events.extend(
            s.complete_step(st, outcome, now)
                .map_err(ControlError::Conflict)?,
        );
    }
    Ok(events)
}

/// `POST /link/flow/api/open`: the person opened Link with this token.
async fn open(inner: &Inner, token: &str) -> Response {
    let request_id = ids::request_id();
    let opened = match control::open_session(inner, token) {
        Ok(o) => o,
        Err(OpenRefusal::UnknownToken)
        | Err(OpenRefusal::Invalidated)
        | Err(OpenRefusal::UnknownTemplate(_)) => {
            return invalid_link_token(&request_id);
        }
        Err(OpenRefusal::Ended { id, status }) => {
            return flow_error(
                StatusCode::CONFLICT,
                "session_ended",
                format!(
                    "the latest session {id} has ended ({}); Link serves a new one only after /identity_verification/retry",
                    json!(status).as_str().unwrap_or_default()
                ),
                Some("This verification has already ended."),
                &request_id,
                json!({"link_session_id": id, "status": status}),
            );
        }
    };
    let mut events = vec![
        event(
            if opened.created {
                "IDENTITY_VERIFICATION_CREATE_SESSION"
            } else {
                "IDENTITY_VERIFICATION_RESUME_SESSION"
            },
            None,
        ),
        event(
            if opened.created {
                "IDENTITY_VERIFICATION_OPEN_UI"
            } else {
                "IDENTITY_VERIFICATION_RESUME_UI"
            },
            None,
        ),
    ];
    // A session left on a background step (risk, screening) moves on as soon as Link opens.
    let mut before = None;
    let ran = control::mutate(inner, &opened.id, |s| {
        before = Some(s.steps);
        run_background(s, chrono::Utc::now())
    })
    .await;
    let session = {
        let state = inner.lock();
        state.sessions.get(&opened.id).cloned()
    };
    let Some(session) = session else {
        return invalid_link_token(&request_id);
    };
    match (ran, before) {
        (Ok(_), Some(b)) if b != session.steps => {
            // START_STEP for the background step that was active, then its outcome.
            let mut first = Vec::new();
            if let Some(st) = Step::ORDER
                .into_iter()
                .enumerate()
                .find(|(i, _)| b[*i] == StepStatus::Active)
                .map(|(_, st)| st)
            {
                first.push(event("IDENTITY_VERIFICATION_START_STEP", Some(st)));
            }
            events.extend(first);
            events.extend(step_events(&b, &session));
        }
        _ => events.extend(status_events(&session, None)),
    }
    let body = json!({
        "request_id": request_id,
        "created": opened.created,
        "session": session_view(inner, &opened.id),
        "events": events,
    });
    axum::Json(body).into_response()
}

/// `POST /link/flow/api/step`: the person finished the active step's screen.
async fn step(inner: &Inner, req: StepBody) -> Response {
    let request_id = ids::request_id();
    // The token must still resolve to an open session (Link never reopens an ended one).
    let id = {
        let state = inner.lock();
        let Some(rec) = state
            .link_tokens
            .get(&req.link_token)
            .filter(|r| r.invalidated_at.is_none())
        else {
            return invalid_link_token(&request_id);
        };
        match state
            .sessions_of(&rec.client_user_id, Some(&rec.template_id))
            .first()
        {
            Some(s) if s.status == Status::Active => s.id.clone(),
            Some(s) => {
                return flow_error(
                    StatusCode::CONFLICT,
                    "session_ended",
                    format!("session {} is no longer active", s.id),
                    Some("This verification has already ended."),
                    &request_id,
                    json!({"link_session_id": s.id, "status": s.status}),
                );
            }
            None => {
                return flow_error(
                    StatusCode::CONFLICT,
                    "session_not_open",
                    "Link has not been opened with this token",
                    None,
                    &request_id,
                    json!({}),
                );
            }
        }
    };
    if req.link_session_id.as_ref().is_some_and(|s| *s != id) {
        return flow_error(
            StatusCode::CONFLICT,
            "session_changed",
            format!("the token's session is now {id}"),
            Some("This verification has changed. Close and open it again."),
            &request_id,
            json!({"link_session_id": id}),
        );
    }
    if background(req.step) {
        return flow_error(
            StatusCode::BAD_REQUEST,
            "step_refused",
            format!("{} runs without the person", req.step.as_str()),
            None,
            &request_id,
            json!({}),
        );
    }

    // What the person typed, checked as Plaid checks it, before anything changes.
    let mut typed = None;
    match req.step {
        Step::VerifySms => {
            if let Some(phone) = &req.phone_number {
                let mut o = serde_json::Map::new();
                o.insert("phone_number".into(), json!(phone.trim()));
                match validate::user_data(&o, "user", false) {
                    Ok(d) => typed = Some(d),
                    Err(e) => {
                        return flow_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_field",
                            e.message,
                            Some("Enter a valid phone number, e.g. +1 234 567 8909."),
                            &request_id,
                            json!({"field": "phone_number"}),
                        );
                    }
                }
            }
            let code = req.code.as_deref().map(str::trim).unwrap_or_default();
            if code.is_empty() {
                return flow_error(
                    StatusCode::BAD_REQUEST,
                    "missing_code",
                    "verify_sms needs the code",
                    Some("Enter the code we sent you."),
                    &request_id,
                    json!({"field": "code"}),
                );
            }
        }
        Step::KycCheck => {
            let Some(Value::Object(user)) = &req.user else {
                return flow_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    "kyc_check needs `user`, an object",
                    Some("Fill in your details."),
                    &request_id,
                    json!({}),
                );
            };
            match validate::user_data(user, "user", false) {
                Ok(d) => typed = Some(d),
                Err(e) => {
                    let field = e
                        .message
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    return flow_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_field",
                        e.message,
                        Some("Check the highlighted field."),
                        &request_id,
                        json!({"field": field}),
                    );
                }
            }
        }
        _ => {}
    }

    // The SMS code: Sandbox's is 11111; a wrong one is refused, the third wrong one fails the step.
    let mut outcome = None;
    if req.step == Step::VerifySms {
        let code = req.code.as_deref().map(str::trim).unwrap_or_default();
        if code != SANDBOX_SMS_CODE {
            let mut state = inner.lock();
            let active = state
                .sessions
                .get(&id)
                .and_then(Session::active_step)
                .is_some_and(|st| st == Step::VerifySms);
            if active {
                let n = state.sms_attempts.entry(id.clone()).or_insert(0);
                *n += 1;
                if *n < SMS_ATTEMPTS {
                    let left = SMS_ATTEMPTS - *n;
                    let plural = if left == 1 { "" } else { "s" };
                    return flow_error(
                        StatusCode::BAD_REQUEST,
                        "incorrect_code",
                        format!("incorrect code ({left} attempt{plural} left)"),
                        Some(&format!(
                            "That code is incorrect. {left} attempt{plural} left."
                        )),
                        &request_id,
                        json!({"field": "code", "attempts_left": left}),
                    );
                }
                outcome = Some(Outcome::Failed);
            }
        } else {
            outcome = Some(Outcome::Success);
        }
    }

    let mut before = None;
    let done = control::mutate(inner, &id, |s| {
        before = Some(s.steps);
        if s.active_step() != Some(req.step) {
            return Err(ControlError::Conflict(format!(
                "step {} is not the active step (active step: {})",
                req.step.as_str(),
                s.active_step().map(Step::as_str).unwrap_or("none")
            )));
        }
        if let Some(d) = typed {
            s.user.merge(d);
        }
        let now = chrono::Utc::now();
        let o = outcome.unwrap_or_else(|| sandbox_outcome(s, req.step, None));
        let mut events = s
            .complete_step(req.step, o, now)
            .map_err(ControlError::Conflict)?;
        events.extend(run_background(s, now)?);
        Ok(events)
    })
    .await;
    if let Err(e) = done {
        return conflict(e, &request_id);
    }
    let session = inner.lock().sessions.get(&id).cloned();
    let (Some(session), Some(before)) = (session, before) else {
        return invalid_link_token(&request_id);
    };
    let body = json!({
        "request_id": request_id,
        "session": session_view(inner, &id),
        "events": step_events(&before, &session),
    });
    axum::Json(body).into_response()
}
