//! The `detail` of an outcome event: the contract consumers rely on (`shared/DESIGN.md`,
//! "Outcome events"; JSON Schema in `shared/events/status-changed.schema.json`).

use crate::ids::{ClientUserId, IdvId, TemplateId};
use serde::{Deserialize, Serialize};

/// `detail-type` of every event this bundle publishes.
pub const DETAIL_TYPE: &str = "Identity Verification Status Changed";

/// `detail.schema_version`: bumped only by a change a consumer must know about.
pub const SCHEMA_VERSION: u32 = 1;

/// `EVENT_SOURCE` when unset.
pub const DEFAULT_SOURCE: &str = "plaid-idv";

/// One status change of one session. Ids and statuses only: no name, date of birth, address,
/// document, risk or KYC detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChanged {
    pub schema_version: u32,
    /// Stable across re-publications of the same change: [`event_id`].
    pub event_id: String,
    /// The Plaid IDV id (`id` in the API's session bodies).
    pub session_id: IdvId,
    pub client_user_id: ClientUserId,
    pub template_id: TemplateId,
    /// The status a caller reads now (`active`, `success`, `failed`, `pending_review`,
    /// `canceled`, `expired`, or a status Plaid adds later, passed through as Plaid spells it).
    pub status: String,
    /// The status before this change; `None` (JSON `null`) for a new session.
    pub previous_status: Option<String>,
    pub previous_attempt_id: Option<IdvId>,
    /// The session's count of status changes, 1 for the new session; grows by one per change.
    pub sequence: u64,
    /// When the change was written (the item's `updated_at`), RFC 3339 UTC.
    pub occurred_at: String,
    /// `sandbox` or `production`: the Plaid environment of the deployment.
    pub environment: String,
}

/// `"{session_id}:{sequence}"`. Chosen over a UUID-shaped hash of the same two values: equally
/// stable and unique (Plaid ids are unique, `sequence` is unique within a session), and a
/// person on call can read which change it is without a lookup. It says nothing the detail does
/// not already say. Also a valid Standard Webhooks `webhook-id` (no spaces, under 256 bytes).
pub fn event_id(session_id: &IdvId, sequence: u64) -> String {
    format!("{session_id}:{sequence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_depends_on_session_and_sequence_only() {
        let a = IdvId::parse("idv_52xR9LKo77r1Np").unwrap();
        let b = IdvId::parse("idv_other").unwrap();
        assert_eq!(event_id(&a, 2), "idv_52xR9LKo77r1Np:2");
        assert_eq!(event_id(&a, 2), event_id(&a, 2));
        assert_ne!(event_id(&a, 2), event_id(&a, 3));
        assert_ne!(event_id(&a, 2), event_id(&b, 2));
    }
}
