//! A `SessionStore` that delegates to a real one (the `DynamoStore` on moto) but fails chosen
//! operations the way DynamoDB does under load: throttling, a 5xx, or a write that DynamoDB
//! applied but whose answer never came back (a timeout after commit). Used to check that every
//! handler turns store trouble into a retryable answer and that a retry converges.

use chrono::{DateTime, Utc};
use shared::ids::{ClientUserId, IdvId, TemplateId};
use shared::session::SessionRecord;
use shared::store::{
    InsertOutcome, LapsedClaim, Page, ReadBudget, SessionStore, SnapshotOutcome, StoreError,
    UpdateOutcome,
};
use std::collections::HashMap;
use std::sync::Mutex;

/// The store operations, one per trait method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Op {
    Get,
    LatestFor,
    ListForUser,
    AttemptsSince,
    Insert,
    SaveSnapshot,
    OpenSessions,
    MarkAppExpired,
    ReopenReview,
    ClaimRetry,
    ReleaseRetry,
    ClaimLiveRead,
    SettleRetry,
    LapsedRetryClaims,
    ClaimReadBudget,
}

impl Op {
    /// The operations that write to the table.
    pub const WRITES: [Op; 9] = [
        Op::Insert,
        Op::SaveSnapshot,
        Op::MarkAppExpired,
        Op::ReopenReview,
        Op::ClaimRetry,
        Op::ReleaseRetry,
        Op::ClaimLiveRead,
        Op::SettleRetry,
        Op::ClaimReadBudget,
    ];
}

/// How a chosen call fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Refused before anything happens (`ProvisionedThroughputExceeded` and friends).
    Throttled,
    /// Refused before anything happens (a 5xx, a connection error).
    Unavailable,
    /// The call reaches DynamoDB and is applied, but the caller sees `Unavailable` (the answer
    /// was lost to a timeout). For reads this is the same as `Unavailable`.
    LostAnswer,
}

#[derive(Debug, Clone)]
struct Armed {
    op: Op,
    kind: FaultKind,
    /// Calls of `op` to let through before the first failure.
    skip: u32,
    /// Failures left.
    count: u32,
}

pub struct FaultyStore<S: SessionStore> {
    inner: S,
    armed: Mutex<Vec<Armed>>,
    calls: Mutex<HashMap<Op, u32>>,
    failures: Mutex<HashMap<Op, u32>>,
}

impl<S: SessionStore> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            armed: Mutex::new(Vec::new()),
            calls: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped store, to look at the truth without faults.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Fail the next `count` calls of `op`.
    pub fn fail(&self, op: Op, kind: FaultKind, count: u32) {
        self.fail_after(op, kind, 0, count);
    }

    /// Let `skip` calls of `op` through, then fail the `count` after them (`skip = n - 1`,
    /// `count = 1`: the nth call from now).
    pub fn fail_after(&self, op: Op, kind: FaultKind, skip: u32, count: u32) {
        self.armed.lock().unwrap().push(Armed {
            op,
            kind,
            skip,
            count,
        });
    }

    /// Disarm every fault.
    pub fn clear(&self) {
        self.armed.lock().unwrap().clear();
    }

    /// Calls of `op` so far (failed ones included).
    pub fn calls(&self, op: Op) -> u32 {
        self.calls.lock().unwrap().get(&op).copied().unwrap_or(0)
    }

    /// Calls of every operation that writes (insert, snapshot, expiry, retry claim and
    /// release) so far, failed ones included: zero means the table was never asked to change.
    pub fn writes(&self) -> u32 {
        Op::WRITES.iter().map(|op| self.calls(*op)).sum()
    }

    /// Injected failures of `op` so far.
    pub fn failures(&self, op: Op) -> u32 {
        self.failures.lock().unwrap().get(&op).copied().unwrap_or(0)
    }

    /// Count the call and decide whether it fails, and how.
    fn take(&self, op: Op) -> Option<FaultKind> {
        *self.calls.lock().unwrap().entry(op).or_default() += 1;
        let mut armed = self.armed.lock().unwrap();
        let i = armed.iter().position(|a| a.op == op)?;
        let a = &mut armed[i];
        if a.skip > 0 {
            a.skip -= 1;
            return None;
        }
        let kind = a.kind;
        a.count -= 1;
        if a.count == 0 {
            armed.remove(i);
        }
        *self.failures.lock().unwrap().entry(op).or_default() += 1;
        Some(kind)
    }

    fn error(kind: FaultKind) -> StoreError {
        match kind {
            FaultKind::Throttled => StoreError::Throttled,
            FaultKind::Unavailable | FaultKind::LostAnswer => {
                StoreError::Unavailable("injected fault".into())
            }
        }
    }

    async fn read<T>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.take(op) {
            Some(kind) => Err(Self::error(kind)),
            None => call.await,
        }
    }

    async fn write<T>(
        &self,
        op: Op,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match self.take(op) {
            Some(FaultKind::LostAnswer) => {
                call.await?;
                Err(Self::error(FaultKind::LostAnswer))
            }
            Some(kind) => Err(Self::error(kind)),
            None => call.await,
        }
    }
}

impl<S: SessionStore> SessionStore for FaultyStore<S> {
    async fn get(&self, id: &IdvId) -> Result<Option<SessionRecord>, StoreError> {
        self.read(Op::Get, self.inner.get(id)).await
    }

    async fn latest_for(
        &self,
        user: &ClientUserId,
        template: &TemplateId,
    ) -> Result<Option<SessionRecord>, StoreError> {
        self.read(Op::LatestFor, self.inner.latest_for(user, template))
            .await
    }

    async fn list_for_user(
        &self,
        user: &ClientUserId,
        template: Option<&TemplateId>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Page<SessionRecord>, StoreError> {
        self.read(
            Op::ListForUser,
            self.inner.list_for_user(user, template, limit, cursor),
        )
        .await
    }

    async fn attempts_since(
        &self,
        user: &ClientUserId,
        template: &TemplateId,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        self.read(
            Op::AttemptsSince,
            self.inner.attempts_since(user, template, since, limit),
        )
        .await
    }

    async fn insert(&self, record: &SessionRecord) -> Result<InsertOutcome, StoreError> {
        self.write(Op::Insert, self.inner.insert(record)).await
    }

    async fn save_snapshot(&self, record: &SessionRecord) -> Result<SnapshotOutcome, StoreError> {
        self.write(Op::SaveSnapshot, self.inner.save_snapshot(record))
            .await
    }

    async fn open_sessions(
        &self,
        synced_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        self.read(
            Op::OpenSessions,
            self.inner.open_sessions(synced_before, limit),
        )
        .await
    }

    async fn mark_app_expired(
        &self,
        id: &IdvId,
        ttl: i64,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome, StoreError> {
        self.write(
            Op::MarkAppExpired,
            self.inner.mark_app_expired(id, ttl, now),
        )
        .await
    }

    async fn reopen_review(
        &self,
        id: &IdvId,
        now: DateTime<Utc>,
    ) -> Result<UpdateOutcome, StoreError> {
        self.write(Op::ReopenReview, self.inner.reopen_review(id, now))
            .await
    }

    async fn claim_live_read(
        &self,
        id: &IdvId,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write(
            Op::ClaimLiveRead,
            self.inner.claim_live_read(id, now, since),
        )
        .await
    }

    async fn claim_read_budget(
        &self,
        budget: &ReadBudget,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write(
            Op::ClaimReadBudget,
            self.inner.claim_read_budget(budget, now, since),
        )
        .await
    }

    async fn claim_retry(
        &self,
        id: &IdvId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.write(Op::ClaimRetry, self.inner.claim_retry(id, until, now))
            .await
    }

    async fn release_retry(&self, id: &IdvId, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(Op::ReleaseRetry, self.inner.release_retry(id, until))
            .await
    }

    async fn settle_retry(&self, id: &IdvId, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.write(Op::SettleRetry, self.inner.settle_retry(id, until))
            .await
    }

    async fn lapsed_retry_claims(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<LapsedClaim>, StoreError> {
        self.read(
            Op::LapsedRetryClaims,
            self.inner.lapsed_retry_claims(before, limit),
        )
        .await
    }
}
