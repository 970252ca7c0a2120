//! The emulator's model: templates, sessions and their step machine, link tokens, the webhook
//! outbox, faults and the request log. Plain data under one mutex; nothing here awaits.

use super::details;
use super::ids;
use super::signing::KeyRing;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

mod user;

pub use user::{Address, IdNumber, Name, UserData};

/// The seven steps of `IdentityVerificationStepSummary`, in the order a session walks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    AcceptTos,
    VerifySms,
    KycCheck,
    DocumentaryVerification,
    SelfieCheck,
    RiskCheck,
    WatchlistScreening,
}

impl Step {
    pub const ORDER: [Step; 7] = [
        Step::AcceptTos,
        Step::VerifySms,
        Step::KycCheck,
        Step::DocumentaryVerification,
        Step::SelfieCheck,
        Step::RiskCheck,
        Step::WatchlistScreening,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::AcceptTos => "accept_tos",
            Step::VerifySms => "verify_sms",
            Step::KycCheck => "kyc_check",
            Step::DocumentaryVerification => "documentary_verification",
            Step::SelfieCheck => "selfie_check",
            Step::RiskCheck => "risk_check",
            Step::WatchlistScreening => "watchlist_screening",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        Step::ORDER.into_iter().find(|st| st.as_str() == s)
    }

    fn idx(self) -> usize {
        Step::ORDER.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// `IdentityVerificationStepStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Success,
    Active,
    Failed,
    WaitingForPrerequisite,
    NotApplicable,
    Skipped,
    Expired,
    Canceled,
    PendingReview,
    ManuallyApproved,
    ManuallyRejected,
}

impl StepStatus {
    fn passed(self) -> bool {
        matches!(
            self,
            StepStatus::Success | StepStatus::Skipped | StepStatus::ManuallyApproved
        )
    }
}

/// `IdentityVerificationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    Success,
    Failed,
    Expired,
    Canceled,
    PendingReview,
}

/// Which optional steps a template runs (`accept_tos` always runs unless consent was given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSteps {
    pub verify_sms: bool,
    pub kyc_check: bool,
    pub documentary_verification: bool,
    pub selfie_check: bool,
    pub risk_check: bool,
    pub watchlist_screening: bool,
}

impl Default for TemplateSteps {
    fn default() -> Self {
        Self {
            verify_sms: true,
            kyc_check: true,
            documentary_verification: true,
            selfie_check: true,
            risk_check: true,
            watchlist_screening: true,
        }
    }
}

impl TemplateSteps {
    pub fn enabled(&self, step: Step) -> bool {
        match step {
            Step::AcceptTos => true,
            Step::VerifySms => self.verify_sms,
            Step::KycCheck => self.kyc_check,
            Step::DocumentaryVerification => self.documentary_verification,
            Step::SelfieCheck => self.selfie_check,
            Step::RiskCheck => self.risk_check,
            Step::WatchlistScreening => self.watchlist_screening,
        }
    }
}

/// An IDV template (`idvtmp_…`) the emulator knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub id: String,
    #[serde(default = "one")]
    pub version: i64,
    #[serde(default)]
    pub steps: TemplateSteps,
}

fn one() -> i64 {
    1
}

impl Template {
    /// A template running every step.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            version: 1,
            steps: TemplateSteps::default(),
        }
    }

    pub fn with_steps(mut self, steps: TemplateSteps) -> Self {
        self.steps = steps;
        self
    }
}

/// What a finished step produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    Failed,
    /// Watchlist screening only: hits wait for a reviewer.
    PendingReview,
}

/// A webhook the state change calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub code: &'static str,
    pub identity_verification_id: String,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub seq: u64,
    pub client_user_id: String,
    pub template_id: String,
    pub template_version: i64,
    pub template_steps: TemplateSteps,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub previous_attempt_id: Option<String>,
    pub shareable_url: Option<String>,
    pub is_shareable: bool,
    pub user: UserData,
    pub status: Status,
    pub steps: [StepStatus; 7],
    pub details: HashMap<Step, Value>,
    pub watchlist_screening_id: Option<String>,
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Session {
    pub fn step(&self, step: Step) -> StepStatus {
        self.steps[step.idx()]
    }

    fn set(&mut self, step: Step, status: StepStatus) {
        self.steps[step.idx()] = status;
    }

    pub fn active_step(&self) -> Option<Step> {
        Step::ORDER
            .into_iter()
            .find(|s| self.step(*s) == StepStatus::Active)
    }

    /// The first step that failed, if any.
    pub fn failed_step(&self) -> Option<Step> {
        Step::ORDER.into_iter().find(|s| {
            matches!(
                self.step(*s),
                StepStatus::Failed | StepStatus::ManuallyRejected
            )
        })
    }

    /// The `IdentityVerification` object (no `request_id`: list items do not carry one).
    pub fn to_json(&self) -> Value {
        let mut steps = serde_json::Map::new();
        for s in Step::ORDER {
            steps.insert(s.as_str().into(), json!(self.step(s)));
        }
        let detail = |s: Step| self.details.get(&s).cloned().unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "client_user_id": self.client_user_id,
            "created_at": ts(self.created_at),
            "completed_at": self.completed_at.map(ts),
            "previous_attempt_id": self.previous_attempt_id,
            "shareable_url": self.shareable_url,
            "template": {"id": self.template_id, "version": self.template_version},
            "user": self.user.to_json(),
            "status": self.status,
            "steps": steps,
            "documentary_verification": detail(Step::DocumentaryVerification),
            "selfie_check": detail(Step::SelfieCheck),
            "kyc_check": detail(Step::KycCheck),
            "risk_check": detail(Step::RiskCheck),
            "verify_sms": detail(Step::VerifySms),
            "watchlist_screening_id": self.watchlist_screening_id,
            "beacon_user_id": null,
            "user_id": null,
            "redacted_at": null,
        })
    }

    /// Lays out the steps: `skip` marks steps a retry skips; template-disabled steps are
    /// `not_applicable`; the first step left to do becomes `active`.
    pub fn lay_out(
        &mut self,
        tos_done: bool,
        mut skip: impl FnMut(Step) -> bool,
        forced_on: impl Fn(Step) -> bool,
    ) {
        for s in Step::ORDER {
            let status = if (s == Step::AcceptTos && tos_done) || skip(s) {
                StepStatus::Skipped
            } else if self.template_steps.enabled(s) || forced_on(s) {
                StepStatus::WaitingForPrerequisite
            } else {
                StepStatus::NotApplicable
            };
            self.set(s, status);
        }
        self.activate_next();
    }

    /// Makes the next waiting step active. Returns false when nothing is left to do.
    fn activate_next(&mut self) -> bool {
        if self.active_step().is_some() {
            return true;
        }
        match Step::ORDER
            .into_iter()
            .find(|s| self.step(*s) == StepStatus::WaitingForPrerequisite)
        {
            Some(next) => {
                self.set(next, StepStatus::Active);
                true
            }
            None => false,
        }
    }

    fn finish(&mut self, status: Status, now: DateTime<Utc>, events: &mut Vec<Event>) {
        self.status = status;
        if status != Status::PendingReview && status != Status::Active {
            self.completed_at = Some(now);
        }
        events.push(self.event("STATUS_UPDATED"));
    }

    fn event(&self, code: &'static str) -> Event {
        Event {
            code,
            identity_verification_id: self.id.clone(),
        }
    }

    /// Completes the active step with `outcome` and moves the session on. Sandbox rule for
    /// documents: a failed data-source check (`kyc_check`) does not fail the session when the
    /// template also runs `documentary_verification`; the document step then decides.
    pub fn complete_step(
        &mut self,
        step: Step,
        outcome: Outcome,
        now: DateTime<Utc>,
    ) -> Result<Vec<Event>, String> {
        if self.status != Status::Active {
            return Err(format!(
                "session is {}, only an active session has a step to complete",
                json!(self.status).as_str().unwrap_or_default()
            ));
        }
        if self.step(step) != StepStatus::Active {
            let current = self.active_step().map(Step::as_str).unwrap_or("none");
            return Err(format!(
                "step {} is not the active step (active step: {current})",
                step.as_str()
            ));
        }
        if outcome == Outcome::PendingReview && step != Step::WatchlistScreening {
            return Err("only watchlist_screening can end in pending_review".into());
        }
        if step == Step::AcceptTos && outcome != Outcome::Success {
            return Err("accept_tos can only succeed".into());
        }
        let mut events = Vec::new();
        let status = match outcome {
            Outcome::Success => StepStatus::Success,
            Outcome::Failed => StepStatus::Failed,
            Outcome::PendingReview => StepStatus::PendingReview,
        };
        self.set(step, status);
        if step == Step::WatchlistScreening {
            self.watchlist_screening_id
                .get_or_insert_with(ids::screening_id);
        }
        if let Some(detail) = details::for_step(self, step, outcome, now) {
            self.details.insert(step, detail);
        }
        events.push(self.event("STEP_UPDATED"));

        let rescued_by_documents = step == Step::KycCheck
            && outcome == Outcome::Failed
            && self.step(Step::DocumentaryVerification) == StepStatus::WaitingForPrerequisite;
        if outcome == Outcome::Failed && !rescued_by_documents {
            self.finish(Status::Failed, now, &mut events);
            return Ok(events);
        }
        if !self.activate_next() {
            let status = if self.step(Step::WatchlistScreening) == StepStatus::PendingReview {
                Status::PendingReview
            } else {
                Status::Success
            };
            self.finish(status, now, &mut events);
        }
        Ok(events)
    }

    /// A reviewer's decision on a `pending_review` session.
    pub fn review(&mut self, outcome: Outcome, now: DateTime<Utc>) -> Result<Vec<Event>, String> {
        if self.status != Status::PendingReview {
            return Err("session is not pending_review".into());
        }
        let (step, status) = match outcome {
            Outcome::Success => (StepStatus::Success, Status::Success),
            Outcome::Failed => (StepStatus::Failed, Status::Failed),
            Outcome::PendingReview => return Err("a review resolves to success or failed".into()),
        };
        self.set(Step::WatchlistScreening, step);
        let mut events = vec![self.event("STEP_UPDATED")];
        self.finish(status, now, &mut events);
        Ok(events)
    }

    /// Expires or cancels an open session: unfinished steps take the same status.
    pub fn end(&mut self, status: Status, now: DateTime<Utc>) -> Result<Vec<Event>, String> {
        let step_status = match status {
            Status::Expired => StepStatus::Expired,
            Status::Canceled => StepStatus::Canceled,
            _ => return Err("a session can only be ended as expired or canceled".into()),
        };
        if !matches!(self.status, Status::Active | Status::PendingReview) {
            return Err("session has already ended".into());
        }
        for s in Step::ORDER {
            if matches!(
                self.step(s),
                StepStatus::Active | StepStatus::WaitingForPrerequisite | StepStatus::PendingReview
            ) {
                self.set(s, step_status);
            }
        }
        let mut events = Vec::new();
        self.finish(status, now, &mut events);
        Ok(events)
    }

    pub fn tos_accepted(&self) -> bool {
        self.step(Step::AcceptTos).passed()
    }

    pub fn step_passed(&self, step: Step) -> bool {
        self.step(step).passed()
    }
}

/// A link token `/link/token/create` issued, and what it was issued for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkTokenRecord {
    pub link_token: String,
    pub template_id: String,
    pub client_user_id: String,
    pub gave_consent: Option<bool>,
    pub created_at: String,
    pub expiration: String,
    /// Set by `POST /emulator/link_tokens/{token}/invalidate`: Link then answers
    /// `INVALID_LINK_TOKEN`, as when Plaid invalidates a token mid-flow.
    #[serde(default)]
    pub invalidated_at: Option<String>,
    /// The token's `user` prefill (validated), given to a session Link starts with it. Not
    /// shown by `GET /emulator/link_tokens/{token}`: it is identity data.
    #[serde(skip)]
    pub user: UserData,
}

/// One signed webhook delivery: the exact headers and body sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookRecord {
    /// `whd_<n>`, in the order the webhooks were fired.
    pub id: String,
    pub webhook_code: String,
    pub identity_verification_id: String,
    /// Header name → value, as sent (`Content-Type`, `Plaid-Verification`).
    pub headers: Vec<(String, String)>,
    /// The exact body bytes (UTF-8 JSON, pretty-printed with a 2-space indent).
    pub body: String,
    pub kid: String,
    pub iat: i64,
    /// When this record is a redelivery, the record it repeats.
    pub redelivery_of: Option<String>,
    /// One entry per target: the URL (or `sink`) and the HTTP status, or the transport error.
    pub attempts: Vec<DeliveryAttempt>,
}

impl WebhookRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    pub target: String,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// A fault armed on one Plaid endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Path of the Plaid endpoint, e.g. `/identity_verification/create`.
    pub endpoint: String,
    /// 429, 500 or 503; absent for a delay-only fault.
    #[serde(default)]
    pub status: Option<u16>,
    /// How many of the next calls it hits (default 1).
    #[serde(default = "one_u32")]
    pub count: u32,
    /// Delay before answering (or before the error), in milliseconds.
    #[serde(default)]
    pub delay_ms: u64,
}

fn one_u32() -> u32 {
    1
}

/// One Plaid API call, as the request log keeps it: no credentials and no identity data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestLogEntry {
    pub seq: u64,
    pub endpoint: String,
    pub at: String,
    pub status: u16,
    pub request_id: String,
    pub client_user_id: Option<String>,
    pub template_id: Option<String>,
    pub identity_verification_id: Option<String>,
    pub error_code: Option<String>,
}

/// The time webhook tokens are issued at (`iat`, Unix seconds).
pub type SigningClock = std::sync::Arc<dyn Fn() -> i64 + Send + Sync>;

pub struct State {
    pub templates: HashMap<String, Template>,
    pub sessions: HashMap<String, Session>,
    pub next_seq: u64,
    pub link_tokens: HashMap<String, LinkTokenRecord>,
    pub outbox: Vec<WebhookRecord>,
    pub keys: KeyRing,
    pub faults: Vec<Fault>,
    pub requests: Vec<RequestLogEntry>,
    /// Where webhooks are POSTed (settable at run time through the control API).
    pub webhook_url: Option<String>,
    /// Wrong SMS codes typed in the Link stand-in, per session (Sandbox allows three).
    pub sms_attempts: HashMap<String, u32>,
    /// What `iat` webhook tokens carry: the wall clock, unless the embedding test moves time
    /// (so that Plaid's clock and the receiver's agree, as they do in production).
    pub signing_clock: SigningClock,
}

impl State {
    pub fn new(templates: Vec<Template>, keys: KeyRing, webhook_url: Option<String>) -> Self {
        Self {
            templates: templates.into_iter().map(|t| (t.id.clone(), t)).collect(),
            sessions: HashMap::new(),
            next_seq: 0,
            link_tokens: HashMap::new(),
            outbox: Vec::new(),
            keys,
            faults: Vec::new(),
            requests: Vec::new(),
            webhook_url,
            sms_attempts: HashMap::new(),
            signing_clock: std::sync::Arc::new(|| chrono::Utc::now().timestamp()),
        }
    }

    pub fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Sessions of a user (optionally for one template), newest first.
    pub fn sessions_of(&self, client_user_id: &str, template_id: Option<&str>) -> Vec<&Session> {
        let mut v: Vec<&Session> = self
            .sessions
            .values()
            .filter(|s| {
                s.client_user_id == client_user_id && template_id.is_none_or(|t| s.template_id == t)
            })
            .collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.seq));
        v
    }

    /// Takes one hit of the first fault armed on `endpoint`.
    pub fn take_fault(&mut self, endpoint: &str) -> Option<Fault> {
        let pos = self.faults.iter().position(|f| f.endpoint == endpoint)?;
        let fault = self.faults[pos].clone();
        self.faults[pos].count -= 1;
        if self.faults[pos].count == 0 {
            self.faults.remove(pos);
        }
        Some(fault)
    }
}
