//! Starting a verification: start, resume or retry the caller's session (see
//! `session::lifecycle::decide_start`), with the Plaid and store I/O around the decision.

use super::plaid_calls::PlaidCalls;
use super::sync::{plaid_attempts, record_snapshot, repair_review};
use crate::context::AppContext;
use crate::http::{ApiError, ErrorCode};
use crate::ids::{ClientUserId, IdvId, TemplateId};
use crate::plaid::types::{CreateRequest, IdentityVerification, RequestUser, RetryRequest};
use crate::session::SessionRecord;
use crate::session::attempt_order::newer_than;
use crate::session::lifecycle::{StartDecision, decide_start, retry_strategy};
use crate::store::{InsertOutcome, SessionStore};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// What a start needs besides the caller and template.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub prefill: Option<RequestUser>,
    pub is_shareable: bool,
    pub gave_consent: bool,
}

/// What a start did, for the answer's status and for counting starts by outcome. Refusals
/// (attempt budget, a concurrent start holding the retry) are errors, not outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    /// This start made the user's first session for the template (Plaid `/create`).
    Created,
    /// This start made a new attempt after a finished one: Plaid `/retry`, or a retry an earlier
    /// start made that reached Plaid but not our table, found and recorded instead of billing
    /// another.
    Retried,
    /// An unfinished session handed back: the stored one, Plaid's existing one for an idempotent
    /// create, or the one a concurrent start just made.
    Resumed,
    /// The user is verified already; the successful session handed back.
    AlreadyVerified,
}

impl StartOutcome {
    /// This start made a session (answered 201), rather than handing back one (200).
    pub fn made_session(self) -> bool {
        matches!(self, StartOutcome::Created | StartOutcome::Retried)
    }
}

#[derive(Debug)]
pub struct Started {
    pub record: SessionRecord,
    pub outcome: StartOutcome,
    pub shareable_url: Option<String>,
}

/// How long one start may hold the right to call `/retry` after a session.
const RETRY_CLAIM: chrono::Duration = chrono::Duration::seconds(15);

/// The lifecycle of a start (see `session::lifecycle::decide_start`), with the I/O around it.
pub async fn start_session<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
    opts: &StartOptions,
    plaid: &mut PlaidCalls,
) -> Result<Started, ApiError> {
    let latest = match ctx.store.latest_for(user, template).await? {
        Some(r) => Some(repair_review(ctx, r).await),
        None => None,
    };
    match decide_start(latest, ctx.now()) {
        StartDecision::Resume(record) => Ok(Started {
            record,
            outcome: StartOutcome::Resumed,
            shareable_url: None,
        }),
        StartDecision::AlreadyVerified(record) => Ok(Started {
            record,
            outcome: StartOutcome::AlreadyVerified,
            shareable_url: None,
        }),
        StartDecision::Create => create(ctx, user, template, opts, plaid).await,
        StartDecision::Retry(previous) => {
            retry_after(ctx, user, template, opts, previous, plaid).await
        }
    }
}

fn check_owner(
    iv: &IdentityVerification,
    user: &ClientUserId,
    template: &TemplateId,
) -> Result<(), ApiError> {
    if &iv.client_user_id != user || &iv.template.id != template {
        tracing::error!(idv_id = %iv.id, "plaid returned a session for another user or template");
        return Err(ApiError::PlaidFailed);
    }
    Ok(())
}

async fn create<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
    opts: &StartOptions,
    plaid: &mut PlaidCalls,
) -> Result<Started, ApiError> {
    // Idempotent: concurrent starts, and a start after one whose write to our table failed,
    // all get Plaid's one session for (user, template) back. Stamped before the request (see
    // `record_snapshot`).
    let now = ctx.now();
    let iv = ctx
        .plaid
        .create(&CreateRequest {
            client_user_id: user.clone(),
            template_id: template.clone(),
            gave_consent: opts.gave_consent,
            is_shareable: opts.is_shareable,
            is_idempotent: true,
            user: opts.prefill.clone(),
        })
        .await
        .inspect_err(|e| plaid.failed(e))?;
    plaid.answered(iv.request_id.as_deref());
    check_owner(&iv, user, template)?;
    let fresh = SessionRecord::from_plaid(&iv, now, ctx.config.session_ttl);
    let (record, created) = match ctx.store.insert(&fresh).await? {
        InsertOutcome::Inserted => (fresh, true),
        InsertOutcome::AlreadyExists(_) => (record_snapshot(ctx, &iv, now).await?, false),
    };
    // Plaid hands back an existing session to an idempotent create, and it may be over already
    // (made in the Dashboard, or one our table lost): then this start is a retry.
    match decide_start(Some(record.clone()), now) {
        StartDecision::Retry(previous) => {
            Box::pin(retry_after(ctx, user, template, opts, previous, plaid)).await
        }
        decision => Ok(Started {
            record,
            outcome: match decision {
                _ if created => StartOutcome::Created,
                StartDecision::AlreadyVerified(_) => StartOutcome::AlreadyVerified,
                _ => StartOutcome::Resumed,
            },
            shareable_url: iv.shareable_url,
        }),
    }
}

async fn retry_after<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
    opts: &StartOptions,
    mut previous: SessionRecord,
    plaid: &mut PlaidCalls,
) -> Result<Started, ApiError> {
    let now = ctx.now();
    let until = now + RETRY_CLAIM;
    // Past the budget every concurrent start is told so at once, without a Plaid call.
    check_attempt_budget(ctx, user, template, now).await?;
    // Each /retry call bills a new session, so only one concurrent start may make it.
    if !ctx.store.claim_retry(&previous.id, until, now).await? {
        return wait_for_other_start(ctx, user, template, &previous).await;
    }
    // Counted again under the claim: the count the retry is made on is one no other start can
    // change before this one records its attempt (see `check_attempt_budget`).
    if let Err(e) = check_attempt_budget(ctx, user, template, now).await {
        release_claim(ctx, &previous.id, until).await;
        return Err(e);
    }
    // A retry we issued before may have reached Plaid but not our table: find and record it
    // instead of billing another.
    let attempts = plaid_attempts(ctx, user, template)
        .await
        .inspect_err(|e| plaid.failed(e))?;
    if let Some(newer) = newer_than(&attempts, &previous.id, previous.created_at) {
        let record = record_snapshot(ctx, newer, now).await?;
        match decide_start(Some(record.clone()), now) {
            StartDecision::Retry(p) => {
                if !ctx.store.claim_retry(&p.id, until, now).await? {
                    return wait_for_other_start(ctx, user, template, &p).await;
                }
                // The adopted attempt now counts: it may have used the last of the budget.
                if let Err(e) = check_attempt_budget(ctx, user, template, now).await {
                    release_claim(ctx, &p.id, until).await;
                    return Err(e);
                }
                previous = p;
            }
            _ => {
                return Ok(Started {
                    record,
                    outcome: StartOutcome::Retried,
                    shareable_url: None,
                });
            }
        }
    }
    let sent_at = ctx.now();
    let iv = ctx
        .plaid
        .retry(&RetryRequest {
            client_user_id: user.clone(),
            template_id: template.clone(),
            strategy: retry_strategy(&previous),
            steps: None,
            user: opts.prefill.clone(),
            is_shareable: opts.is_shareable.then_some(true),
        })
        .await;
    let iv = match iv {
        Ok(iv) => iv,
        Err(e) => {
            plaid.failed(&e);
            // A 4xx (429 included) means Plaid made nothing: give the claim back so the
            // caller's next start can retry at once. After a 5xx, a timeout or a lost answer
            // the retry may exist: the claim stays until it lapses, and the next start adopts
            // that attempt through /list instead of billing another.
            if e.status().is_some_and(|s| (400..500).contains(&s)) {
                release_claim(ctx, &previous.id, until).await;
            }
            return Err(e.into());
        }
    };
    plaid.answered(iv.request_id.as_deref());
    check_owner(&iv, user, template)?;
    let mut record = SessionRecord::from_plaid(&iv, sent_at, ctx.config.session_ttl);
    if record.previous_attempt_id.is_none() {
        record.previous_attempt_id = Some(previous.id.clone());
    }
    if let InsertOutcome::AlreadyExists(existing) = ctx.store.insert(&record).await? {
        // The webhook for the new attempt beat us to it.
        record = existing;
    }
    Ok(Started {
        record,
        outcome: StartOutcome::Retried,
        shareable_url: iv.shareable_url,
    })
}

async fn release_claim<S: SessionStore>(ctx: &AppContext<S>, id: &IdvId, until: DateTime<Utc>) {
    let _ = ctx
        .store
        .release_retry(id, until)
        .await
        .inspect_err(|err| tracing::warn!(error = %err, "could not release a retry claim"));
}

/// The budget of billed attempts: at most `MAX_ATTEMPTS_PER_DAY` sessions per user and template
/// with a Plaid `created_at` in the last 24 hours, counted from our table (the user+template
/// index, newest first). Past it: 429 `attempt_limit_reached`, `Retry-After` = the seconds until
/// enough of them leave the window for one more.
///
/// Concurrency. Only a retry can be refused: a create happens only when the table holds no
/// session for (user, template), so its count is zero, and Plaid's idempotent create makes one
/// session for any number of concurrent creates. Retries are serialized by the retry claim on
/// the newest session: the holder counts again under the claim and records its new attempt
/// before anyone else can retry, because the next retry must come after that new (newest)
/// session, which is active and so is resumed, not retried. So two concurrent starts cannot
/// both pass the cap. An attempt Plaid made whose write to our table was lost is adopted through
/// `/list` (not billed again) and counted again once recorded; only that one `/list` call can
/// happen past the cap in that case.
async fn check_attempt_budget<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let max = ctx.config.max_attempts_per_day;
    let recent = ctx
        .store
        .attempts_since(user, template, now - ATTEMPT_WINDOW, max)
        .await?;
    if recent.len() < max as usize {
        return Ok(());
    }
    // Newest first: the `max`-th newest must leave the window before one more fits.
    let frees_at = recent[max as usize - 1] + ATTEMPT_WINDOW;
    let wait = (frees_at - now).num_seconds().max(1);
    Err(ApiError::AttemptLimit {
        retry_after: Duration::from_secs(wait as u64),
    })
}

/// The rolling window of `MAX_ATTEMPTS_PER_DAY`.
const ATTEMPT_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Another start holds the retry claim: wait briefly for its new session, else ask the caller
/// to come back.
async fn wait_for_other_start<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
    previous: &SessionRecord,
) -> Result<Started, ApiError> {
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(latest) = ctx.store.latest_for(user, template).await?
            && latest.id != previous.id
        {
            return Ok(Started {
                record: latest,
                outcome: StartOutcome::Resumed,
                shareable_url: None,
            });
        }
    }
    Err(ApiError::Conflict {
        code: ErrorCode::StartInProgress,
        message: "another start for this user is in progress; retry shortly",
        retry_after: Some(Duration::from_secs(2)),
    })
}
