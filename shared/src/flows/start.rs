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
use crate::session::lifecycle::{StartDecision, decide_start, needs_refresh, retry_strategy};
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
    /// The `Outcome` dimension of the `Starts` metric.
    pub const fn as_str(self) -> &'static str {
        match self {
            StartOutcome::Created => "created",
            StartOutcome::Resumed => "resumed",
            StartOutcome::Retried => "retried",
            StartOutcome::AlreadyVerified => "already_verified",
        }
    }

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
        // Boxed: the retry path holds the most state across its awaits (Plaid's list of
        // attempts, the records), and every start's future would otherwise carry it inline.
        StartDecision::Retry(previous) => {
            Box::pin(retry_after(ctx, user, template, opts, previous, plaid)).await
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
    previous: SessionRecord,
    plaid: &mut PlaidCalls,
) -> Result<Started, ApiError> {
    let now = ctx.now();
    let until = now + RETRY_CLAIM;
    // A final session cannot change at Plaid, and an unfinished one read from Plaid within the
    // freshness window is as Plaid has it: the budget alone decides, and past it every
    // concurrent start is told so at once, without a Plaid call. An unfinished session past the
    // app window whose last read is older (its webhooks lost, or late behind the webhook
    // route's throttle) may be finished at Plaid: a retry would wipe a review or bill over a
    // success, and a refusal would tell a person in review that they used up their attempts.
    // Plaid's word on it comes first, under the claim (one `/list` per freshness window per
    // user, as the read is recorded).
    let stale = needs_refresh(&previous, now, ctx.config.freshness_window);
    if !stale {
        check_attempt_budget(ctx, user, template, now).await?;
    }
    // Each /retry call bills a new session, so only one concurrent start may make it.
    if !ctx.store.claim_retry(&previous.id, until, now).await? {
        return wait_for_other_start(ctx, user, template, &previous).await;
    }
    let mut held = previous.id.clone();
    let claim = Claim { now, until, stale };
    let (result, end) =
        retry_claimed(ctx, user, template, opts, previous, claim, &mut held, plaid).await;
    end_claim(ctx, &held, until, end).await;
    result
}

/// The retry claim a start holds: taken at `now`, until `until`, on a session that was `stale`.
#[derive(Clone, Copy)]
struct Claim {
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    stale: bool,
}

/// What becomes of the retry claim when the start holding it is done (see the store docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClaimEnd {
    /// No retry was made: give it back, so the next start need not wait for it to lapse.
    Release,
    /// The new attempt is in our table: out of reconcile's sight. The claim itself lapses, so
    /// concurrent starts still wait for the holder's session as before.
    Settle,
    /// Plaid may have made an attempt we could not record (or the claim is not ours): left for
    /// the next start or reconcile to adopt through `/list` once it lapses.
    Keep,
}

/// The retry under the claim on `held` (which this moves to the adopted attempt when that one
/// needs a retry in turn). Every way out says what becomes of the claim; `retry_after` applies
/// it in one place.
#[allow(clippy::too_many_arguments)]
async fn retry_claimed<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
    opts: &StartOptions,
    mut previous: SessionRecord,
    claim: Claim,
    held: &mut IdvId,
    plaid: &mut PlaidCalls,
) -> (Result<Started, ApiError>, ClaimEnd) {
    use ClaimEnd::{Keep, Release, Settle};
    let Claim { now, until, stale } = claim;
    // Counted again under the claim: the count the retry is made on is one no other start can
    // change before this one records its attempt (see `check_attempt_budget`). A stale session
    // is counted once Plaid has said whether it needs a retry at all.
    if !stale && let Err(e) = check_attempt_budget(ctx, user, template, now).await {
        return (Err(e), Release);
    }
    // One `/list` tells both whether a retry we issued before reached Plaid but not our table
    // (found and recorded instead of billing another) and where the session itself stands.
    let attempts = match plaid_attempts(ctx, user, template).await {
        Ok(attempts) => attempts,
        Err(e) => {
            plaid.failed(&e);
            return (Err(e.into()), Release);
        }
    };
    let mut recount = stale;
    let current = match newer_than(&attempts, &previous.id, previous.created_at) {
        Some(newer) => Some((newer, true)),
        None if stale => attempts
            .iter()
            .find(|a| a.id == previous.id)
            .map(|a| (a, false)),
        None => None,
    };
    if let Some((iv, adopted)) = current {
        let record = match record_snapshot(ctx, iv, now).await {
            Ok(record) => record,
            // An adopted attempt not recorded stays findable through the claim.
            Err(e) => return (Err(e.into()), if adopted { Keep } else { Release }),
        };
        match decide_start(Some(record.clone()), now) {
            // Truly unfinished past the app window, or failed, expired or canceled: a retry
            // after it.
            StartDecision::Retry(p) if adopted => {
                // The claimed session's outcome is recorded; the retry now comes after `p`.
                end_claim(ctx, held, until, Settle).await;
                match ctx.store.claim_retry(&p.id, until, now).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return (wait_for_other_start(ctx, user, template, &p).await, Keep);
                    }
                    Err(e) => return (Err(e.into()), Keep),
                }
                // The adopted attempt now counts: it may have used the last of the budget.
                *held = p.id.clone();
                recount = true;
                previous = p;
            }
            StartDecision::Retry(p) => previous = p,
            decision => {
                let outcome = match decision {
                    _ if adopted => StartOutcome::Retried,
                    StartDecision::AlreadyVerified(_) => StartOutcome::AlreadyVerified,
                    _ => StartOutcome::Resumed,
                };
                let started = Started {
                    record,
                    outcome,
                    shareable_url: None,
                };
                return (Ok(started), if adopted { Settle } else { Release });
            }
        }
    }
    if recount && let Err(e) = check_attempt_budget(ctx, user, template, now).await {
        return (Err(e), Release);
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
            // caller's next start can retry at once.
            if e.status().is_some_and(|s| (400..500).contains(&s)) {
                return (Err(e.into()), Release);
            }
            // After a 5xx, a timeout or a lost answer the retry may exist: look for it at once,
            // so the person gets the attempt they were billed for now rather than a conflict
            // until the claim lapses. Not found (Plaid may still be working on it, or `/list`
            // failed too): the claim stays until it lapses, and the next start or reconcile
            // adopts the attempt through `/list` instead of billing another.
            return match adopt_lost_retry(ctx, user, template, &previous).await {
                Some(record) => {
                    let started = Started {
                        record,
                        outcome: StartOutcome::Retried,
                        shareable_url: None,
                    };
                    (Ok(started), Settle)
                }
                None => (Err(e.into()), Keep),
            };
        }
    };
    plaid.answered(iv.request_id.as_deref());
    if let Err(e) = check_owner(&iv, user, template) {
        return (Err(e), Keep);
    }
    let mut record = SessionRecord::from_plaid(&iv, sent_at, ctx.config.session_ttl);
    if record.previous_attempt_id.is_none() {
        record.previous_attempt_id = Some(previous.id.clone());
    }
    match ctx.store.insert(&record).await {
        Ok(InsertOutcome::Inserted) => {}
        // The webhook for the new attempt beat us to it.
        Ok(InsertOutcome::AlreadyExists(existing)) => record = existing,
        Err(e) => return (Err(e.into()), Keep),
    }
    let started = Started {
        record,
        outcome: StartOutcome::Retried,
        shareable_url: iv.shareable_url,
    };
    (Ok(started), Settle)
}

/// Apply what became of a claim. A failure is logged, not answered: a claim not released
/// lapses in 15 s, one not settled costs reconcile one `/list` once it lapses.
async fn end_claim<S: SessionStore>(
    ctx: &AppContext<S>,
    id: &IdvId,
    until: DateTime<Utc>,
    end: ClaimEnd,
) {
    let done = match end {
        ClaimEnd::Release => ctx.store.release_retry(id, until).await,
        ClaimEnd::Settle => ctx.store.settle_retry(id, until).await,
        ClaimEnd::Keep => return,
    };
    if let Err(err) = done {
        tracing::warn!(error = %err, ?end, "could not end a retry claim");
    }
}

/// The attempt Plaid made after `previous` whose `/retry` answer was lost, found through
/// `/list` and recorded; `None` if Plaid shows none (or could not be asked, or the write
/// failed: the claim then stays for the next start or reconcile).
async fn adopt_lost_retry<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
    previous: &SessionRecord,
) -> Option<SessionRecord> {
    let listed_at = ctx.now();
    let attempts = plaid_attempts(ctx, user, template)
        .await
        .inspect_err(|e| tracing::warn!(error = %e, "could not list attempts after a failed retry"))
        .ok()?;
    let newer = newer_than(&attempts, &previous.id, previous.created_at)?;
    record_snapshot(ctx, newer, listed_at)
        .await
        .inspect_err(|e| tracing::warn!(idv_id = %newer.id, error = %e, "could not record a retry whose answer was lost"))
        .ok()
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

/// Another start holds the retry claim: wait briefly for its new session (or for it to find the
/// session in review or verified at Plaid), else ask the caller to come back.
async fn wait_for_other_start<S: SessionStore>(
    ctx: &AppContext<S>,
    user: &ClientUserId,
    template: &TemplateId,
    previous: &SessionRecord,
) -> Result<Started, ApiError> {
    for _ in 0..10 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let Some(latest) = ctx.store.latest_for(user, template).await? else {
            continue;
        };
        if latest.id != previous.id {
            return Ok(Started {
                record: latest,
                outcome: StartOutcome::Resumed,
                shareable_url: None,
            });
        }
        // The holder learned from Plaid that the session is in review or verified, recorded
        // it, and made no retry.
        match decide_start(Some(latest), ctx.now()) {
            StartDecision::Resume(record) => {
                return Ok(Started {
                    record,
                    outcome: StartOutcome::Resumed,
                    shareable_url: None,
                });
            }
            StartDecision::AlreadyVerified(record) => {
                return Ok(Started {
                    record,
                    outcome: StartOutcome::AlreadyVerified,
                    shareable_url: None,
                });
            }
            StartDecision::Create | StartDecision::Retry(_) => {}
        }
    }
    Err(ApiError::Conflict {
        code: ErrorCode::StartInProgress,
        message: "another start for this user is in progress; retry shortly",
        retry_after: Some(Duration::from_secs(2)),
    })
}
