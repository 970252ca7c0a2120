//! The session as our API shows it.

use crate::ids::{IdvId, TemplateId};
use crate::plaid::types::{IdentityVerification, IdvStatus, Steps};
use crate::session::SessionRecord;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[derive(Debug, Serialize)]
pub struct SessionBody {
    /// Plaid's IDV id.
    pub id: IdvId,
    /// The status callers act on: Plaid's, or `expired` once the app window has passed.
    pub status: IdvStatus,
    /// True when the status will not change any more (a new start makes a new session).
    #[serde(rename = "final")]
    pub is_final: bool,
    pub steps: Steps,
    pub template_id: TemplateId,
    pub previous_attempt_id: Option<IdvId>,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: String,
    pub completed_at: Option<String>,
    /// Plaid's verification link of a shareable session: on the answer that created it, and on
    /// its owner's reads that went to Plaid (`?refresh=true`, or a stale session) while it is
    /// active. Never stored, never logged, never shown to another caller (a reviewer included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shareable_url: Option<String>,
    /// `?view=full`: Plaid's full result, fetched live and never stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<FullResult>,
}

impl SessionBody {
    pub fn new(record: &SessionRecord, now: DateTime<Utc>) -> Self {
        let status = record.effective_status(now);
        SessionBody {
            id: record.id.clone(),
            status,
            is_final: status.is_final(),
            steps: record.steps.clone(),
            template_id: record.template_id.clone(),
            previous_attempt_id: record.previous_attempt_id.clone(),
            created_at: ts(&record.created_at),
            updated_at: ts(&record.updated_at),
            expires_at: ts(&record.expires_at),
            completed_at: record.completed_at.as_ref().map(ts),
            shareable_url: None,
            result: None,
        }
    }
}

/// The parts of Plaid's session a back end needs to act on a result.
#[derive(Debug, Serialize)]
pub struct FullResult {
    pub documentary_verification: Option<serde_json::Value>,
    pub selfie_check: Option<serde_json::Value>,
    pub kyc_check: Option<serde_json::Value>,
    pub risk_check: Option<serde_json::Value>,
    pub verify_sms: Option<serde_json::Value>,
    pub watchlist_screening_id: Option<String>,
    pub redacted_at: Option<String>,
}

impl From<&IdentityVerification> for FullResult {
    fn from(iv: &IdentityVerification) -> Self {
        FullResult {
            documentary_verification: iv.documentary_verification.clone(),
            selfie_check: iv.selfie_check.clone(),
            kyc_check: iv.kyc_check.clone(),
            risk_check: iv.risk_check.clone(),
            verify_sms: iv.verify_sms.clone(),
            watchlist_screening_id: iv.watchlist_screening_id.clone(),
            redacted_at: iv.redacted_at.as_ref().map(ts),
        }
    }
}
