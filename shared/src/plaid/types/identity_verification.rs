//! `IdentityVerification`: the session object, its status and its steps.

use super::{REDACTED, UserData};
use crate::ids::{ClientUserId, IdvId, TemplateId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `IdentityVerificationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdvStatus {
    Active,
    Success,
    Failed,
    Expired,
    Canceled,
    PendingReview,
    /// A value Plaid added after this code was written.
    #[serde(other)]
    Unknown,
}

impl IdvStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdvStatus::Active => "active",
            IdvStatus::Success => "success",
            IdvStatus::Failed => "failed",
            IdvStatus::Expired => "expired",
            IdvStatus::Canceled => "canceled",
            IdvStatus::PendingReview => "pending_review",
            IdvStatus::Unknown => "unknown",
        }
    }

    /// Final: Plaid will not move this session any further (a retry makes a new session).
    /// `pending_review` is not final: a reviewer still decides. An unknown status is treated as
    /// not final, so we keep re-reading it rather than freezing a value we do not understand.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            IdvStatus::Success | IdvStatus::Failed | IdvStatus::Expired | IdvStatus::Canceled
        )
    }
}

/// `IdentityVerificationStepStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    #[serde(other)]
    Unknown,
}

/// `IdentityVerificationStepSummary`: all seven keys are required in the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Steps {
    pub accept_tos: StepStatus,
    pub verify_sms: StepStatus,
    pub kyc_check: StepStatus,
    pub documentary_verification: StepStatus,
    pub selfie_check: StepStatus,
    pub watchlist_screening: StepStatus,
    pub risk_check: StepStatus,
}

/// `IdentityVerificationTemplateReference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub id: TemplateId,
    pub version: i64,
}

/// `IdentityVerification`: the object returned by create, get, retry and each list element.
/// `Debug` leaves out the personal data (`user`, the step details) and the `shareable_url`,
/// whose `key` opens the user's session.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityVerification {
    pub id: IdvId,
    pub client_user_id: ClientUserId,
    #[serde(default)]
    pub user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub previous_attempt_id: Option<IdvId>,
    #[serde(default)]
    pub shareable_url: Option<String>,
    pub template: TemplateRef,
    /// Identity data (PII): fetched live for `?view=full`, never stored or logged.
    #[serde(default)]
    pub user: Option<serde_json::Value>,
    pub status: IdvStatus,
    pub steps: Steps,
    #[serde(default)]
    pub documentary_verification: Option<serde_json::Value>,
    #[serde(default)]
    pub selfie_check: Option<serde_json::Value>,
    #[serde(default)]
    pub kyc_check: Option<serde_json::Value>,
    #[serde(default)]
    pub risk_check: Option<serde_json::Value>,
    #[serde(default)]
    pub verify_sms: Option<serde_json::Value>,
    #[serde(default)]
    pub watchlist_screening_id: Option<String>,
    #[serde(default)]
    pub beacon_user_id: Option<String>,
    #[serde(default)]
    pub redacted_at: Option<DateTime<Utc>>,
    /// The one key the spec does not require.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_scored_protect_event: Option<serde_json::Value>,
    /// Present on create/get/retry responses, absent inside `/list` items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl std::fmt::Debug for IdentityVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |v: &Option<serde_json::Value>| v.as_ref().map(|_| REDACTED);
        f.debug_struct("IdentityVerification")
            .field("id", &self.id)
            .field("client_user_id", &self.client_user_id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("completed_at", &self.completed_at)
            .field("previous_attempt_id", &self.previous_attempt_id)
            .field(
                "shareable_url",
                &self.shareable_url.as_ref().map(|_| REDACTED),
            )
            .field("template", &self.template)
            .field("user", &present(&self.user))
            .field("status", &self.status)
            .field("steps", &self.steps)
            .field(
                "documentary_verification",
                &present(&self.documentary_verification),
            )
            .field("selfie_check", &present(&self.selfie_check))
            .field("kyc_check", &present(&self.kyc_check))
            .field("risk_check", &present(&self.risk_check))
            .field("verify_sms", &present(&self.verify_sms))
            .field("watchlist_screening_id", &self.watchlist_screening_id)
            .field("beacon_user_id", &self.beacon_user_id)
            .field("redacted_at", &self.redacted_at)
            .field(
                "latest_scored_protect_event",
                &present(&self.latest_scored_protect_event),
            )
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl IdentityVerification {
    /// `user` as typed data (`IdentityVerificationUserData`). PII: never log or store it.
    /// `None` when Plaid sent no `user` or one this code cannot read; the raw value stays in
    /// `user` either way.
    pub fn user_data(&self) -> Option<UserData> {
        self.user
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}
