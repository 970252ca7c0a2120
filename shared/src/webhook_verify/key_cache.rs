//! Verification keys by `kid`: cached, fetched at most once at a time per `kid`, with unknown
//! `kid`s remembered briefly.
//!
//! * A hit costs one uncontended mutex lock and a clone of a 64-byte point.
//! * A miss makes its caller the *leader*: it publishes an in-flight marker, fetches without
//!   holding any lock, stores the outcome and hands it to every caller that arrived meanwhile
//!   (the followers wait on a `watch` channel). Twenty webhooks signed under a new `kid` cost one
//!   call to Plaid; so does a burst while Plaid is down (all twenty get `KeyUnavailable`).
//! * If the leader's future is dropped mid-fetch (the invocation timed out, say), a guard clears
//!   the marker and the followers' channel closes, so the next of them takes over the fetch
//!   instead of waiting forever.
//! * Fetches for a `kid` we hold no key for (never seen, or known only as unknown) are bounded
//!   per process by a sliding window ([`CacheConfig::new_kid_fetches`] per
//!   [`CacheConfig::new_kid_window`], by default 10 a minute). Past it the answer is
//!   [`VerifyError::FetchBudgetSpent`] at once: no fetch, no in-flight marker, nothing stored.
//!   Refreshing a key Plaid already gave us (its TTL ran out, or a rotation asks for a recheck)
//!   and waiting on another caller's fetch are free; cache hits never touch the budget.
//! * Times come from the `now` the caller passes, like every other rule of the verifier, so
//!   tests drive expiry without sleeping. A `now` earlier than an entry's fetch time (the wall
//!   clock stepped back) counts as stale: refetching is cheap, trusting an entry forever is not.

use super::jwk::VerifyingKey;
use super::jwk::{self, KeyRejection};
use super::{KeyFetchError, KeyFetcher, VerifyError};
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub key_ttl: Duration,
    pub unknown_kid_ttl: Duration,
    pub max_entries: usize,
    /// At most this many fetches for `kid`s without a key per [`Self::new_kid_window`].
    pub new_kid_fetches: usize,
    pub new_kid_window: Duration,
}

/// The times of the recent fetches for new `kid`s: a sliding window, exact ("at most N in any
/// window"), in N timestamps of memory.
#[derive(Debug)]
struct FetchBudget {
    limit: usize,
    window: TimeDelta,
    spent: VecDeque<DateTime<Utc>>,
}

impl FetchBudget {
    /// Takes one fetch from the budget, or says there is none left. A fetch dated after `now`
    /// (the wall clock stepped back) no longer counts, as with the cache's own entries.
    fn try_spend(&mut self, now: DateTime<Utc>) -> bool {
        let window = self.window;
        self.spent.retain(|at| within(*at, now, window));
        if self.spent.len() >= self.limit {
            return false;
        }
        self.spent.push_back(now);
        true
    }
}

/// What a lookup yields: a usable key, or the error the verifier returns.
pub type Lookup = Result<VerifyingKey, VerifyError>;

#[derive(Debug, Clone)]
enum Known {
    /// Plaid answered with a key: usable or not (expired, wrong curve), kept either way so a
    /// flood of tokens under a retired key does not become a flood of fetches.
    Key {
        state: Result<VerifyingKey, KeyRejection>,
        fetched_at: DateTime<Utc>,
        /// Set when another `kid` appeared since: Plaid rotated, so this key may have been
        /// given an `expired_at`. Its next use refetches it (Plaid's own sample does the same).
        recheck: bool,
    },
    /// Plaid said there is no such key.
    Unknown { at: DateTime<Utc> },
}

#[derive(Debug)]
enum Slot {
    Known(Known),
    InFlight(watch::Receiver<Option<Lookup>>),
}

enum Next {
    Wait(watch::Receiver<Option<Lookup>>),
    Lead {
        had_key: bool,
        tx: watch::Sender<Option<Lookup>>,
        marker: watch::Receiver<Option<Lookup>>,
    },
}

impl Next {
    /// Publishes an in-flight marker for `kid`; the caller becomes the leader.
    fn lead(slots: &mut HashMap<String, Slot>, kid: &str, had_key: bool) -> Next {
        let (tx, marker) = watch::channel(None);
        slots.insert(kid.to_owned(), Slot::InFlight(marker.clone()));
        Next::Lead {
            had_key,
            tx,
            marker,
        }
    }
}

#[derive(Debug)]
pub struct KeyCache {
    slots: Mutex<HashMap<String, Slot>>,
    /// Locked only while `slots` is held, so the two never deadlock.
    budget: Mutex<FetchBudget>,
    key_ttl: TimeDelta,
    unknown_kid_ttl: TimeDelta,
    max_entries: usize,
}

fn to_delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn within(since: DateTime<Utc>, now: DateTime<Utc>, ttl: TimeDelta) -> bool {
    let age = now.signed_duration_since(since);
    age >= TimeDelta::zero() && age < ttl
}

impl KeyCache {
    pub fn new(config: &CacheConfig) -> Self {
        KeyCache {
            slots: Mutex::new(HashMap::new()),
            budget: Mutex::new(FetchBudget {
                limit: config.new_kid_fetches,
                window: to_delta(config.new_kid_window),
                spent: VecDeque::with_capacity(config.new_kid_fetches.min(64)),
            }),
            key_ttl: to_delta(config.key_ttl),
            unknown_kid_ttl: to_delta(config.unknown_kid_ttl),
            max_entries: config.max_entries.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        // Nothing panics while holding the lock, but a poisoned map is still a valid map.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// May a fetch for a `kid` we hold no key for start now?
    fn spend_budget(&self, now: DateTime<Utc>) -> bool {
        self.budget
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_spend(now)
    }

    fn answer(&self, known: &Known, now: DateTime<Utc>) -> Option<Lookup> {
        match known {
            Known::Key {
                state,
                fetched_at,
                recheck,
            } => (!recheck && within(*fetched_at, now, self.key_ttl)).then(|| {
                state.clone().map_err(|rejection| match rejection {
                    KeyRejection::Expired => VerifyError::ExpiredKey,
                    KeyRejection::Unusable(_) => VerifyError::UnknownKey,
                })
            }),
            Known::Unknown { at } => {
                within(*at, now, self.unknown_kid_ttl).then_some(Err(VerifyError::UnknownKey))
            }
        }
    }

    /// The key for `kid`, from the cache or, at most one fetch at a time, from `fetcher`.
    pub async fn get<F: KeyFetcher>(&self, kid: &str, now: DateTime<Utc>, fetcher: &F) -> Lookup {
        loop {
            // The lock is held only inside this block, never across an await.
            let next = {
                let mut slots = self.lock();
                match slots.get(kid) {
                    Some(Slot::Known(known)) => match self.answer(known, now) {
                        Some(answer) => return answer,
                        // Refreshing a key Plaid gave us is free; asking again about a kid
                        // Plaid called unknown is not.
                        None => {
                            let had_key = matches!(known, Known::Key { .. });
                            if !had_key && !self.spend_budget(now) {
                                return Err(VerifyError::FetchBudgetSpent);
                            }
                            Next::lead(&mut slots, kid, had_key)
                        }
                    },
                    // A live fetch (its sender still exists): wait for its outcome.
                    Some(Slot::InFlight(rx)) if rx.has_changed().is_ok() => Next::Wait(rx.clone()),
                    // Nothing, or a marker whose leader was dropped: lead a fetch, if the
                    // budget for new kids allows one.
                    _ => {
                        if !self.spend_budget(now) {
                            return Err(VerifyError::FetchBudgetSpent);
                        }
                        Next::lead(&mut slots, kid, false)
                    }
                }
            };
            match next {
                Next::Lead {
                    had_key,
                    tx,
                    marker,
                } => {
                    let leader = Leader {
                        cache: self,
                        kid,
                        tx,
                        marker,
                        done: false,
                    };
                    return leader.run(now, had_key, fetcher).await;
                }
                Next::Wait(mut rx) => match rx.wait_for(Option::is_some).await {
                    Ok(outcome) => {
                        if let Some(lookup) = outcome.as_ref() {
                            return lookup.clone();
                        }
                    }
                    // The leader was dropped before it finished: go round and take over.
                    Err(_) => continue,
                },
            }
        }
    }

    /// Stores what a fetch taught us and keeps the map bounded.
    fn store(&self, kid: &str, known: Option<Known>, had_key: bool) {
        let mut slots = self.lock();
        match known {
            Some(known) => {
                let new_usable_kid = !had_key && matches!(&known, Known::Key { state: Ok(_), .. });
                if new_usable_kid {
                    for (other, slot) in slots.iter_mut() {
                        if let (true, Slot::Known(Known::Key { recheck, .. })) =
                            (other != kid, slot)
                        {
                            *recheck = true;
                        }
                    }
                }
                slots.insert(kid.to_owned(), Slot::Known(known));
            }
            // Nothing learnt (Plaid unreachable): forget the kid so the next webhook asks again.
            None => {
                slots.remove(kid);
            }
        }
        if slots.len() > self.max_entries {
            Self::shrink(&mut slots, kid, self.max_entries);
        }
    }

    /// Forged traffic with ever-new `kid`s must not grow the map without bound. Unknown kids
    /// go first, then any other settled entry; in-flight markers and `keep` stay.
    fn shrink(slots: &mut HashMap<String, Slot>, keep: &str, max: usize) {
        slots
            .retain(|kid, slot| kid == keep || !matches!(slot, Slot::Known(Known::Unknown { .. })));
        if slots.len() <= max {
            return;
        }
        let mut excess = slots.len() - max;
        slots.retain(|kid, slot| {
            if excess > 0 && kid != keep && matches!(slot, Slot::Known(_)) {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The caller that fetches. Dropping it unfinished clears its in-flight marker.
struct Leader<'a> {
    cache: &'a KeyCache,
    kid: &'a str,
    tx: watch::Sender<Option<Lookup>>,
    marker: watch::Receiver<Option<Lookup>>,
    done: bool,
}

impl Leader<'_> {
    async fn run<F: KeyFetcher>(
        mut self,
        now: DateTime<Utc>,
        had_key: bool,
        fetcher: &F,
    ) -> Lookup {
        let fetched = fetcher.fetch_key(self.kid).await;
        let (known, lookup) = match fetched {
            Ok(key) => {
                let state = jwk::verifying_key(self.kid, &key);
                let lookup = match &state {
                    Ok(vk) => Ok(vk.clone()),
                    Err(KeyRejection::Expired) => Err(VerifyError::ExpiredKey),
                    Err(KeyRejection::Unusable(why)) => {
                        tracing::warn!(
                            kid = self.kid,
                            reason = why,
                            "webhook verification key rejected"
                        );
                        Err(VerifyError::UnknownKey)
                    }
                };
                let known = Known::Key {
                    state,
                    fetched_at: now,
                    recheck: false,
                };
                (Some(known), lookup)
            }
            Err(KeyFetchError::UnknownKid) => {
                tracing::info!(
                    kid = self.kid,
                    "plaid does not know this webhook verification kid"
                );
                (
                    Some(Known::Unknown { at: now }),
                    Err(VerifyError::UnknownKey),
                )
            }
            Err(KeyFetchError::Unavailable(why)) => {
                tracing::warn!(kid = self.kid, error = %why, "webhook verification key fetch failed");
                (None, Err(VerifyError::KeyUnavailable(why)))
            }
        };
        self.cache.store(self.kid, known, had_key);
        self.done = true;
        // Followers may all be gone; nobody listening is fine.
        let _ = self.tx.send(Some(lookup.clone()));
        lookup
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut slots = self.cache.lock();
        if let Some(Slot::InFlight(rx)) = slots.get(self.kid)
            && rx.same_channel(&self.marker)
        {
            slots.remove(self.kid);
        }
        // `tx` drops after this, closing the channel: followers wake and retry.
    }
}

#[cfg(test)]
mod tests;
