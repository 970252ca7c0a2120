//! Recording what a verified identity verification webhook is about: the webhook carries no
//! status, so the named session is re-read from Plaid and recorded, and after `RETRIED` every
//! attempt not older than it too.

use super::plaid_calls::PlaidCalls;
use super::sync::{plaid_attempts, record_snapshot};
use crate::context::AppContext;
use crate::http::ApiError;
use crate::plaid::types::{IdvWebhook, WebhookCode};
use crate::session::SessionRecord;
use crate::session::attempt_order::not_older_than;
use crate::store::SessionStore;

/// What a webhook did, for the answer and for counting webhooks by outcome.
#[derive(Debug)]
pub enum WebhookOutcome {
    /// The named session, as it now stands in the store.
    Recorded(SessionRecord),
    /// Plaid refuses to show the named session to us (another environment's or client's):
    /// nothing recorded, and retrying cannot help.
    UnknownSession,
}

/// Re-read the session `hook` names and record it (and, for `RETRIED`, the newer attempts).
/// Plaid unreachable, or refusing our keys, is a 503 so that Plaid delivers again.
pub async fn record_webhook<S: SessionStore>(
    ctx: &AppContext<S>,
    hook: &IdvWebhook,
    plaid: &mut PlaidCalls,
) -> Result<WebhookOutcome, ApiError> {
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
