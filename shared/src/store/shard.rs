//! The shards of the sparse `open_sessions` index (`infra/SCALE.md` has the arithmetic).
//!
//! Every write to an unfinished session also writes its entry in that index, in the partition
//! named by the item's `open_shard`; the sort key `synced_at` moves on every snapshot, so a
//! webhook costs the partition a delete and a put. One partition takes about 1,000 writes a
//! second, so the open sessions are spread over `OPEN_SESSION_SHARDS` partitions.
//!
//! - **Names.** Shard 0 is `open`, the one value every version before sharding wrote: items
//!   already in a deployed table are simply in shard 0, and a count of 1 is the old layout.
//!   Shard `k` is `open#k`.
//! - **The writer** picks the shard from the session id: the first 8 bytes of its SHA-256,
//!   modulo the count. A specified function, so every Lambda instance and every release puts a
//!   session in the same shard (std's `DefaultHasher` is seeded per process and its algorithm is
//!   not promised across releases); `sha2` is already here for the webhook body hash, and a
//!   digest of a 20-byte id costs well under a microsecond beside a DynamoDB round trip.
//! - **The reader** (reconcile) does not trust the configured count: it queries every shard up
//!   to [`MAX_OPEN_SHARDS`], whatever the writers use. A function cannot know the count an
//!   earlier deployment wrote with, and CloudFormation rolls a failed update back to the old
//!   count on its own, so "the count may only grow" would be a rule nobody can keep: a lowered
//!   count would leave the sessions in the shards above it unread, never refreshed and never
//!   app-expired. Reading every shard costs [`MAX_OPEN_SHARDS`] queries per run, most of them of
//!   empty partitions (half a read unit each), once every ten minutes. **Never lower
//!   [`MAX_OPEN_SHARDS`]** for the same reason; raising it is safe.

use crate::ids::IdvId;
use sha2::{Digest, Sha256};

pub use crate::config::open_shards::{
    DEFAULT_OPEN_SHARDS, MAX_OPEN_SHARDS, OPEN_SHARDS_VAR, OpenShards,
};

impl OpenShards {
    /// The shard (0-based) the writers put session `id` in.
    pub fn shard_of(self, id: &IdvId) -> u32 {
        let digest = Sha256::digest(id.as_str().as_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        // The remainder is below the count, a u32.
        (u64::from_be_bytes(head) % u64::from(self.count())) as u32
    }

    /// The `open_shard` value of session `id`.
    pub fn value_of(self, id: &IdvId) -> String {
        shard_value(self.shard_of(id))
    }
}

/// The `open_shard` value of shard `index`: `open` for shard 0 (the value written before
/// sharding), `open#<index>` for the others.
pub fn shard_value(index: u32) -> String {
    match index {
        0 => LEGACY_OPEN.to_owned(),
        k => format!("{LEGACY_OPEN}#{k}"),
    }
}

/// Every value reconcile reads, in shard order: shard 0 (`open`, which also holds every item
/// written before sharding) to shard [`MAX_OPEN_SHARDS`] − 1.
pub fn every_shard_value() -> impl Iterator<Item = String> {
    (0..MAX_OPEN_SHARDS).map(shard_value)
}

/// The single partition of the index before sharding, kept as shard 0.
const LEGACY_OPEN: &str = "open";

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> IdvId {
        IdvId::parse(s).unwrap()
    }

    #[test]
    fn shard_zero_is_the_legacy_value_and_the_others_are_numbered() {
        assert_eq!(shard_value(0), "open");
        assert_eq!(shard_value(3), "open#3");
        let all: Vec<String> = every_shard_value().collect();
        assert_eq!(all.len(), MAX_OPEN_SHARDS as usize);
        assert_eq!(all[0], "open");
        assert_eq!(
            all.last().unwrap(),
            &format!("open#{}", MAX_OPEN_SHARDS - 1)
        );
    }

    #[test]
    fn one_shard_is_the_layout_before_sharding() {
        let one = OpenShards::new(1).unwrap();
        for i in 0..50 {
            assert_eq!(one.value_of(&id(&format!("idv_{i}"))), "open");
        }
    }

    /// Pinned: the shard of a session must not change between releases or processes (a change
    /// would lose no session, reads cover every shard, but it would move them all at once).
    /// The expected values are the first 8 bytes of `printf %s ID | sha256sum`, big-endian,
    /// modulo the count, worked out outside Rust.
    #[test]
    fn the_shard_is_a_fixed_function_of_the_id() {
        let cases = [
            // (id, first 8 bytes of its SHA-256, shard of 16, of 4, of 5)
            ("idv_52xR9LKo77r1Np", "0adb67ca5d497f70", 0, 0, 4),
            ("idv_a", "4aa827ec895ad0eb", 11, 3, 2),
            ("idv_d", "a889e250ceee4909", 9, 1, 2),
            ("idv_4FrXJvfQU3zGUR", "a99ab507e19a9121", 1, 1, 3),
        ];
        for (raw, head, of16, of4, of5) in cases {
            let v = u64::from_str_radix(head, 16).unwrap();
            assert_eq!(u64::from(of5), v % 5, "{raw}: the table itself is wrong");
            let got = [16, 4, 5].map(|n| OpenShards::new(n).unwrap().shard_of(&id(raw)));
            assert_eq!(got, [of16, of4, of5], "{raw}");
        }
        assert_eq!(OpenShards::new(4).unwrap().value_of(&id("idv_a")), "open#3");
        assert_eq!(
            OpenShards::new(4)
                .unwrap()
                .value_of(&id("idv_52xR9LKo77r1Np")),
            "open"
        );
    }

    #[test]
    fn sessions_spread_evenly() {
        let shards = OpenShards::new(8).unwrap();
        let mut counts = [0u32; 8];
        for i in 0..8_000 {
            counts[shards.shard_of(&id(&format!("idv_{i:014}"))) as usize] += 1;
        }
        // 1,000 expected per shard; a binomial standard deviation is about 30.
        for c in counts {
            assert!((850..=1150).contains(&c), "{counts:?}");
        }
    }
}
