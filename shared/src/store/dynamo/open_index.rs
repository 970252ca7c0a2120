//! Reading the sharded `open_sessions` index for reconcile: every shard value there can be (see
//! `store::shard` for why the reader never trusts the writers' count), in turns, each paged with
//! `ExclusiveStartKey` only as far as the batch needs.
//!
//! A batch of `limit` is shared out in rounds: each shard that may hold more is asked for an
//! equal share of what is still wanted (at least one); a shard that has fewer is done, and what
//! it left goes to the others in the next round. The batch is then ordered in turns (the stalest
//! of every shard, then the second of every shard, ...), so a run that stops early (Plaid's rate
//! limit) has still reached every shard. Rounds and turns begin at a shard picked at random per
//! batch: when every shard has a backlog and the batch is not a multiple of their number, the
//! shards that get one more, or the only ones served when the batch is smaller than the number
//! of shards, change from run to run instead of always being the first ones. So one shard's
//! backlog, such as the legacy `open` value after an upgrade, can neither fill a batch nor always
//! go first in it.

use super::DynamoStore;
use super::INDEX_OPEN_SESSIONS;
use super::sdk_error::sdk_error;
use crate::session::record::SessionRecord;
use crate::store::StoreError;
use crate::store::item::{self, attr};
use crate::store::shard::every_shard_value;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;

type Key = HashMap<String, AttributeValue>;

/// One shard's progress through a batch.
struct ShardRead {
    value: String,
    found: Vec<SessionRecord>,
    /// Where its next page starts (`None`: at the beginning, or nothing left when `done`).
    start: Option<Key>,
    done: bool,
}

impl DynamoStore {
    /// See [`SessionStore::open_sessions`](crate::store::SessionStore::open_sessions).
    pub(super) async fn open_batch(
        &self,
        synced_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SessionRecord>, StoreError> {
        let limit = limit as usize;
        let before = item::timestamp_value(synced_before)?;
        let mut shards: Vec<ShardRead> = every_shard_value()
            .map(|value| ShardRead {
                value,
                found: Vec::new(),
                start: None,
                done: false,
            })
            .collect();
        // Where this batch's rounds and turns begin (see the module docs).
        let first = fastrand::usize(..shards.len());
        let order: Vec<usize> = (0..shards.len())
            .map(|k| (first + k) % shards.len())
            .collect();
        let mut total = 0;
        while total < limit {
            let open: Vec<usize> = order.iter().copied().filter(|&i| !shards[i].done).collect();
            if open.is_empty() {
                break;
            }
            let share = ((limit - total) / open.len()).max(1);
            for i in open {
                let want = share.min(limit - total);
                if want == 0 {
                    break;
                }
                let shard = &mut shards[i];
                let (records, next) = self
                    .open_page(&shard.value, &before, want, shard.start.take())
                    .await?;
                total += records.len();
                shard.found.extend(records);
                shard.done = next.is_none();
                shard.start = next;
            }
        }
        let found = order
            .iter()
            .map(|&i| std::mem::take(&mut shards[i].found))
            .collect();
        Ok(in_turns(found))
    }

    /// Up to `limit` sessions of one shard synced before `before`, oldest first, from `start`;
    /// and where the next page starts, if the shard may hold more.
    async fn open_page(
        &self,
        shard: &str,
        before: &AttributeValue,
        limit: usize,
        start: Option<Key>,
    ) -> Result<(Vec<SessionRecord>, Option<Key>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_OPEN_SESSIONS)
            .key_condition_expression("#os = :shard AND #sa < :before")
            .expression_attribute_names("#os", attr::OPEN_SHARD)
            .expression_attribute_names("#sa", attr::SYNCED_AT)
            .expression_attribute_values(":shard", AttributeValue::S(shard.to_owned()))
            .expression_attribute_values(":before", before.clone())
            .scan_index_forward(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let mut records = Vec::new();
        for raw in out.items.unwrap_or_default() {
            let id = item::string_attr(&raw, attr::ID).map(str::to_owned);
            match item::decode(raw) {
                Ok(r) => records.push(r),
                // One bad item must not stop reconciliation of all the others; it is
                // reported (by id only) for someone to repair.
                Err(e) => tracing::error!(
                    idv_id = id.as_deref().unwrap_or("<none>"),
                    error = %e,
                    "skipping an open session that does not decode"
                ),
            }
        }
        Ok((records, out.last_evaluated_key))
    }
}

/// The first of every shard, then the second of every shard, and so on.
fn in_turns<T>(shards: Vec<Vec<T>>) -> Vec<T> {
    let mut queues: Vec<_> = shards.into_iter().map(Vec::into_iter).collect();
    let mut out = Vec::new();
    loop {
        let before = out.len();
        out.extend(queues.iter_mut().filter_map(Iterator::next));
        if out.len() == before {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::in_turns;

    #[test]
    fn turns_take_one_of_each_shard_at_a_time() {
        let got = in_turns(vec![
            vec!["a1"],
            vec![],
            vec!["c1", "c2", "c3"],
            vec!["d1", "d2"],
        ]);
        assert_eq!(got, ["a1", "c1", "d1", "c2", "d2", "c3"]);
        assert!(in_turns::<u8>(vec![vec![], vec![]]).is_empty());
    }
}
