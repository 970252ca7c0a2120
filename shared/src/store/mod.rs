//! The session store port, and its DynamoDB adapter.
//!
//! Table layout (defined once, in `infra/template.yaml`, resource `SessionsTable`):
//! - key `id` (S): the Plaid IDV id;
//! - GSI `by_user_template`: `user_template` (S, `ClientUserId::index_key`) + `created_at` (S);
//! - GSI `by_user`: `client_user_id` (S) + `created_at` (S);
//! - GSI `open_sessions` (sparse): `open_shard` (S, present only while the session is not final
//!   and not app-expired; a session in `pending_review` is never app-expired; one of a few shard
//!   values picked from the id, see [`shard`]) + `synced_at` (S);
//! - GSI `retry_claims` (sparse): `retry_claimed` (S, the constant `retry`) + `retry_claim_until`
//!   (S), present only from a retry claim until its outcome is in the table (see below);
//! - TTL attribute `ttl` (N, Unix seconds), set only on abandoned sessions (and on the
//!   read-budget items, which share the table but no index: [`read_budget`]);
//! - `sequence` (N) and `app_expired_at` (S): the outcome events' bookkeeping, read from the
//!   table's stream by `publish-events` (see `dynamo/mod.rs`, "the status sequence").
//!
//! Lapsed retry claims. A start that claims the right to `/retry` after a session and then loses
//! Plaid's answer (a 5xx after the work, a timeout, a killed instance) may leave an attempt that
//! Plaid made and billed but our table never saw. Nothing else finds it when its `RETRIED`
//! webhook is lost and the person never comes back: the claimed session is usually final, so
//! it is not in `open_sessions`. So the claim writes `retry_claimed` beside `retry_claim_until`,
//! which puts the claimed item in the `retry_claims` index; the start removes the marker once
//! the outcome is recorded ([`SessionStore::settle_retry`]: the new attempt is in the table) or
//! with the claim itself ([`SessionStore::release_retry`]: no attempt was made). What stays in
//! the index is a claim whose outcome nobody recorded, and reconcile reads the lapsed ones with
//! one query ([`SessionStore::lapsed_retry_claims`]), lists the user's attempts at Plaid, records
//! the newer one and settles the claim.
//!
//! Chosen over keeping the claimed item in `open_sessions` while claimed: that index means
//! "not final", its writers (snapshots, the app expiry) would have to learn to leave a claimed
//! item in it, and reconcile would `/get` every claimed session instead of listing only the
//! forgotten ones. Cost: the claim write and the settle (or release) write each also write the
//! index, so a retry costs one extra table write (the settle) and two index writes; a claim
//! left behind costs reconcile one `/list` at Plaid and one settle. One partition takes about
//! 1,000 writes a second, far beyond Plaid's own limit on `/retry`, so the index is not sharded.
//! Claims taken before this index existed carry no marker and are not seen by it.
//!
//! Timestamps are stored as RFC 3339 UTC with exactly three fractional digits and `Z`, so that
//! string order is time order.

pub mod dynamo;
// Crate-visible for `events`, which reads the stream's images with the same codec.
pub(crate) mod item;
pub mod read_budget;
pub mod shard;

use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::session::record::SessionRecord;
use chrono::{DateTime, Utc};
use std::future::Future;

pub use dynamo::DynamoStore;
pub use read_budget::ReadBudget;
pub use shard::OpenShards;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB throttled us (ProvisionedThroughputExceeded, RequestLimitExceeded, ThrottlingException).
    #[error("the session store is throttling requests")]
    Throttled,
    /// Timeouts, connection errors, 5xx from DynamoDB: the caller should retry.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
    /// An item that does not decode into a `SessionRecord`.
    #[error("a stored session could not be read: {0}")]
    Corrupt(String),
    /// A page cursor that we did not issue.
    #[error("the page cursor is not valid")]
    BadCursor,
}

/// Result of [`SessionStore::insert`].
#[derive(Debug, Clone, PartialEq)]
pub enum InsertOutcome {
    Inserted,
    /// A record with this id was already there (a concurrent start won): here it is.
    AlreadyExists(SessionRecord),
}

/// Result of a conditional update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOutcome {
    Written,
    /// Not written: for `mark_app_expired`, the session is no longer open.
    Rejected,
}

/// Result of [`SessionStore::save_snapshot`]: the session as the store now holds it, so callers
/// need no read before or after the write.
#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotOutcome {
    /// Written. The record as stored: the snapshot fields are the new ones, the fields a snapshot
    /// never rewrites (`created_at`, `expires_at`, `ttl`, the first `previous_attempt_id`) are the
    /// stored ones.
    Written(SessionRecord),
    /// Not written: the stored snapshot is newer, or the stored status is final and the new one
    /// is not, or the stored item belongs to another user or template. The stored record, when
    /// the store could see it.
    Rejected(Option<SessionRecord>),
}

impl SnapshotOutcome {
    pub fn is_written(&self) -> bool {
        matches!(self, SnapshotOutcome::Written(_))
    }
}

/// A retry claim that ran out without its outcome being recorded: see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct LapsedClaim {
    /// The session the claim was taken on (the one a retry would come after).
    pub record: SessionRecord,
    /// The claim's `until`, as taken: what [`SessionStore::settle_retry`] needs.
    pub until: DateTime<Utc>,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque cursor for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

pub trait SessionStore: Send + Sync {
    fn get(
        &self,
        id: &IdvId,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// The user's newest session for the template (by `created_at`).
    fn latest_for(
        &self,
        user: &ClientUserId,
        template: &TemplateId,
    ) -> impl Future<Output = Result<Option<SessionRecord>, StoreError>> + Send;

    /// The user's sessions, newest first, optionally for one template.
    fn list_for_user(
        &self,
        user: &ClientUserId,
        template: Option<&TemplateId>,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<Page<SessionRecord>, StoreError>> + Send;

    /// `created_at` of the user's sessions for the template created at or after `since`, newest
    /// first, at most `limit` (the user+template index; no item is read whole).
    fn attempts_since(
        &self,
        user: &ClientUserId,
        template: &TemplateId,
        since: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<DateTime<Utc>>, StoreError>> + Send;

    /// Create only if absent.
    fn insert(
        &self,
        record: &SessionRecord,
    ) -> impl Future<Output = Result<InsertOutcome, StoreError>> + Send;

    /// Upsert a snapshot read from Plaid: written when absent, or when the stored `synced_at` is
    /// older and the write would not move a final status back to a non-final one. Only the
    /// snapshot fields of an existing item are written (see [`SnapshotOutcome::Written`]).
    fn save_snapshot(
        &self,
        record: &SessionRecord,
    ) -> impl Future<Output = Result<SnapshotOutcome, StoreError>> + Send;

    /// Open sessions (not final, not app-expired) last synced before `synced_before`, at most
    /// `limit`, from every shard of the sparse `open_sessions` index (no scan; see [`shard`]).
    /// Fair across shards: the shards take turns, each giving its oldest sync first (the first
    /// of every shard, then the second of every shard, ...), from a shard picked at random per
    /// batch, and a shard with fewer leaves its share to the others, so one big shard cannot
    /// fill a whole batch (`dynamo/open_index.rs`).
    fn open_sessions(
        &self,
        synced_before: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<SessionRecord>, StoreError>> + Send;

    /// Apply the app expiry: take the session out of the open index and set its TTL, only if it
    /// is still not final. Does not change the stored Plaid status; records the expiry as a
    /// status change a caller can read (`app_expired_at`, and one more `sequence`) for the
    /// outcome events.
    fn mark_app_expired(
        &self,
        id: &IdvId,
        ttl: i64,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<UpdateOutcome, StoreError>> + Send;

    /// Undo an app expiry that an earlier version applied to a session in `pending_review`: put
    /// it back in the open index and remove its TTL, only if it is (still) in review. A session
    /// in review waits for the operator's reviewer and is never app-expired.
    fn reopen_review(
        &self,
        id: &IdvId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<UpdateOutcome, StoreError>> + Send;

    /// Take the per-session cool-down of live Plaid reads: stamp `now` as the start of a live read
    /// of session `id` unless one started after `since` (then false: answer without Plaid). One
    /// conditional write, so concurrent callers cannot both pass.
    fn claim_live_read(
        &self,
        id: &IdvId,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Take a reader's budget of live Plaid reads ([`ReadBudget`]): stamp `now` as the start of a
    /// live read by that reader unless one started after `since` (then false: answer without
    /// Plaid). One conditional write, so concurrent callers cannot both pass; the first claim
    /// creates the budget item.
    fn claim_read_budget(
        &self,
        budget: &ReadBudget,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Take the right to issue `/identity_verification/retry` after session `id` until `until`.
    /// True for exactly one of several concurrent callers; a claim past its `until` can be taken
    /// again (its holder died).
    fn claim_retry(
        &self,
        id: &IdvId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Give back a claim taken with `claim_retry` whose holder knows no retry was made (Plaid
    /// refused the call), so the next start need not wait for it to lapse. Only the holder's own
    /// claim (`until` as it was taken) is removed.
    fn release_retry(
        &self,
        id: &IdvId,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The outcome of the claim taken with `claim_retry` (`until` as it was taken) is in the
    /// table: take the session out of the `retry_claims` index. The claim itself stays until it
    /// lapses, so concurrent starts still wait for the holder's new session as before.
    fn settle_retry(
        &self,
        id: &IdvId,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Retry claims that lapsed before `before` and were neither released nor settled, oldest
    /// first, at most `limit` (the sparse `retry_claims` index; no scan).
    fn lapsed_retry_claims(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<LapsedClaim>, StoreError>> + Send;
}
