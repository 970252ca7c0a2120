//! Recording what Plaid says about a session, under the store's ordering rules. Used by every
//! path that reads a session from Plaid: start, get with refresh, webhook, reconcile.

use crate::context::AppContext;
use crate::handlers::RequestLog;
use crate::http::ApiError;
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::PlaidError;
use crate::plaid::types::{IdentityVerification, ListRequest};
use crate::session::SessionRecord;
use crate::store::{SessionStore, SnapshotOutcome, StoreError};
use chrono::{DateTime, Utc};

/// Save a snapshot read from Plaid at `synced_at`, the time the request was *sent*: a reader whose
/// answer of an older state arrives late (slow network, a Lambda paused between the two) then
/// carries the older stamp and loses to any read sent after it. Stamping at the answer would let
/// the slowest reader win. Returns the record as it now stands: ours if
/// it was written (with the stored creation, expiry and TTL fields), the stored one if that was
/// newer (a concurrent writer won). One conditional write, no read: the store keeps what a
/// snapshot must not change.
pub async fn record_snapshot<S: SessionStore>(
    ctx: &AppContext<S>,
    iv: &IdentityVerification,
    synced_at: DateTime<Utc>,
) -> Result<SessionRecord, StoreError> {
    let candidate = SessionRecord::from_plaid(iv, synced_at, ctx.config.session_ttl);
    match ctx.store.save_snapshot(&candidate).await? {
        SnapshotOutcome::Written(stored) | SnapshotOutcome::Rejected(Some(stored)) => Ok(stored),
        // The item vanished between the store's attempts (TTL deletion racing the write): there
        // is nothing newer than what Plaid just said.
        SnapshotOutcome::Rejected(None) => Ok(candidate),
    }
}

/// Re-read a session a caller owns from Plaid and record it, stamped when the request was sent.
/// Plaid naming another user than `owner` is answered as an unknown session (the store and Plaid
/// disagree; nothing is recorded). A Plaid failure is logged on `log` and handed back for the
/// caller to decide whether its answer can do without the read.
pub async fn refresh_owned<S: SessionStore>(
    ctx: &AppContext<S>,
    id: &IdvId,
    owner: &ClientUserId,
    log: &mut RequestLog,
) -> Result<Result<(IdentityVerification, SessionRecord), PlaidError>, ApiError> {
    let read_at = ctx.now();
    let iv = match ctx.plaid.get(id).await {
        Ok(iv) => iv,
        Err(e) => {
            log.plaid_error(&e);
            return Ok(Err(e));
        }
    };
    log.plaid_request_id = iv.request_id.clone();
    if &iv.client_user_id != owner {
        tracing::error!(idv_id = %id, "plaid and the store disagree on the session's user");
        return Err(ApiError::NotFound);
    }
    let record = record_snapshot(ctx, &iv, read_at).await?;
    Ok(Ok((iv, record)))
}

/// Correct, on read, a session in review that an earlier version app-expired (a TTL, out of the
/// open index): a session in review waits for the reviewer and is never app-expired. A failed
/// repair is logged and left for the next read; the answer does not depend on it.
pub async fn repair_review<S: SessionStore>(
    ctx: &AppContext<S>,
    mut record: SessionRecord,
) -> SessionRecord {
    if record.needs_review_repair() {
        match ctx.store.reopen_review(&record.id, ctx.now()).await {
            Ok(_) => record.ttl = None,
            Err(e) => {
                tracing::warn!(idv_id = %record.id, error = %e, "could not reopen a session in review")
            }
        }
    }
    record
}

/// Every attempt Plaid holds for (user, template), following list cursors (bounded: a user has a
/// handful of attempts; Plaid suggests at most a few retries).
pub async fn plaid_attempts<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
) -> Result<Vec<IdentityVerification>, PlaidError> {
    const MAX_PAGES: usize = 10;
    let mut all = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page = ctx
            .plaid
            .list(&ListRequest {
                template_id: template.clone(),
                client_user_id: user.clone(),
                cursor: cursor.take(),
            })
            .await?;
        all.extend(page.identity_verifications);
        match page.next_cursor {
            Some(c) if !c.is_empty() => cursor = Some(c),
            _ => break,
        }
    }
    Ok(all)
}

/// Plaid's newest attempt for (user, template), if it is newer than `known`.
///
/// Plaid's `created_at` has whole seconds, so an attempt and its retry often tie. Ties are broken
/// by the chain (`previous_attempt_id`): the end of the chain that starts at `known` is newer, and
/// no ancestor of `known` is ever newer than it. Without that, two attempts of one second were
/// each "newer" than the other: the RETRIED webhook looped between them forever, and a start could
/// take an older failed attempt for a retry we had not recorded.
pub fn newer_than<'a>(
    attempts: &'a [IdentityVerification],
    known: &IdvId,
    known_created_at: DateTime<Utc>,
) -> Option<&'a IdentityVerification> {
    let by_id = |id: &IdvId| attempts.iter().find(|a| &a.id == id);
    // Follow the chain forward from `known` (bounded: a cycle in bad data must not hang us).
    let mut tip: Option<&IdentityVerification> = None;
    let mut cursor = known.clone();
    for _ in 0..attempts.len() {
        match attempts
            .iter()
            .find(|a| a.previous_attempt_id.as_ref() == Some(&cursor) && &a.id != known)
        {
            Some(next) => {
                cursor = next.id.clone();
                tip = Some(next);
            }
            None => break,
        }
    }
    if tip.is_some() {
        return tip;
    }
    let mut ancestors = Vec::new();
    let mut cursor = by_id(known).and_then(|a| a.previous_attempt_id.clone());
    while let Some(id) = cursor {
        if ancestors.contains(&id) || ancestors.len() > attempts.len() {
            break;
        }
        cursor = by_id(&id).and_then(|a| a.previous_attempt_id.clone());
        ancestors.push(id);
    }
    attempts
        .iter()
        .filter(|a| &a.id != known && a.created_at >= known_created_at)
        .filter(|a| !ancestors.contains(&a.id))
        .max_by_key(|a| a.created_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plaid's spec example, re-identified: `id`, `previous_attempt_id`, `created_at`.
    fn attempt(id: &str, previous: Option<&str>, created_at: &str) -> IdentityVerification {
        let mut v: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/plaid/identity_verification_get_response.json"
        ))
        .unwrap();
        v["id"] = id.into();
        v["previous_attempt_id"] = previous.map(Into::into).unwrap_or(serde_json::Value::Null);
        v["created_at"] = created_at.into();
        serde_json::from_value(v).unwrap()
    }

    fn id(s: &str) -> IdvId {
        IdvId::parse(s).unwrap()
    }

    #[test]
    fn same_second_attempts_are_ordered_by_the_chain() {
        let t = "2026-11-26T02:00:00Z";
        let a = attempt("idv_a", None, t);
        let b = attempt("idv_b", Some("idv_a"), t);
        let c = attempt("idv_c", Some("idv_b"), t);
        // Listing order must not matter.
        for all in [
            vec![a.clone(), b.clone(), c.clone()],
            vec![c.clone(), b.clone(), a.clone()],
        ] {
            let at = a.created_at;
            assert_eq!(newer_than(&all, &id("idv_a"), at).unwrap().id, id("idv_c"));
            assert_eq!(newer_than(&all, &id("idv_b"), at).unwrap().id, id("idv_c"));
            // The tip has nothing newer: its ancestors of the same second are older.
            assert!(newer_than(&all, &id("idv_c"), at).is_none());
        }
    }

    #[test]
    fn without_a_chain_the_later_created_at_wins() {
        let a = attempt("idv_a", None, "2026-11-26T02:00:00Z");
        let b = attempt("idv_b", None, "2026-11-26T02:00:05Z");
        let all = [a.clone(), b.clone()];
        assert_eq!(
            newer_than(&all, &id("idv_a"), a.created_at).unwrap().id,
            id("idv_b")
        );
        assert!(newer_than(&all, &id("idv_b"), b.created_at).is_none());
    }

    #[test]
    fn a_cycle_in_the_chain_does_not_hang() {
        let t = "2026-11-26T02:00:00Z";
        let a = attempt("idv_a", Some("idv_b"), t);
        let b = attempt("idv_b", Some("idv_a"), t);
        let all = [a.clone(), b];
        let _ = newer_than(&all, &id("idv_a"), a.created_at);
    }
}
