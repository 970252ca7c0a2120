//! The budget of live Plaid reads a reader may start: one per [`LIVE_READ_COOLDOWN`] per
//! reader, across all the sessions it reads, so that a user with many sessions cannot multiply
//! it, and a reviewer's reads (any session, by id) are counted apart from the owner's.
//!
//! **Where the stamp lives.** In the sessions table itself, one small item per budget, so there
//! is no second table to provision, grant and back up:
//! - key `id` = `read_budget#owner#<sub>` or `read_budget#reviewer#<sub>` ([`ReadBudget::key`]).
//!   Plaid ids, as [`IdvId`](crate::ids::IdvId) accepts them, never contain `#`, so this key can
//!   never be a session's, and `GET /sessions/{id}` cannot name it (the path parses as an
//!   `IdvId` first);
//! - `live_read_at` (S, the timestamp format of the session items) and `ttl` (N): nothing else.
//!   Without `user_template`, `client_user_id` or `open_shard` the item is in none of the three
//!   indexes (all are sparse on those keys), so the user's listings, the start's look-ups and
//!   reconcile's open-session batches never see it. The `ttl` lets DynamoDB delete a budget a
//!   day after its last use (a stamp older than the cool-down means nothing anyway).
//!
//! The table's stream does carry these writes (as it carried the per-session `live_read_at`
//! stamps before): a stream consumer tells them apart by the `#` in the key
//! ([`is_read_budget_key`]) and skips them; they never decode as a session.
//!
//! [`LIVE_READ_COOLDOWN`]: crate::session::lifecycle::LIVE_READ_COOLDOWN

use crate::ids::ClientUserId;

/// The `id` prefix of every budget item.
pub const READ_BUDGET_KEY_PREFIX: &str = "read_budget#";

/// Whose budget a live read is taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadBudget {
    /// A user reading its own sessions (refresh, a stale session re-read).
    Owner(ClientUserId),
    /// A caller with the reviewer scope (any session, summary or full view).
    Reviewer(ClientUserId),
}

impl ReadBudget {
    /// The item key (see the module doc). `ClientUserId` may hold `#`, but it is the last part,
    /// after a fixed role word, so two budgets never share a key.
    pub fn key(&self) -> String {
        match self {
            ReadBudget::Owner(sub) => format!("{READ_BUDGET_KEY_PREFIX}owner#{sub}"),
            ReadBudget::Reviewer(sub) => format!("{READ_BUDGET_KEY_PREFIX}reviewer#{sub}"),
        }
    }
}

/// Whether a table key (`id`) is a read budget's rather than a session's.
pub fn is_read_budget_key(id: &str) -> bool {
    id.starts_with(READ_BUDGET_KEY_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::IdvId;

    #[test]
    fn budget_keys_are_never_session_ids_and_never_shared() {
        let sub = ClientUserId::parse("auth0|a#b").unwrap();
        let owner = ReadBudget::Owner(sub.clone()).key();
        let reviewer = ReadBudget::Reviewer(sub).key();
        assert_ne!(owner, reviewer);
        for key in [&owner, &reviewer] {
            assert!(IdvId::parse(key.as_str()).is_err(), "{key}");
            assert!(is_read_budget_key(key));
        }
        assert!(!is_read_budget_key("idv_52xR9LKo77r1Np"));
        // A user whose `sub` spells another role cannot reach that role's budget.
        let tricky = ReadBudget::Owner(ClientUserId::parse("reviewer#x").unwrap()).key();
        assert_ne!(
            tricky,
            ReadBudget::Reviewer(ClientUserId::parse("x").unwrap()).key()
        );
    }
}
