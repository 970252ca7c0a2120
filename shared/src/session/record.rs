//! The session as we store it: Plaid's outcome without Plaid's PII, plus our own bookkeeping.

use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::types::{IdentityVerification, IdvStatus, Steps};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// One IDV session (one Plaid attempt). Stored in DynamoDB; holds no PII.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// Plaid's IDV id, the table key.
    pub id: IdvId,
    pub client_user_id: ClientUserId,
    pub template_id: TemplateId,
    /// Status as last read from Plaid. Use [`SessionRecord::effective_status`] to answer callers:
    /// it also applies the app's expiry window.
    pub status: IdvStatus,
    pub steps: Steps,
    pub previous_attempt_id: Option<IdvId>,
    /// Plaid's `created_at`.
    pub created_at: DateTime<Utc>,
    /// Plaid's `completed_at`.
    pub completed_at: Option<DateTime<Utc>>,
    /// When we last wrote this record.
    pub updated_at: DateTime<Utc>,
    /// When the snapshot in this record was read from Plaid: the ordering key of updates.
    pub synced_at: DateTime<Utc>,
    /// The app's expiry: past it an unfinished session counts as `expired` everywhere.
    pub expires_at: DateTime<Utc>,
    /// DynamoDB TTL (Unix seconds); set only on abandoned sessions, never on a result.
    pub ttl: Option<i64>,
}

impl SessionRecord {
    /// A record for a snapshot read from Plaid at `synced_at`. `expires_at` is created_at plus the
    /// app window; keep an existing record's `expires_at` with [`SessionRecord::refreshed`].
    pub fn from_plaid(
        iv: &IdentityVerification,
        synced_at: DateTime<Utc>,
        window: Duration,
    ) -> Self {
        SessionRecord {
            id: iv.id.clone(),
            client_user_id: iv.client_user_id.clone(),
            template_id: iv.template.id.clone(),
            status: iv.status,
            steps: iv.steps.clone(),
            previous_attempt_id: iv.previous_attempt_id.clone(),
            created_at: iv.created_at,
            completed_at: iv.completed_at,
            updated_at: synced_at,
            synced_at,
            expires_at: iv.created_at + window,
            ttl: None,
        }
    }

    /// Past the app window, an unfinished session is expired, whatever Plaid says (Plaid no
    /// longer expires sessions; DynamoDB TTL deletes late, so every read applies this). A session
    /// in `pending_review` waits for the operator's reviewer, not for the user: it never
    /// app-expires.
    pub fn is_app_expired(&self, now: DateTime<Utc>) -> bool {
        !self.status.is_final() && !self.in_review() && now >= self.expires_at
    }

    /// Waiting for the operator's reviewer (Plaid's `pending_review`).
    pub fn in_review(&self) -> bool {
        self.status == IdvStatus::PendingReview
    }

    /// A session in review that an earlier version app-expired (out of the open index, with a
    /// TTL): it must be put back, see `SessionStore::reopen_review`.
    pub fn needs_review_repair(&self) -> bool {
        self.in_review() && self.ttl.is_some()
    }

    pub fn effective_status(&self, now: DateTime<Utc>) -> IdvStatus {
        if self.is_app_expired(now) {
            IdvStatus::Expired
        } else {
            self.status
        }
    }
}
