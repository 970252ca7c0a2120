//! From one DynamoDB stream record to the status change it carries, if any: the one place that
//! decides "a status changed", by comparing the status a caller can read in the old and the new
//! image. Images are read with the store's item codec (`store::item`), so the attribute names
//! live in one place.

use super::detail::{SCHEMA_VERSION, StatusChanged, event_id};
use crate::plaid::types::{IdvStatus, PlaidEnvironment};
use crate::store::item::{self, Item, attr};
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::SecondsFormat;

/// A record that carries a change but cannot be published. Never holds item values.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("the stream record has no sequence number")]
    NoSequenceNumber,
    #[error("the new image does not decode: {0}")]
    Undecodable(String),
    #[error("the new image has no readable `sequence` (written by a version before the events)")]
    NoStatusSequence,
}

/// A status change, ready to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The stream record's sequence number: the partial batch failure's `itemIdentifier`.
    pub sequence_number: String,
    pub detail: StatusChanged,
}

/// The record's session id (from its keys), to keep a failed session's later records back even
/// when the record itself does not decode.
pub fn session_of(record: &EventRecord) -> Option<String> {
    match record.change.keys.get(attr::ID) {
        Some(serde_dynamo::AttributeValue::S(id)) => Some(id.clone()),
        _ => None,
    }
}

/// The status change `record` carries: `None` for writes that change no status a caller can
/// read (claims, cool-down stamps, sync times, step moves inside one status, no-op writes) and
/// for deletions (TTL removing an abandoned session is not a status).
pub fn change_of(
    record: &EventRecord,
    environment: PlaidEnvironment,
) -> Result<Option<Change>, StreamError> {
    if record.event_name == "REMOVE" || record.change.new_image.is_empty() {
        return Ok(None);
    }
    let new: Item = record.change.new_image.clone().into();
    let status = readable_status(&new)?;
    let previous_status = if record.change.old_image.is_empty() {
        None
    } else {
        let old: Item = record.change.old_image.clone().into();
        Some(readable_status(&old)?)
    };
    if previous_status.as_deref() == Some(status.as_str()) {
        return Ok(None);
    }
    let sequence_number = record
        .change
        .sequence_number
        .clone()
        .ok_or(StreamError::NoSequenceNumber)?;
    let sequence = match new.get(attr::SEQUENCE) {
        Some(AttributeValue::N(n)) => n.parse::<u64>().ok(),
        _ => None,
    }
    .ok_or(StreamError::NoStatusSequence)?;
    let session = item::decode(new).map_err(|e| StreamError::Undecodable(e.to_string()))?;
    Ok(Some(Change {
        sequence_number,
        detail: StatusChanged {
            schema_version: SCHEMA_VERSION,
            event_id: event_id(&session.id, sequence),
            session_id: session.id,
            client_user_id: session.client_user_id,
            template_id: session.template_id,
            status,
            previous_status,
            previous_attempt_id: session.previous_attempt_id,
            sequence,
            occurred_at: session
                .updated_at
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            environment: environment.as_str().to_owned(),
        },
    }))
}

/// The status a caller reads from this image: Plaid's, except that an unfinished session the
/// app's expiry took (`app_expired_at`) reads `expired`, as `SessionRecord::effective_status`
/// answers once past `expires_at`; a session in review never app-expires.
fn readable_status(image: &Item) -> Result<String, StreamError> {
    let raw = item::string_attr(image, attr::STATUS)
        .ok_or_else(|| StreamError::Undecodable("no status".into()))?;
    let status: IdvStatus = serde_json::from_value(serde_json::Value::String(raw.to_owned()))
        .unwrap_or(IdvStatus::Unknown);
    let app_expired = image.contains_key(attr::APP_EXPIRED_AT);
    Ok(
        if app_expired && !status.is_final() && status != IdvStatus::PendingReview {
            IdvStatus::Expired.as_str().to_owned()
        } else {
            raw.to_owned()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn image(status: &str, sequence: Option<u64>, app_expired: bool) -> Value {
        let mut i = json!({
            "id": {"S": "idv_52xR9LKo77r1Np"},
            "client_user_id": {"S": "auth0|user"},
            "template_id": {"S": "idvtmp_4FrXJvfQU3zGUR"},
            "user_template": {"S": "auth0|user#idvtmp_4FrXJvfQU3zGUR"},
            "status": {"S": status},
            "steps": {"M": {
                "accept_tos": {"S": "success"}, "verify_sms": {"S": "active"},
                "kyc_check": {"S": "waiting_for_prerequisite"},
                "documentary_verification": {"S": "waiting_for_prerequisite"},
                "selfie_check": {"S": "waiting_for_prerequisite"},
                "watchlist_screening": {"S": "waiting_for_prerequisite"},
                "risk_check": {"S": "not_applicable"}}},
            "created_at": {"S": "2024-03-01T12:00:00.000Z"},
            "updated_at": {"S": "2024-03-01T12:05:00.250Z"},
            "synced_at": {"S": "2024-03-01T12:05:00.250Z"},
            "expires_at": {"S": "2024-03-03T12:00:00.000Z"}
        });
        if let Some(n) = sequence {
            i["sequence"] = json!({"N": n.to_string()});
        }
        if app_expired {
            i["app_expired_at"] = json!({"S": "2024-03-03T12:10:00.000Z"});
        }
        i
    }

    fn record(name: &str, old: Option<Value>, new: Option<Value>) -> EventRecord {
        let mut change = json!({
            "Keys": {"id": {"S": "idv_52xR9LKo77r1Np"}},
            "SequenceNumber": "4100000000000001",
            "SizeBytes": 1200,
            "StreamViewType": "NEW_AND_OLD_IMAGES"
        });
        if let Some(o) = old {
            change["OldImage"] = o;
        }
        if let Some(n) = new {
            change["NewImage"] = n;
        }
        serde_json::from_value(json!({
            "eventID": "1", "eventName": name, "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": change
        }))
        .expect("a Lambda stream record")
    }

    fn change(r: &EventRecord) -> Option<Change> {
        change_of(r, PlaidEnvironment::Production).expect("decodes")
    }

    #[test]
    fn a_new_session_is_active_with_no_previous_status() {
        let c = change(&record(
            "INSERT",
            None,
            Some(image("active", Some(1), false)),
        ))
        .unwrap();
        assert_eq!(c.sequence_number, "4100000000000001");
        let d = c.detail;
        assert_eq!(
            (d.status.as_str(), d.previous_status, d.sequence),
            ("active", None, 1)
        );
        assert_eq!(d.event_id, "idv_52xR9LKo77r1Np:1");
        assert_eq!(d.occurred_at, "2024-03-01T12:05:00.250Z");
        assert_eq!(d.environment, "production");
    }

    #[test]
    fn only_a_change_of_the_readable_status_is_an_event() {
        let same = record(
            "MODIFY",
            Some(image("active", Some(1), false)),
            Some(image("active", Some(1), false)),
        );
        assert_eq!(change(&same), None);
        let done = record(
            "MODIFY",
            Some(image("active", Some(1), false)),
            Some(image("success", Some(2), false)),
        );
        let d = change(&done).unwrap().detail;
        assert_eq!(
            (d.status.as_str(), d.previous_status.as_deref()),
            ("success", Some("active"))
        );
        // The app's expiry: Plaid still says active, the caller reads expired.
        let expired = record(
            "MODIFY",
            Some(image("active", Some(1), false)),
            Some(image("active", Some(2), true)),
        );
        assert_eq!(change(&expired).unwrap().detail.status, "expired");
        // ... and a later sync that keeps Plaid's `active` is no second expiry.
        let resync = record(
            "MODIFY",
            Some(image("active", Some(2), true)),
            Some(image("active", Some(2), true)),
        );
        assert_eq!(change(&resync), None);
        // In review, the stamp does not count.
        let review = record(
            "MODIFY",
            Some(image("active", Some(2), true)),
            Some(image("pending_review", Some(3), true)),
        );
        assert_eq!(change(&review).unwrap().detail.status, "pending_review");
    }

    #[test]
    fn deletions_are_not_events_and_a_change_without_sequence_is_an_error() {
        let ttl = record("REMOVE", Some(image("active", Some(2), true)), None);
        assert_eq!(change(&ttl), None);
        let legacy = record(
            "MODIFY",
            Some(image("active", None, false)),
            Some(image("failed", None, false)),
        );
        assert!(matches!(
            change_of(&legacy, PlaidEnvironment::Sandbox),
            Err(StreamError::NoStatusSequence)
        ));
    }
}
