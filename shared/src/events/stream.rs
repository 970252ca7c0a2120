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
