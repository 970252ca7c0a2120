//! Recording what Plaid says about a session, under the store's ordering rules. Used by every
//! path that reads a session from Plaid: start, get with refresh, webhook, reconcile.

use crate::context::AppContext;
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::PlaidError;
use crate::plaid::types::{IdentityVerification, ListRequest};
use crate::session::SessionRecord;
use crate::store::{SessionStore, StoreError, UpdateOutcome};
use chrono::{DateTime, Utc};

/// Save a snapshot read from Plaid at `synced_at`. Returns the record as it now stands: ours if
/// it was written, the stored one if that was newer (a concurrent writer won).
pub async fn record_snapshot<S: SessionStore>(
    ctx: &AppContext<S>,
    iv: &IdentityVerification,
    synced_at: DateTime<Utc>,
) -> Result<SessionRecord, StoreError> {
    let existing = ctx.store.get(&iv.id).await?;
    let candidate = match &existing {
        Some(stored) => stored.refreshed(iv, synced_at),
        None => SessionRecord::from_plaid(iv, synced_at, ctx.config.session_ttl),
    };
    match ctx.store.save_snapshot(&candidate).await? {
        UpdateOutcome::Written => Ok(candidate),
        UpdateOutcome::Rejected => Ok(ctx.store.get(&iv.id).await?.unwrap_or(candidate)),
    }
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

/// Whether `a` is a later attempt than the one with id `known` made at `known_created_at`:
/// made in a later second, or in the same second as its direct retry (Plaid's `created_at` has
/// whole seconds, so a same-second attempt that is not `known`'s successor may be older).
fn is_later(a: &IdentityVerification, known: &IdvId, known_created_at: DateTime<Utc>) -> bool {
    a.created_at > known_created_at
        || (a.created_at == known_created_at && a.previous_attempt_id.as_ref() == Some(known))
}

/// Plaid's newest attempt for (user, template), if it is later than `known` (see [`is_later`]).
pub fn newer_than<'a>(
    attempts: &'a [IdentityVerification],
    known: &IdvId,
    known_created_at: DateTime<Utc>,
) -> Option<&'a IdentityVerification> {
    attempts
        .iter()
        .filter(|a| is_later(a, known, known_created_at))
        .max_by_key(|a| a.created_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plaid::types::{IdvStatus, StepStatus, Steps, TemplateRef};
    use chrono::TimeZone;

    fn attempt(id: &str, second: u32, previous: Option<&str>) -> IdentityVerification {
        let s = StepStatus::Success;
        IdentityVerification {
            id: IdvId::parse(id).unwrap(),
            client_user_id: ClientUserId::parse("u").unwrap(),
            user_id: None,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, second).unwrap(),
            completed_at: None,
            previous_attempt_id: previous.map(|p| IdvId::parse(p).unwrap()),
            shareable_url: None,
            template: TemplateRef {
                id: TemplateId::parse("idvtmp_1").unwrap(),
                version: 1,
            },
            user: None,
            status: IdvStatus::Active,
            steps: Steps {
                accept_tos: s,
                verify_sms: s,
                kyc_check: s,
                documentary_verification: s,
                selfie_check: s,
                watchlist_screening: s,
                risk_check: s,
            },
            documentary_verification: None,
            selfie_check: None,
            kyc_check: None,
            risk_check: None,
            verify_sms: None,
            watchlist_screening_id: None,
            beacon_user_id: None,
            redacted_at: None,
            latest_scored_protect_event: None,
            request_id: None,
        }
    }

    #[test]
    fn same_second_attempts_are_ordered_by_the_chain_and_never_loop() {
        let a = attempt("idv_a", 5, None);
        let b = attempt("idv_b", 5, Some("idv_a"));
        let all = [a.clone(), b.clone()];
        assert_eq!(
            newer_than(&all, &a.id, a.created_at).map(|x| &x.id),
            Some(&b.id)
        );
        // From the newest, nothing is later: the older same-second attempt is not "newer".
        assert_eq!(newer_than(&all, &b.id, b.created_at), None);
        let c = attempt("idv_c", 9, Some("idv_b"));
        let all = [a.clone(), b, c.clone()];
        assert_eq!(
            newer_than(&all, &a.id, a.created_at).map(|x| &x.id),
            Some(&c.id)
        );
    }
}
