//! Recording what a verified identity verification webhook is about: the webhook carries no
//! status, so the named session is re-read from Plaid and recorded, and after `RETRIED` every
//! attempt not older than it too.
//!
//! **A token carries no news once the session was read after it was signed.** A genuine
//! `Plaid-Verification` token stays valid for five minutes, and every copy of it used to buy one
//! `/identity_verification/get` (Plaid's rate limit on `/get` is shared by every caller of our
//! client). Plaid signs a webhook after the change it announces, so when the stored session's
//! `synced_at` (when our last `/get` of it was *sent*) is later than the token's `iat` by more
//! than [`NEWS_SKEW`], that read already saw the change: the delivery is answered 200 from the
//! store, without Plaid. The rule is on the signed `iat`, never on the body (two genuine
//! `STATUS_UPDATED` bodies are identical), so the same token re-encoded, or with its ECDSA `s`
//! replaced by `n − s` (both verify: the signed payload is the same), carries the same `iat` and
//! is just as free. What it cannot make free: copies arriving before any read later than
//! `iat + NEWS_SKEW` (the first such copy re-reads and moves `synced_at` past it; every later one
//! is free), and `RETRIED`, whose news is a *new* attempt that a read of the named one does not
//! show (it keeps its `/get` and `/list`).

use super::plaid_calls::PlaidCalls;
use super::sync::{plaid_attempts, record_snapshot};
use crate::context::AppContext;
use crate::http::ApiError;
use crate::plaid::types::{IdvWebhook, WebhookCode};
use crate::session::SessionRecord;
use crate::session::attempt_order::not_older_than;
use crate::store::SessionStore;
use chrono::{DateTime, Utc};

/// How much later than a token's `iat` the session's last Plaid read must have been sent for
/// the token to carry no news. It covers `iat` being whole seconds (up to 1 s early), the two
/// clocks' disagreement (Lambda keeps Amazon Time Sync time; milliseconds, not seconds) and
/// Plaid's own lag between a change and a `/get` that shows it, with room to spare. Larger only
/// widens the window in which copies of a token still cost a read.
pub const NEWS_SKEW: chrono::Duration = chrono::Duration::seconds(5);

/// Whether a token signed at `iat` (Unix seconds) can announce anything that a Plaid read sent at
/// `synced_at` did not already see.
pub fn may_carry_news(iat: i64, synced_at: DateTime<Utc>) -> bool {
    // i128: no `iat` can overflow the comparison (the verifier has bounded it already anyway).
    i128::from(iat) + i128::from(NEWS_SKEW.num_seconds()) >= i128::from(synced_at.timestamp())
}

/// What a webhook did, for the answer and for counting webhooks by outcome.
#[derive(Debug)]
pub enum WebhookOutcome {
    /// The named session, as it now stands in the store.
    Recorded(SessionRecord),
    /// Plaid refuses to show the named session to us (another environment's or client's):
    /// nothing recorded, and retrying cannot help.
    UnknownSession,
    /// The token was signed before the session's last Plaid read (a replayed or late copy):
    /// nothing to learn, Plaid not asked. The session as stored.
    NoNews(SessionRecord),
}

/// Re-read the session `hook` names and record it (and, for `RETRIED`, the newer attempts).
/// `signed_at` is the verified token's `iat`: a token signed before the session's last Plaid read
/// is answered from the store (see the module doc). Plaid unreachable, or refusing our keys, is a
/// 503 so that Plaid delivers again.
pub async fn record_webhook<S: SessionStore>(
    ctx: &AppContext<S>,
    hook: &IdvWebhook,
    signed_at: i64,
    plaid: &mut PlaidCalls,
) -> Result<WebhookOutcome, ApiError> {
    if hook.webhook_code != WebhookCode::Retried {
        match ctx.store.get(&hook.identity_verification_id).await {
            Ok(Some(stored)) if !may_carry_news(signed_at, stored.synced_at) => {
                return Ok(WebhookOutcome::NoNews(stored));
            }
            Ok(_) => {}
            // The check only saves a Plaid read: without it, read Plaid as before (the write
            // below fails on its own if the store is really down, and Plaid redelivers).
            Err(e) => {
                tracing::warn!(error = %e, "could not read the session before the webhook's plaid read")
            }
        }
    }
    // The webhook carries no status: Plaid's /get is the truth. The snapshot is stamped with the
    // time of the request, not of the answer: a slow answer of an older state must not win.
    let now = ctx.now();
    let iv = match ctx.plaid.get(&hook.identity_verification_id).await {
        Ok(iv) => iv,
        Err(e) => {
            plaid.failed(&e);
            if e.is_retryable() || e.is_invalid_api_keys() || e.status().is_none() {
                return Err(ApiError::PlaidUnavailable {
                    retry_after: std::time::Duration::from_secs(30),
                });
            }
            // Plaid refuses to show this session to us (another environment's or client's):
            // retrying cannot help.
            tracing::warn!(error = %e, "plaid does not know the webhook's session; ignored");
            return Ok(WebhookOutcome::UnknownSession);
        }
    };
    plaid.answered(iv.request_id.as_deref());
    let named = record_snapshot(ctx, &iv, now).await?;

    if hook.webhook_code == WebhookCode::Retried {
        // Plaid does not say whether RETRIED names the old attempt or the new one: record every
        // attempt newer than the one named, so the new attempt is linked either way.
        let attempts = plaid_attempts(ctx, &iv.client_user_id, &iv.template.id)
            .await
            .inspect_err(|e| plaid.failed(e))?;
        // Every attempt from the named one's second on, each once. (Walking "the next newer"
        // one by one looped forever when two attempts shared Plaid's whole-second created_at;
        // recording an older same-second attempt again is harmless: it is Plaid's own state.)
        for newer in attempts
            .iter()
            .filter(|a| not_older_than(*a, &iv.id, iv.created_at))
        {
            record_snapshot(ctx, newer, now).await?;
        }
    }
    Ok(WebhookOutcome::Recorded(named))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_token_signed_well_before_the_last_read_carries_no_news() {
        let read = Utc.timestamp_opt(1_750_000_100, 250_000_000).unwrap();
        // Signed after the read, at it, or within the skew before it: may announce a change
        // the read did not see.
        for iat in [1_750_000_200, 1_750_000_100, 1_750_000_095] {
            assert!(may_carry_news(iat, read), "{iat}");
        }
        // Signed more than the skew before the read was sent: the read saw it.
        for iat in [1_750_000_094, 1_750_000_000, i64::MIN] {
            assert!(!may_carry_news(iat, read), "{iat}");
        }
        assert!(may_carry_news(i64::MAX, read));
    }
}
