//! Snapshot writes, and the status sequence (`sequence`, for the outcome events of
//! `publish-events`). Every item counts the status changes a caller can read: `insert` (and a snapshot that creates the item)
//! writes 1; a snapshot whose status differs from the stored one adds 1; `mark_app_expired`
//! adds 1 and stamps `app_expired_at`, so the app's own expiry (which leaves Plaid's `status` as
//! it was) is a change the stream's images show. Claims, cool-down stamps, `reopen_review` (the
//! status stays `pending_review`) and snapshots that keep the status leave it alone. Items
//! written before the counter existed count their creation as 1 (`if_not_exists(#seq, :one)`).
//! Whether a change is *published* is decided by `publish-events` from the old and new images
//! alone; the counter only has to grow with each such change, which this guarantees.
//!
//! Bumping "only when the status changes" in one `UpdateItem`: an update expression cannot
//! branch, so the snapshot write states its assumption about the stored status in its
//! condition. The first try assumes no change (`#st = :st`, no bump): the common case (step
//! updates, reconcile refreshes). When DynamoDB refuses it, the stored item comes back
//! (`ALL_OLD`); if its status is the one assumed, the refusal is the snapshot rules' own (a
//! newer snapshot is stored, a final status would go back, another owner) and stands. If it is
//! another status, the write is tried again assuming exactly that one (`#st = :from`) with
//! `SET #seq = if_not_exists(#seq, :one) + :one`. Both tries carry every snapshot condition, so
//! the guarantees above hold whatever the interleaving; a concurrent writer that changes the
//! status between the tries makes the second one refuse, and the loop looks again (bounded by
//! [`SNAPSHOT_ATTEMPTS`]). So `sequence` moves by exactly one per stored status change, and a
//! write that changes the status costs one refused conditional write more than before.

use super::item::{self, Item, attr};
use super::{DynamoStore, StoreError, sdk_error, service_error};
use crate::session::record::SessionRecord;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};

/// Tries of a snapshot write: the "unchanged" guess, the bump, and room for one race with a
/// concurrent creator or status change (module docs).
pub(super) const SNAPSHOT_ATTEMPTS: usize = 5;

/// What a snapshot write assumes the stored status is (module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum StatusGuard {
    /// The snapshot's own status: no change, no bump.
    Unchanged,
    /// This stored status (raw, as stored): a change, bump `sequence`.
    ChangedFrom(String),
}

pub(super) enum SnapshotUpdate {
    Written(SessionRecord),
    /// The item exists and the condition failed: the stored record and its raw status.
    Refused(SessionRecord, String),
    /// The condition failed and no item came back: absent (or a server that does not return
    /// ALL_OLD, which the caller resolves).
    NoItemReturned,
}

/// The stored `status` exactly as stored (an unknown Plaid status decodes to `Unknown`, which
/// a `#st = :from` condition could never match).
pub(super) fn raw_status(item: &Item) -> Result<String, StoreError> {
    item::string_attr(item, attr::STATUS)
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Corrupt("a stored session has no status".into()))
}

impl StatusGuard {
    /// Whether a refusal under this guard is the snapshot rules' own: the stored status is the
    /// one assumed, so the status condition held.
    pub(super) fn held_for(&self, record: &SessionRecord, stored_status: &str) -> bool {
        match self {
            StatusGuard::Unchanged => stored_status == record.status.as_str(),
            StatusGuard::ChangedFrom(from) => stored_status == from,
        }
    }
}

impl DynamoStore {
    /// The snapshot update of an item that exists. See the module docs for what it touches.
    pub(super) async fn update_snapshot(
        &self,
        r: &SessionRecord,
        guard: &StatusGuard,
    ) -> Result<SnapshotUpdate, StoreError> {
        let new_is_final = r.status.is_final();
        let mut set = vec!["#st = :st", "#steps = :steps", "#sa = :sa", "#ua = :ua"];
        let mut remove = Vec::new();
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(&r.id)))
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_names("#cu", attr::CLIENT_USER_ID)
            .expression_attribute_names("#tp", attr::TEMPLATE_ID)
            .expression_attribute_names("#st", attr::STATUS)
            .expression_attribute_names("#steps", attr::STEPS)
            .expression_attribute_names("#sa", attr::SYNCED_AT)
            .expression_attribute_names("#ua", attr::UPDATED_AT)
            .expression_attribute_names("#ca", attr::COMPLETED_AT)
            .expression_attribute_values(":cu", AttributeValue::S(r.client_user_id.to_string()))
            .expression_attribute_values(":tp", AttributeValue::S(r.template_id.to_string()))
            .expression_attribute_values(":st", item::value(&r.status)?)
            .expression_attribute_values(":steps", item::value(&r.steps)?)
            .expression_attribute_values(":sa", item::timestamp_value(r.synced_at)?)
            .expression_attribute_values(":ua", item::timestamp_value(r.updated_at)?);
        match r.completed_at {
            Some(t) => {
                set.push("#ca = :ca");
                req = req.expression_attribute_values(":ca", item::timestamp_value(t)?);
            }
            None => remove.push("#ca"),
        }
        if let Some(prev) = &r.previous_attempt_id {
            // Plaid never changes a session's previous attempt: the first one seen stays.
            set.push("#pa = if_not_exists(#pa, :pa)");
            req = req
                .expression_attribute_names("#pa", attr::PREVIOUS_ATTEMPT_ID)
                .expression_attribute_values(":pa", AttributeValue::S(prev.to_string()));
        }
        let mut condition =
            String::from("attribute_exists(#id) AND #cu = :cu AND #tp = :tp AND #sa < :sa");
        match guard {
            StatusGuard::Unchanged => condition.push_str(" AND #st = :st"),
            StatusGuard::ChangedFrom(stored) => {
                condition.push_str(" AND #st = :from");
                set.push("#seq = if_not_exists(#seq, :one) + :one");
                req = req
                    .expression_attribute_names("#seq", attr::SEQUENCE)
                    .expression_attribute_values(":from", AttributeValue::S(stored.clone()))
                    .expression_attribute_values(
                        ":one",
                        AttributeValue::N(item::FIRST_SEQUENCE.to_string()),
                    );
            }
        }
        if new_is_final {
            remove.extend(["#os", "#ttl"]);
            req = req
                .expression_attribute_names("#os", attr::OPEN_SHARD)
                .expression_attribute_names("#ttl", attr::TTL);
        } else if r.in_review() {
            // Waiting for the operator's reviewer: never app-expired, so back in the open index
            // (reconcile keeps reading it until the reviewer decides) and without a TTL, even if
            // the app window had passed while the user was still in Link.
            set.push("#os = :open");
            // No longer app-expired either: the stream's images must not read it as expired.
            remove.extend(["#ttl", "#ae"]);
            req = req
                .expression_attribute_names("#os", attr::OPEN_SHARD)
                .expression_attribute_names("#ttl", attr::TTL)
                .expression_attribute_names("#ae", attr::APP_EXPIRED_AT)
                .expression_attribute_values(
                    ":open",
                    AttributeValue::S(self.open_shards.value_of(&r.id)),
                );
        }
        if !new_is_final {
            let mut placeholders = Vec::new();
            for (i, status) in item::final_statuses().enumerate() {
                let p = format!(":final{i}");
                req = req.expression_attribute_values(&p, AttributeValue::S(status.to_string()));
                placeholders.push(p);
            }
            condition.push_str(&format!(" AND NOT (#st IN ({}))", placeholders.join(", ")));
        }
        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let result = req
            .update_expression(update)
            .condition_expression(condition)
            // The item as written (or as it stood): the caller gets the whole record back
            // without a read of its own.
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes {
                Some(stored) => Ok(SnapshotUpdate::Written(item::decode(stored)?)),
                None => Err(StoreError::Unavailable(
                    "UpdateItem: no attributes returned for ALL_NEW".into(),
                )),
            },
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                UpdateItemError::ConditionalCheckFailedException(ccf) => Ok(match ccf.item {
                    Some(stored) => {
                        let status = raw_status(&stored)?;
                        SnapshotUpdate::Refused(item::decode(stored)?, status)
                    }
                    None => SnapshotUpdate::NoItemReturned,
                }),
                other => Err(service_error("UpdateItem", &other)),
            },
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }
}
