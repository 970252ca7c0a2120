//! The DynamoDB adapter of [`SessionStore`](super::SessionStore).
//!
//! Every write is a single conditional request, so concurrent Lambdas need no locks:
//! - `insert`: `attribute_not_exists(id)`;
//! - `save_snapshot`: an `UpdateItem` that only touches the snapshot fields (status, steps,
//!   completed_at, synced_at, updated_at, a first-seen previous_attempt_id), guarded by
//!   "stored `synced_at` is older" and, for a non-final snapshot, "stored status is not final".
//!   `created_at`, `expires_at`, `ttl`, `retry_claim_until` and the owner are never rewritten.
//!   An absent item is created whole with `attribute_not_exists(id)`.
//! - `mark_app_expired` / `claim_retry` / `claim_live_read` / `reopen_review`: `UpdateItem`
//!   with their own conditions; the retry claim's in `retry_claims.rs`, with its index;
//!   `claim_read_budget` likewise, on a budget item of its own ([`super::read_budget`]).
//!
//! The open index. `open_shard` is written once, when the item is created (for an unfinished
//! session without TTL), and afterwards only ever removed: by a final snapshot, or by
//! `mark_app_expired`. A later non-final snapshot leaves it alone, so a session that the app
//! already expired never re-enters the open index even if Plaid still calls it `active`
//! (Plaid no longer expires sessions, so it usually will). The exception is `pending_review`:
//! a session waiting for the operator's reviewer is never app-expired, so a `pending_review`
//! snapshot (or `reopen_review`, for items an earlier version expired) puts `open_shard` back
//! and removes `ttl`; `mark_app_expired` refuses it. A final snapshot also removes `ttl`:
//! a finished verification result is never lost to TTL, even when it arrives after the app
//! window. The value written is the session's shard under the writers' `OPEN_SESSION_SHARDS`
//! ([`super::shard`]); `open_sessions` reads every shard there can be (`open_index.rs`).
//!
//! The status sequence (`sequence`), counted by the snapshot write and `mark_app_expired`, is
//! explained in `snapshot.rs`, with the snapshot write itself.
//!
//! Item contents are never logged; errors carry operation names and DynamoDB error codes only.

mod cursor;
mod open_index;
mod retry_claims;
mod sdk_error;
mod snapshot;

use super::item::{self, Item, attr};
use super::shard::OpenShards;
use super::{
    InsertOutcome, LapsedClaim, Page, ReadBudget, SessionStore, SnapshotOutcome, StoreError,
    UpdateOutcome,
};
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::types::IdvStatus;
use crate::session::attempt_order;
use crate::session::record::SessionRecord;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};
use cursor::{UserIndex, decode_cursor, encode_cursor, index_key_of};
use sdk_error::{sdk_error, service_error};
use snapshot::{SNAPSHOT_ATTEMPTS, SnapshotUpdate, StatusGuard, raw_status};
use std::collections::HashMap;

pub const INDEX_BY_USER_TEMPLATE: &str = "by_user_template";
pub const INDEX_BY_USER: &str = "by_user";
pub const INDEX_OPEN_SESSIONS: &str = "open_sessions";
pub use retry_claims::INDEX_RETRY_CLAIMS;

/// The largest page `list_for_user` returns; larger requests are served this many.
pub const MAX_PAGE_SIZE: u32 = 100;

/// How long an unused read budget stays before DynamoDB's TTL removes it: far past the
/// cool-down, so a live budget is never deleted under its reader.
const READ_BUDGET_RETENTION: chrono::Duration = chrono::Duration::days(1);

/// How often a write that raced with a concurrent creator of the same item is tried again.
const RACE_ATTEMPTS: usize = 3;

/// The session store on one DynamoDB table laid out as `infra/template.yaml` defines it.
/// Cheap to clone (the SDK client is reference-counted); build one per cold start.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// How many shards of the open index this store writes to (reads cover them all).
    open_shards: OpenShards,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.table)
            .field("open_shards", &self.open_shards.count())
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// `client` should come from an `SdkConfig` with [`crate::aws::sdk_timeouts`] applied.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
            open_shards: OpenShards::default(),
        }
    }

    /// Spread the open sessions this store writes over `shards` shards of the open index
    /// (`OPEN_SESSION_SHARDS`; [`OpenShards::default`] otherwise). Reads are not affected: they
    /// cover every shard, so stores with different counts share a table safely.
    pub fn with_open_shards(mut self, shards: OpenShards) -> Self {
        self.open_shards = shards;
        self
    }

    pub fn open_shards(&self) -> OpenShards {
        self.open_shards
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn key(id: &IdvId) -> HashMap<String, AttributeValue> {
        HashMap::from([(attr::ID.to_string(), AttributeValue::S(id.to_string()))])
    }

    /// Put a whole new item if none has this id; the existing item comes back otherwise.
    async fn put_new(&self, record: &SessionRecord) -> Result<PutNew, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::encode(record, self.open_shards)?))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", attr::ID)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(PutNew::Inserted),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                PutItemError::ConditionalCheckFailedException(ccf) => Ok(PutNew::Exists(ccf.item)),
                other => Err(service_error("PutItem", &other)),
            },
            Err(e) => Err(sdk_error("PutItem", e)),
        }
    }

    /// One conditional write of a timestamp claim: sets `attribute` to `value` (and `marker`, an
    /// attribute name and its string value, when given) when the session exists and the
    /// attribute is absent or compares `free_when` (`<` or `<=`) to `threshold`. True when this
    /// caller got the claim.
    async fn claim(
        &self,
        id: &IdvId,
        attribute: &str,
        value: DateTime<Utc>,
        free_when: &str,
        threshold: DateTime<Utc>,
        marker: Option<(&str, &str)>,
    ) -> Result<bool, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression(if marker.is_some() {
                "SET #claim = :value, #marker = :marker"
            } else {
                "SET #claim = :value"
            })
            .condition_expression(format!(
                "attribute_exists(#id) AND (attribute_not_exists(#claim) OR #claim {free_when} :threshold)"
            ))
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_names("#claim", attribute)
            .expression_attribute_values(":value", item::timestamp_value(value)?)
            .expression_attribute_values(":threshold", item::timestamp_value(threshold)?);
        if let Some((name, marker_value)) = marker {
            req = req
                .expression_attribute_names("#marker", name)
                .expression_attribute_values(":marker", AttributeValue::S(marker_value.into()));
        }
        Ok(self.conditional_update(req).await? == UpdateOutcome::Written)
    }

    async fn conditional_update(
        &self,
        req: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> Result<UpdateOutcome, StoreError> {
        match req.send().await {
            Ok(_) => Ok(UpdateOutcome::Written),
            Err(SdkError::ServiceError(e)) => match e.into_err() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(UpdateOutcome::Rejected),
                other => Err(service_error("UpdateItem", &other)),
            },
            Err(e) => Err(sdk_error("UpdateItem", e)),
        }
    }

    /// One newest-first page of an index partition belonging to one user.
    async fn query_user_page(
        &self,
        index: UserIndex,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<SessionRecord>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE_SIZE);
        let start = cursor.map(|c| decode_cursor(c, &index)).transpose()?;
        // One item more than asked tells whether another page exists, so the last page never
        // carries a cursor to an empty page.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index.name())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index.partition_attr())
            .expression_attribute_values(":pk", AttributeValue::S(index.partition_value().into()))
            .scan_index_forward(false)
            .limit(limit as i32 + 1)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let mut raw = out.items.unwrap_or_default();
        let next_key = if raw.len() > limit as usize {
            raw.truncate(limit as usize);
            raw.last()
                .map(|last| index_key_of(last, &index))
                .transpose()?
        } else {
            // DynamoDB stopped early (1 MB page): continue from where it stopped.
            out.last_evaluated_key
        };
        let mut items = raw
            .into_iter()
            .map(item::decode)
            .collect::<Result<Vec<_>, _>>()?;
        attempt_order::order_newest_first(&mut items);
        let next_cursor = next_key.map(|k| encode_cursor(&k)).transpose()?;
        Ok(Page { items, next_cursor })
    }
}

enum PutNew {
    Inserted,
    Exists(Option<Item>),
}

/// How many of a user's newest attempts `latest_for` reads to break `created_at` ties.
const LATEST_TIE_WINDOW: i32 = 5;

impl SessionStore for DynamoStore {
    async fn get(&self, id: &IdvId) -> Result<Option<SessionRecord>, StoreError> {
        // Strongly consistent: a read right after a webhook's write must see it.
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        out.item.map(item::decode).transpose()
    }

    async fn latest_for(
        &self,
        user: &ClientUserId,
        template: &TemplateId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // Plaid's `created_at` has whole-second precision, so a retry made within the second of
        // its predecessor ties with it on the index. Read a few and break ties by the retry
        // chain: the newest attempt is the one no other attempt names as its previous one.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_BY_USER_TEMPLATE)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", attr::USER_TEMPLATE)
            .expression_attribute_values(":pk", AttributeValue::S(user.index_key(template)))
            .scan_index_forward(false)
            .limit(LATEST_TIE_WINDOW)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let records = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(item::decode)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(attempt_order::newest(records))
    }

    async fn list_for_user(
        &self,
        user: &ClientUserId,
        template: Option<&TemplateId>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<SessionRecord>, StoreError> {
        let index = match template {
            Some(t) => UserIndex::UserTemplate(user.index_key(t)),
            None => UserIndex::User(user.to_string()),
        };
        self.query_user_page(index, limit, cursor).await
    }

    async fn attempts_since(
        &self,
        user: &ClientUserId,
        template: &TemplateId,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_BY_USER_TEMPLATE)
            .key_condition_expression("#pk = :pk AND #ca >= :since")
            .expression_attribute_names("#pk", attr::USER_TEMPLATE)
            .expression_attribute_names("#ca", attr::CREATED_AT)
            .expression_attribute_values(":pk", AttributeValue::S(user.index_key(template)))
            .expression_attribute_values(":since", item::timestamp_value(since)?)
            .projection_expression("#ca")
            .scan_index_forward(false)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|raw| {
                item::string_attr(raw, attr::CREATED_AT)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or_else(|| {
                        StoreError::Corrupt("a stored session has no readable created_at".into())
                    })
            })
            .collect()
    }

    async fn insert(&self, record: &SessionRecord) -> Result<InsertOutcome, StoreError> {
        for _ in 0..RACE_ATTEMPTS {
            match self.put_new(record).await? {
                PutNew::Inserted => return Ok(InsertOutcome::Inserted),
                PutNew::Exists(Some(existing)) => {
                    return Ok(InsertOutcome::AlreadyExists(item::decode(existing)?));
                }
                // The server did not return the old item: read it. If it vanished in between
                // (deleted by hand or by TTL), the insert is simply tried again.
                PutNew::Exists(None) => {
                    if let Some(existing) = self.get(&record.id).await? {
                        return Ok(InsertOutcome::AlreadyExists(existing));
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "PutItem: the item kept appearing and disappearing".into(),
        ))
    }

    async fn save_snapshot(&self, record: &SessionRecord) -> Result<SnapshotOutcome, StoreError> {
        // Updates of existing sessions (webhooks, reconcile) are the common case: try that
        // first, and create the item only when it is missing.
        let mut known_to_exist = false;
        let mut guard = StatusGuard::Unchanged;
        for _ in 0..SNAPSHOT_ATTEMPTS {
            match self.update_snapshot(record, &guard).await? {
                SnapshotUpdate::Written(stored) => return Ok(SnapshotOutcome::Written(stored)),
                SnapshotUpdate::Refused(stored, status) if guard.held_for(record, &status) => {
                    return Ok(SnapshotOutcome::Rejected(Some(stored)));
                }
                // Only the status guess was wrong: try again as a change from what is stored
                // (or, if it now equals the snapshot's, as no change).
                SnapshotUpdate::Refused(_, status) => {
                    guard = if status == record.status.as_str() {
                        StatusGuard::Unchanged
                    } else {
                        StatusGuard::ChangedFrom(status)
                    };
                    continue;
                }
                SnapshotUpdate::NoItemReturned if known_to_exist => {
                    return Ok(SnapshotOutcome::Rejected(None));
                }
                SnapshotUpdate::NoItemReturned => {}
            }
            match self.put_new(record).await? {
                PutNew::Inserted => return Ok(SnapshotOutcome::Written(record.clone())),
                // A concurrent writer created it: apply the snapshot rules against its item,
                // guessing its status from the item when it came back.
                PutNew::Exists(existing) => {
                    known_to_exist = true;
                    if let Some(status) = existing.as_ref().map(raw_status).transpose()?
                        && status != record.status.as_str()
                    {
                        guard = StatusGuard::ChangedFrom(status);
                    }
                }
            }
        }
        Err(StoreError::Unavailable(
            "UpdateItem: the item kept appearing and disappearing".into(),
        ))
    }

    async fn open_sessions(
        &self,
        synced_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.open_batch(synced_before, limit).await
    }

    async fn mark_app_expired(
        &self,
        id: &IdvId,
        ttl: i64,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome, StoreError> {
        // `expires_at <= now` keeps a mistaken caller from expiring a session inside its window;
        // `attribute_exists(open_shard)` makes a second mark (or a final session) Rejected.
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            // A status change a caller can read (active -> expired): stamped and counted so the
            // stream shows it (`snapshot.rs`, "the status sequence").
            .update_expression(
                "REMOVE #os SET #ttl = :ttl, #ua = :now, #ae = :now, #seq = if_not_exists(#seq, :one) + :one",
            )
            .expression_attribute_names("#ae", attr::APP_EXPIRED_AT)
            .expression_attribute_names("#seq", attr::SEQUENCE)
            .expression_attribute_values(":one", AttributeValue::N(item::FIRST_SEQUENCE.to_string()))
            .expression_attribute_names("#os", attr::OPEN_SHARD)
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_names("#ua", attr::UPDATED_AT)
            .expression_attribute_names("#ea", attr::EXPIRES_AT)
            .expression_attribute_names("#st", attr::STATUS)
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
            .expression_attribute_values(":now", item::timestamp_value(now)?);
        let mut placeholders = Vec::new();
        for (i, status) in item::final_statuses().enumerate() {
            let p = format!(":final{i}");
            req = req.expression_attribute_values(&p, AttributeValue::S(status.to_string()));
            placeholders.push(p);
        }
        // A session in review waits for the reviewer and is never app-expired.
        req = req.expression_attribute_values(
            ":review",
            AttributeValue::S(IdvStatus::PendingReview.as_str().into()),
        );
        let condition = format!(
            "attribute_exists(#os) AND #ea <= :now AND #st <> :review AND NOT (#st IN ({}))",
            placeholders.join(", ")
        );
        self.conditional_update(req.condition_expression(condition))
            .await
    }

    async fn reopen_review(
        &self,
        id: &IdvId,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression("SET #os = :open, #ua = :now REMOVE #ttl, #ae")
            .condition_expression("attribute_exists(#id) AND #st = :review")
            .expression_attribute_names("#ae", attr::APP_EXPIRED_AT)
            .expression_attribute_names("#id", attr::ID)
            .expression_attribute_names("#os", attr::OPEN_SHARD)
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_names("#ua", attr::UPDATED_AT)
            .expression_attribute_names("#st", attr::STATUS)
            .expression_attribute_values(":open", AttributeValue::S(self.open_shards.value_of(id)))
            .expression_attribute_values(":now", item::timestamp_value(now)?)
            .expression_attribute_values(
                ":review",
                AttributeValue::S(IdvStatus::PendingReview.as_str().into()),
            );
        self.conditional_update(req).await
    }

    async fn claim_live_read(
        &self,
        id: &IdvId,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Free again once the last live read is no later than `since`.
        self.claim(id, attr::LIVE_READ_AT, now, "<=", since, None)
            .await
    }

    async fn claim_read_budget(
        &self,
        budget: &ReadBudget,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Creates the budget item on first use: no `attribute_exists(id)` here, unlike a
        // session's claims. Only `live_read_at` and `ttl`, so no index ever holds it.
        let ttl = (now + READ_BUDGET_RETENTION).timestamp();
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::ID, AttributeValue::S(budget.key()))
            .update_expression("SET #at = :now, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#at) OR #at <= :since")
            .expression_attribute_names("#at", attr::LIVE_READ_AT)
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_values(":now", item::timestamp_value(now)?)
            .expression_attribute_values(":since", item::timestamp_value(since)?)
            .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()));
        Ok(self.conditional_update(req).await? == UpdateOutcome::Written)
    }

    async fn claim_retry(
        &self,
        id: &IdvId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.take_retry_claim(id, until, now).await
    }

    async fn release_retry(&self, id: &IdvId, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.end_retry_claim(id, until, true).await
    }

    async fn settle_retry(&self, id: &IdvId, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.end_retry_claim(id, until, false).await
    }

    async fn lapsed_retry_claims(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<LapsedClaim>, StoreError> {
        self.lapsed_claims(before, limit).await
    }
}
