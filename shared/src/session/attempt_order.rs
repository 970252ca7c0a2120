//! Which of a user's attempts is newer: the one ordering rule for attempts, whether they come
//! from our table (`SessionRecord`) or from Plaid (`IdentityVerification`).
//!
//! Plaid's `created_at` has whole seconds, so an attempt and its retry made within the same
//! second tie on it (and on our index, which sorts by it). The tie is broken by the retry chain:
//! an attempt that names another as its `previous_attempt_id` is the newer of the two. Two
//! attempts of one second and no link between them are unordered ([`compare`] gives `None`).
//!
//! Every reader of "the newest attempt" uses [`compare`] or the chain helpers here: the store's
//! newest-first pages and `latest_for`, the start flow's search for a retry it already made,
//! and the `RETRIED` webhook's re-read of the attempts after the one it names.

use crate::ids::IdvId;
use crate::plaid::types::IdentityVerification;
use crate::session::SessionRecord;
use chrono::{DateTime, Utc};
use std::cmp::Ordering;

/// What the ordering reads of an attempt.
pub trait Attempt {
    fn id(&self) -> &IdvId;
    /// Plaid's creation time (whole seconds).
    fn created_at(&self) -> DateTime<Utc>;
    /// The attempt this one retried.
    fn previous_attempt_id(&self) -> Option<&IdvId>;
}

impl Attempt for SessionRecord {
    fn id(&self) -> &IdvId {
        &self.id
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn previous_attempt_id(&self) -> Option<&IdvId> {
        self.previous_attempt_id.as_ref()
    }
}

impl Attempt for IdentityVerification {
    fn id(&self) -> &IdvId {
        &self.id
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn previous_attempt_id(&self) -> Option<&IdvId> {
        self.previous_attempt_id.as_ref()
    }
}

/// `a` names `b` as the attempt it retried.
fn retries(a: &impl Attempt, b: &impl Attempt) -> bool {
    a.previous_attempt_id() == Some(b.id())
}

/// The rule: the later `created_at` is newer; within one second, a retry is newer than the
/// attempt it retried; otherwise two attempts of one second are unordered (`None`).
pub fn compare(a: &impl Attempt, b: &impl Attempt) -> Option<Ordering> {
    match a.created_at().cmp(&b.created_at()) {
        Ordering::Equal if retries(a, b) => Some(Ordering::Greater),
        Ordering::Equal if retries(b, a) => Some(Ordering::Less),
        Ordering::Equal => None,
        by_time => Some(by_time),
    }
}

/// `candidate` is not older than `known` by `created_at` (it may be newer: a later second, or
/// the same second, where only the chain can tell), and is not `known` itself.
pub fn not_older_than(
    candidate: &impl Attempt,
    known: &IdvId,
    known_created_at: DateTime<Utc>,
) -> bool {
    candidate.id() != known && candidate.created_at() >= known_created_at
}

/// Within a newest-first list (as the index returns it: `created_at` descending), move each
/// attempt ahead of a same-second attempt it is newer than by [`compare`], so that ties follow
/// the chain too.
pub fn order_newest_first<T: Attempt>(items: &mut [T]) {
    for _ in 0..items.len() {
        let mut swapped = false;
        for i in 1..items.len() {
            if compare(&items[i], &items[i - 1]) == Some(Ordering::Greater) {
                items.swap(i - 1, i);
                swapped = true;
            }
        }
        if !swapped {
            break;
        }
    }
}

/// The newest of `records`, given newest `created_at` first: among those sharing the first's
/// `created_at`, the first that no other of them is newer than by [`compare`]; the first if
/// every one is (a cycle in bad data).
pub fn newest<T: Attempt>(records: Vec<T>) -> Option<T> {
    let newest = records.first()?.created_at();
    let tied: Vec<T> = records
        .into_iter()
        .filter(|r| r.created_at() == newest)
        .collect();
    let winner = tied
        .iter()
        .position(|x| {
            !tied
                .iter()
                .any(|r| compare(r, x) == Some(Ordering::Greater))
        })
        .unwrap_or(0);
    tied.into_iter().nth(winner)
}

/// The newest of `attempts` that is newer than `known` (created at `known_created_at`), if any.
///
/// The end of the chain that starts at `known` is newer (a retry comes after what it retried,
/// whatever the seconds say); with no chain onward, the latest attempt [`not_older_than`] `known`
/// that is not one of `known`'s ancestors (no ancestor is ever newer than its retry). Without
/// the chain, two attempts of one second were each "newer" than the other: the RETRIED webhook
/// looped between them forever, and a start could take an older failed attempt for a retry we
/// had not recorded.
pub fn newer_than<'a, T: Attempt>(
    attempts: &'a [T],
    known: &IdvId,
    known_created_at: DateTime<Utc>,
) -> Option<&'a T> {
    let by_id = |id: &IdvId| attempts.iter().find(|a| a.id() == id);
    // Follow the chain forward from `known` (bounded: a cycle in bad data must not hang us).
    let mut tip: Option<&T> = None;
    let mut cursor = known.clone();
    for _ in 0..attempts.len() {
        match attempts
            .iter()
            .find(|a| a.previous_attempt_id() == Some(&cursor) && a.id() != known)
        {
            Some(next) => {
                cursor = next.id().clone();
                tip = Some(next);
            }
            None => break,
        }
    }
    if tip.is_some() {
        return tip;
    }
    let mut ancestors = Vec::new();
    let mut cursor = by_id(known).and_then(|a| a.previous_attempt_id().cloned());
    while let Some(id) = cursor {
        if ancestors.contains(&id) || ancestors.len() > attempts.len() {
            break;
        }
        cursor = by_id(&id).and_then(|a| a.previous_attempt_id().cloned());
        ancestors.push(id);
    }
    attempts
        .iter()
        .filter(|a| not_older_than(*a, known, known_created_at))
        .filter(|a| !ancestors.contains(a.id()))
        .max_by_key(|a| a.created_at())
}

#[cfg(test)]
mod tests;
