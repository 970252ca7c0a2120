//! The DynamoDB item codec of [`SessionRecord`]: the record's own fields plus the attributes
//! that only exist for the table's indexes. The record stays a domain type; everything about the
//! stored shape lives here.

use super::StoreError;
use super::shard::OpenShards;
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::types::{IdvStatus, Steps};
use crate::session::record::SessionRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

/// Attribute names, shared by the codec and the expressions in `dynamo.rs`.
pub(crate) mod attr {
    pub const ID: &str = "id";
    pub const CLIENT_USER_ID: &str = "client_user_id";
    pub const TEMPLATE_ID: &str = "template_id";
    pub const USER_TEMPLATE: &str = "user_template";
    pub const STATUS: &str = "status";
    pub const STEPS: &str = "steps";
    pub const PREVIOUS_ATTEMPT_ID: &str = "previous_attempt_id";
    pub const CREATED_AT: &str = "created_at";
    pub const COMPLETED_AT: &str = "completed_at";
    pub const UPDATED_AT: &str = "updated_at";
    pub const SYNCED_AT: &str = "synced_at";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const TTL: &str = "ttl";
    pub const OPEN_SHARD: &str = "open_shard";
    pub const RETRY_CLAIM_UNTIL: &str = "retry_claim_until";
    /// Set with a retry claim and removed once its outcome is known: the partition key of the
    /// sparse `retry_claims` index (see `store` module docs). Always [`RETRY_CLAIMED_VALUE`].
    pub const RETRY_CLAIMED: &str = "retry_claimed";
    /// The one value of [`RETRY_CLAIMED`].
    pub const RETRY_CLAIMED_VALUE: &str = "retry";
    /// When a caller last started a live Plaid read of the session (the read cool-down).
    pub const LIVE_READ_AT: &str = "live_read_at";
    /// How many status changes a caller can read this session has had (N, 1 on creation). Read
    /// by `publish-events` as the event's `sequence`; see `dynamo/mod.rs` for who bumps it.
    pub const SEQUENCE: &str = "sequence";
    /// When the app's own expiry took an unfinished session (`mark_app_expired`): the stream's
    /// record of that change, since the stored Plaid `status` stays as Plaid said.
    pub const APP_EXPIRED_AT: &str = "app_expired_at";
}

/// The `sequence` of a new item: its first status a caller can read.
pub(crate) const FIRST_SEQUENCE: u64 = 1;

/// RFC 3339 UTC with exactly three fractional digits and `Z`: fixed width, so string order is
/// time order, which the `created_at` and `synced_at` index keys and the `<` conditions rely on.
/// Sub-millisecond precision is dropped. Years outside 0000–9999 would break the fixed width, so
/// they are refused rather than stored out of order.
pub(crate) fn timestamp(t: DateTime<Utc>) -> Result<String, StoreError> {
    let s = t.to_rfc3339_opts(SecondsFormat::Millis, true);
    if s.len() != "2024-01-01T00:00:00.000Z".len() || s.starts_with(['+', '-']) {
        return Err(StoreError::Corrupt(
            "a session timestamp is outside the years 0000-9999".into(),
        ));
    }
    Ok(s)
}

pub(crate) fn timestamp_value(t: DateTime<Utc>) -> Result<AttributeValue, StoreError> {
    timestamp(t).map(AttributeValue::S)
}

/// Whether a record belongs in the open index: not final per Plaid, and not yet given a TTL by
/// the app expiry (`mark_app_expired` is the only writer of `ttl` on an unfinished session).
pub(crate) fn is_open(record: &SessionRecord) -> bool {
    !record.status.is_final() && record.ttl.is_none()
}

/// The statuses that a non-final snapshot must never overwrite, as stored.
pub(crate) fn final_statuses() -> impl Iterator<Item = &'static str> {
    [
        IdvStatus::Active,
        IdvStatus::Success,
        IdvStatus::Failed,
        IdvStatus::Expired,
        IdvStatus::Canceled,
        IdvStatus::PendingReview,
        IdvStatus::Unknown,
    ]
    .into_iter()
    .filter(|s| s.is_final())
    .map(IdvStatus::as_str)
}

#[derive(Serialize)]
struct ItemOut<'a> {
    id: &'a IdvId,
    client_user_id: &'a ClientUserId,
    template_id: &'a TemplateId,
    user_template: String,
    status: IdvStatus,
    steps: &'a Steps,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_attempt_id: Option<&'a IdvId>,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_at: Option<String>,
    updated_at: String,
    synced_at: String,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_shard: Option<String>,
    sequence: u64,
}

/// The record's fields as stored; index-only attributes (`user_template`, `open_shard`,
/// `retry_claim_until`, `retry_claimed`, `live_read_at`) and the event bookkeeping (`sequence`,
/// `app_expired_at`) are ignored on the way back.
#[derive(Deserialize)]
struct ItemIn {
    id: IdvId,
    client_user_id: ClientUserId,
    template_id: TemplateId,
    status: IdvStatus,
    steps: Steps,
    #[serde(default)]
    previous_attempt_id: Option<IdvId>,
    created_at: DateTime<Utc>,
    #[serde(default)]
    completed_at: Option<DateTime<Utc>>,
    updated_at: DateTime<Utc>,
    synced_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    #[serde(default)]
    ttl: Option<i64>,
}

/// The full item for a new session; an open one goes in the shard `shards` picks for its id.
pub(crate) fn encode(record: &SessionRecord, shards: OpenShards) -> Result<Item, StoreError> {
    let out = ItemOut {
        id: &record.id,
        client_user_id: &record.client_user_id,
        template_id: &record.template_id,
        user_template: record.client_user_id.index_key(&record.template_id),
        status: record.status,
        steps: &record.steps,
        previous_attempt_id: record.previous_attempt_id.as_ref(),
        created_at: timestamp(record.created_at)?,
        completed_at: record.completed_at.map(timestamp).transpose()?,
        updated_at: timestamp(record.updated_at)?,
        synced_at: timestamp(record.synced_at)?,
        expires_at: timestamp(record.expires_at)?,
        ttl: record.ttl,
        open_shard: is_open(record).then(|| shards.value_of(&record.id)),
        sequence: FIRST_SEQUENCE,
    };
    // Serialising plain strings, enums and a flat struct cannot fail; the error is still mapped
    // rather than unwrapped so a future field type cannot turn into a panic.
    serde_dynamo::aws_sdk_dynamodb_1::to_item(out)
        .map_err(|e| StoreError::Corrupt(format!("a session could not be encoded: {e}")))
}

/// The attribute value of one field (the `steps` map, a status) for update expressions.
pub(crate) fn value<T: Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(v)
        .map_err(|e| StoreError::Corrupt(format!("a session field could not be encoded: {e}")))
}

/// A stored item back into a record. The error names the failing field (serde's message) but
/// never carries the item's values.
pub(crate) fn decode(item: Item) -> Result<SessionRecord, StoreError> {
    let stored: ItemIn = serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| StoreError::Corrupt(redacted(&e)))?;
    Ok(SessionRecord {
        id: stored.id,
        client_user_id: stored.client_user_id,
        template_id: stored.template_id,
        status: stored.status,
        steps: stored.steps,
        previous_attempt_id: stored.previous_attempt_id,
        created_at: stored.created_at,
        completed_at: stored.completed_at,
        updated_at: stored.updated_at,
        synced_at: stored.synced_at,
        expires_at: stored.expires_at,
        ttl: stored.ttl,
    })
}

/// serde's messages quote offending values (`invalid value: string "..."`); keep only the shape
/// of the problem so that a stored user id never reaches a log through an error.
fn redacted(e: &serde_dynamo::Error) -> String {
    let msg = e.to_string();
    let cut = msg.find(['"', '`']).unwrap_or(msg.len());
    let head = msg[..cut].trim_end_matches([' ', ':']);
    format!("a stored session does not decode ({head})")
}

/// A string attribute of a raw item (index keys for page cursors).
pub(crate) fn string_attr<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plaid::types::StepStatus;
    use chrono::TimeZone;

    fn steps() -> Steps {
        Steps {
            accept_tos: StepStatus::Success,
            verify_sms: StepStatus::Active,
            kyc_check: StepStatus::WaitingForPrerequisite,
            documentary_verification: StepStatus::WaitingForPrerequisite,
            selfie_check: StepStatus::WaitingForPrerequisite,
            watchlist_screening: StepStatus::WaitingForPrerequisite,
            risk_check: StepStatus::NotApplicable,
        }
    }

    fn record() -> SessionRecord {
        let t = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap();
        SessionRecord {
            id: IdvId::parse("idv_52xR9LKo77r1Np").unwrap(),
            client_user_id: ClientUserId::parse("auth0|user").unwrap(),
            template_id: TemplateId::parse("idvtmp_4FrXJvfQU3zGUR").unwrap(),
            status: IdvStatus::Active,
            steps: steps(),
            previous_attempt_id: None,
            created_at: t,
            completed_at: None,
            updated_at: t + chrono::Duration::milliseconds(5),
            synced_at: t + chrono::Duration::milliseconds(5),
            expires_at: t + chrono::Duration::days(2),
            ttl: None,
        }
    }

    #[test]
    fn timestamps_have_fixed_width_and_sort_as_time() {
        let a = Utc.with_ymd_and_hms(2024, 3, 1, 9, 0, 0).unwrap();
        let b = a + chrono::Duration::microseconds(999_999);
        let c = a + chrono::Duration::seconds(10);
        assert_eq!(timestamp(a).unwrap(), "2024-03-01T09:00:00.000Z");
        assert_eq!(timestamp(b).unwrap(), "2024-03-01T09:00:00.999Z");
        assert!(timestamp(a).unwrap() < timestamp(b).unwrap());
        assert!(timestamp(b).unwrap() < timestamp(c).unwrap());
    }

    #[test]
    fn years_that_break_the_order_are_refused() {
        let far = Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap();
        assert!(matches!(timestamp(far), Err(StoreError::Corrupt(_))));
        let before = Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap();
        assert!(matches!(timestamp(before), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let mut r = record();
        r.previous_attempt_id = Some(IdvId::parse("idv_prev").unwrap());
        r.status = IdvStatus::Success;
        r.completed_at = Some(r.synced_at);
        r.ttl = Some(1_700_000_000);
        assert_eq!(
            decode(encode(&r, OpenShards::default()).unwrap()).unwrap(),
            r
        );
    }

    #[test]
    fn index_attributes_are_derived() {
        let item = encode(&record(), OpenShards::default()).unwrap();
        assert_eq!(
            string_attr(&item, attr::USER_TEMPLATE),
            Some("auth0|user#idvtmp_4FrXJvfQU3zGUR")
        );
        // The default four shards put this id in shard 0, the value written before sharding.
        assert_eq!(string_attr(&item, attr::OPEN_SHARD), Some("open"));
        assert_eq!(
            string_attr(&item, attr::CREATED_AT),
            Some("2024-03-01T12:00:00.000Z")
        );
        assert_eq!(string_attr(&item, attr::STATUS), Some("active"));
        // Absent, not NULL: a NULL `ttl` would still be an attribute, and optional fields
        // stay out of the item entirely.
        assert!(!item.contains_key(attr::TTL));
        assert!(!item.contains_key(attr::COMPLETED_AT));
        assert!(!item.contains_key(attr::PREVIOUS_ATTEMPT_ID));
    }

    #[test]
    fn open_shard_only_for_unfinished_sessions_without_ttl() {
        let mut r = record();
        r.id = IdvId::parse("idv_a").unwrap();
        let item = encode(&r, OpenShards::new(4).unwrap()).unwrap();
        assert_eq!(string_attr(&item, attr::OPEN_SHARD), Some("open#3"));
        r.status = IdvStatus::PendingReview;
        assert!(
            encode(&r, OpenShards::default())
                .unwrap()
                .contains_key(attr::OPEN_SHARD)
        );
        r.status = IdvStatus::Failed;
        assert!(
            !encode(&r, OpenShards::default())
                .unwrap()
                .contains_key(attr::OPEN_SHARD)
        );
        r.status = IdvStatus::Active;
        r.ttl = Some(1);
        let item = encode(&r, OpenShards::default()).unwrap();
        assert!(!item.contains_key(attr::OPEN_SHARD));
        assert_eq!(item.get(attr::TTL), Some(&AttributeValue::N("1".into())));
    }

    #[test]
    fn final_statuses_match_the_domain_rule() {
        let f: Vec<_> = final_statuses().collect();
        assert_eq!(f, ["success", "failed", "expired", "canceled"]);
    }

    #[test]
    fn undecodable_items_are_corrupt_without_values() {
        let mut item = encode(&record(), OpenShards::default()).unwrap();
        item.insert(
            attr::CLIENT_USER_ID.into(),
            AttributeValue::S(String::new()),
        );
        item.insert(
            attr::CREATED_AT.into(),
            AttributeValue::S("secret-looking value".into()),
        );
        match decode(item) {
            Err(StoreError::Corrupt(msg)) => assert!(!msg.contains("secret-looking"), "{msg}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        let mut missing = encode(&record(), OpenShards::default()).unwrap();
        missing.remove(attr::STEPS);
        assert!(matches!(decode(missing), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn unknown_status_survives_as_unknown() {
        let mut item = encode(&record(), OpenShards::default()).unwrap();
        item.insert(attr::STATUS.into(), AttributeValue::S("on_hold".into()));
        assert_eq!(decode(item).unwrap().status, IdvStatus::Unknown);
    }
}
