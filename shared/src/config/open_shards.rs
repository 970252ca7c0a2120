//! How many partitions of the open-sessions index writers spread sessions over
//! (`OPEN_SESSION_SHARDS`); `store::shard` says which partition a session goes to, and why
//! [`MAX_OPEN_SHARDS`] must never be lowered.

/// The environment variable that sets how many shards writers spread open sessions over.
pub const OPEN_SHARDS_VAR: &str = "OPEN_SESSION_SHARDS";

/// The most shards writers may use, and the shards reconcile always reads (see `store::shard`:
/// never lower it). 16 partitions carry about 16,000 index writes a second, some 900
/// verification starts a second by `infra/SCALE.md`: far past Plaid's rate limits.
pub const MAX_OPEN_SHARDS: u32 = 16;

/// Four partitions carry about 230 starts a second (`infra/SCALE.md`), over a hundred times
/// Plaid's default production limit for creates, at no cost: reads cover every shard anyway.
pub const DEFAULT_OPEN_SHARDS: u32 = 4;

/// How many shards writers spread the open sessions over: 1 to [`MAX_OPEN_SHARDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenShards(u32);

impl Default for OpenShards {
    fn default() -> Self {
        OpenShards(DEFAULT_OPEN_SHARDS)
    }
}

impl OpenShards {
    /// Refuses 0 and anything above [`MAX_OPEN_SHARDS`] (reconcile would not read those shards).
    pub fn new(count: u32) -> Result<Self, String> {
        if (1..=MAX_OPEN_SHARDS).contains(&count) {
            Ok(OpenShards(count))
        } else {
            Err(format!(
                "expected 1 to {MAX_OPEN_SHARDS} shards, got {count}"
            ))
        }
    }

    pub fn count(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_is_one_to_the_maximum() {
        assert_eq!(OpenShards::default().count(), DEFAULT_OPEN_SHARDS);
        assert_eq!(OpenShards::new(1).unwrap().count(), 1);
        assert_eq!(
            OpenShards::new(MAX_OPEN_SHARDS).unwrap().count(),
            MAX_OPEN_SHARDS
        );
        for bad in [0, MAX_OPEN_SHARDS + 1, u32::MAX] {
            let err = OpenShards::new(bad).unwrap_err();
            assert!(err.contains(&MAX_OPEN_SHARDS.to_string()), "{err}");
        }
    }
}
