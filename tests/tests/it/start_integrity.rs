//! Issue #23, the start's share of "decision integrity, second pass": a start decides on Plaid's
//! word, not on a stale record (a review resumes, a success answers as verified, only a truly
//! unfinished or failed attempt is retried), and an attempt Plaid made is never lost with its
//! answer (adopted through `/list` by the same start, or by reconcile once the retry claim has
//! lapsed). Real handlers, DynamoDB on moto, Plaid played by the emulator; Plaid calls are
//! counted from the emulator's request log.

use chrono::Duration;
use shared::flows::reconcile::LAPSED_CLAIM_GRACE;
use shared::flows::sync::plaid_attempts;
use shared::ids::{ClientUserId, IdvId, TemplateId};
use shared::plaid::types::IdvStatus;
use shared::store::{DynamoStore, SessionStore};
use testkit::apigw::{Answer, ApiEvent};
use testkit::emulator::FinishOutcome;
use testkit::emulator::endpoints::{IDV_LIST as LIST, IDV_RETRY as RETRY};
use testkit::faulty_store::{FaultKind, FaultyStore, Op};
use testkit::stack::{Stack, TEMPLATE};

/// Past the app window (two days by default).
const PAST_WINDOW: i64 = 172_801;

/// Longer than the start's retry claim (15 s) plus the grace reconcile gives it.
fn past_the_claim() -> Duration {
    Duration::seconds(16) + LAPSED_CLAIM_GRACE
}

async fn start<S: SessionStore>(s: &Stack<S>, user: &str) -> Answer {
    s.call(ApiEvent::post_sessions().user(user)).await
}

/// A session whose result reached Plaid while every webhook about it was lost: our table still
/// says `active`, read long ago.
async fn finished_unheard<S: SessionStore>(
    s: &Stack<S>,
    user: &str,
    outcome: FinishOutcome,
) -> String {
    let a = start(s, user).await;
    assert_eq!(a.status, 201, "{}", a.json);
    let id = a.json["id"].as_str().unwrap().to_owned();
    s.emulator.finish(&id, Some(outcome), None).await.unwrap();
    assert!(!s.take_new_webhooks().is_empty(), "the lost webhooks fired");
    assert_eq!(s.stored(&id).await.unwrap().status, IdvStatus::Active);
    id
}

/// Every attempt Plaid holds for `user` (default template), as Plaid lists them.
async fn plaid_ids<S: SessionStore>(s: &Stack<S>, user: &str) -> Vec<String> {
    let u = ClientUserId::parse(user).unwrap();
    let t = TemplateId::parse(TEMPLATE).unwrap();
    plaid_attempts(&s.ctx, &u, &t)
        .await
        .expect("plaid list")
        .into_iter()
        .map(|iv| iv.id.to_string())
        .collect()
}

#[tokio::test]
async fn a_stale_active_record_in_review_at_plaid_resumes_without_a_retry() {
    let s = Stack::start().await;
    let id = finished_unheard(&s, "ria", FinishOutcome::PendingReview).await;
    // Past the app window, reconcile not run yet: the record says an abandoned `active`.
    s.clock.advance(Duration::seconds(PAST_WINDOW));
    let a = start(&s, "ria").await;
    assert_eq!(
        (a.status, a.json["id"].as_str(), a.json["status"].as_str()),
        (200, Some(id.as_str()), Some("pending_review")),
        "the person in review is resumed, not retried: {}",
        a.json
    );
    assert_eq!(
        s.emulator.request_count(RETRY),
        0,
        "the review was not wiped"
    );
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        IdvStatus::PendingReview,
        "Plaid's word is recorded"
    );
    // Decided from the table now: no further Plaid call.
    let lists = s.emulator.request_count(LIST);
    let again = start(&s, "ria").await;
    assert_eq!(
        (again.status, again.json["id"].as_str()),
        (200, Some(id.as_str()))
    );
    assert_eq!(s.emulator.request_count(LIST), lists);
    assert_eq!(s.emulator.request_count(RETRY), 0);
}

#[tokio::test]
async fn a_stale_active_record_verified_at_plaid_answers_verified_without_a_retry() {
    let s = Stack::start().await;
    let id = finished_unheard(&s, "sol", FinishOutcome::Success).await;
    s.clock.advance(Duration::seconds(PAST_WINDOW));
    let a = start(&s, "sol").await;
    assert_eq!(
        (a.status, a.json["id"].as_str(), a.json["status"].as_str()),
        (200, Some(id.as_str()), Some("success")),
        "already verified, nothing billed: {}",
        a.json
    );
    assert_eq!(
        s.emulator.request_count(RETRY),
        0,
        "no retry over a success"
    );
    assert_eq!(plaid_ids(&s, "sol").await, [id.as_str()]);
    assert_eq!(s.stored(&id).await.unwrap().status, IdvStatus::Success);
}

#[tokio::test]
async fn a_stale_record_truly_unfinished_or_failed_at_plaid_is_retried_once() {
    let s = Stack::start().await;
    // Truly unfinished: the person walked away; Plaid still says active.
    let open = start(&s, "tia").await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Failed at Plaid, the webhook lost.
    let failed = finished_unheard(&s, "uli", FinishOutcome::Failed).await;
    s.clock.advance(Duration::seconds(PAST_WINDOW));
    for (user, previous) in [("tia", &open), ("uli", &failed)] {
        let a = start(&s, user).await;
        assert_eq!(a.status, 201, "{user}: {}", a.json);
        assert_eq!(a.json["previous_attempt_id"], previous.as_str(), "{user}");
    }
    assert_eq!(s.emulator.request_count(RETRY), 2, "one billed retry each");
    assert_eq!(s.stored(&failed).await.unwrap().status, IdvStatus::Failed);
}

#[tokio::test]
async fn concurrent_starts_on_a_stale_record_in_review_all_resume_it() {
    let s = Stack::start().await;
    let id = finished_unheard(&s, "vera", FinishOutcome::PendingReview).await;
    s.clock.advance(Duration::seconds(PAST_WINDOW));
    let go = || start(&s, "vera");
    let (a, b, c, d) = tokio::join!(go(), go(), go(), go());
    for x in [&a, &b, &c, &d] {
        assert_eq!(
            (x.status, x.json["id"].as_str(), x.json["status"].as_str()),
            (200, Some(id.as_str()), Some("pending_review")),
            "{}",
            x.json
        );
    }
    assert_eq!(s.emulator.request_count(RETRY), 0);
}

#[tokio::test]
async fn the_attempt_budget_never_refuses_a_person_in_review_and_costs_one_read_when_unfinished() {
    // An app window shorter than the budget's 24 hours, so the first attempt still counts.
    let s = Stack::builder()
        .var("MAX_ATTEMPTS_PER_DAY", "1")
        .var("SESSION_TTL_SECONDS", "600")
        .start()
        .await;
    let review = finished_unheard(&s, "wim", FinishOutcome::PendingReview).await;
    let open = start(&s, "xan").await.json["id"]
        .as_str()
        .unwrap()
        .to_owned();
    s.clock.advance(Duration::seconds(601));

    let a = start(&s, "wim").await;
    assert_eq!(
        (a.status, a.json["id"].as_str(), a.json["status"].as_str()),
        (200, Some(review.as_str()), Some("pending_review")),
        "in review, not out of attempts: {}",
        a.json
    );

    // Truly unfinished and the budget spent: refused after one read of Plaid's word...
    let lists = s.emulator.request_count(LIST);
    let b = start(&s, "xan").await;
    assert_eq!(
        (b.status, b.error_code()),
        (429, "attempt_limit_reached"),
        "{}",
        b.json
    );
    assert_eq!(s.emulator.request_count(LIST), lists + 1);
    // ...and while that read is fresh, at once and without one.
    for _ in 0..3 {
        let again = start(&s, "xan").await;
        assert_eq!(
            again.error_code(),
            "attempt_limit_reached",
            "{}",
            again.json
        );
    }
    assert_eq!(s.emulator.request_count(LIST), lists + 1);
    assert_eq!(s.emulator.request_count(RETRY), 0);
    assert_eq!(s.stored(&open).await.unwrap().status, IdvStatus::Active);
}

/// A session for `user` that failed, with the failure recorded: the next start is a retry.
async fn failed_session<S: SessionStore>(s: &Stack<S>, user: &str) -> String {
    let a = start(s, user).await;
    assert_eq!(a.status, 201, "{}", a.json);
    let id = a.json["id"].as_str().unwrap().to_owned();
    for a in s.finish_and_deliver(&id, FinishOutcome::Failed).await {
        assert_eq!(a.status, 200, "{}", a.json);
    }
    id
}

/// Lapsed claims reconcile would still look at, as it would look a day from now.
async fn claims_left(store: &DynamoStore, s: &Stack<impl SessionStore>) -> usize {
    store
        .lapsed_retry_claims(s.clock_now() + Duration::days(1), 100)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_retry_whose_answer_is_lost_is_adopted_by_the_same_start() {
    let s = Stack::builder().drop_proxy().start().await;
    let first = failed_session(&s, "yara").await;
    // Plaid makes (and bills) the attempt; its answer never arrives.
    s.proxy.as_ref().unwrap().drop_answers(RETRY, 1);
    let a = start(&s, "yara").await;
    assert_eq!(
        s.proxy.as_ref().unwrap().dropped(),
        1,
        "the answer was dropped"
    );
    assert_eq!(a.status, 201, "the attempt, not a 502 or a 409: {}", a.json);
    let id = a.json["id"].as_str().unwrap().to_owned();
    assert_ne!(id, first);
    assert_eq!(a.json["previous_attempt_id"], first.as_str());
    assert_eq!(s.emulator.request_count(RETRY), 1, "billed once");
    assert_eq!(plaid_ids(&s, "yara").await.len(), 2);
    assert!(s.stored(&id).await.is_some(), "recorded");
    // The next start resumes it, without a claim to wait for.
    let again = start(&s, "yara").await;
    assert_eq!(
        (again.status, again.json["id"].as_str()),
        (200, Some(id.as_str()))
    );
    assert_eq!(s.emulator.request_count(RETRY), 1);
    assert_eq!(
        claims_left(&s.ctx.store, &s).await,
        0,
        "nothing left for reconcile"
    );
}

#[tokio::test]
async fn reconcile_adopts_an_attempt_whose_answer_was_lost_when_the_person_never_returns() {
    let s: Stack<FaultyStore<DynamoStore>> = Stack::builder()
        .drop_proxy()
        .start_with_store(FaultyStore::new)
        .await;
    let first = failed_session(&s, "zed").await;
    // Plaid makes the attempt; its answer is lost, and so is the start's write of the attempt
    // it then finds (the instance may as well have been killed).
    s.proxy.as_ref().unwrap().drop_answers(RETRY, 1);
    s.ctx
        .store
        .fail(Op::SaveSnapshot, FaultKind::Unavailable, 1);
    let a = start(&s, "zed").await;
    assert!(a.status >= 500, "{} {}", a.status, a.json);
    assert_eq!(
        s.ctx.store.failures(Op::SaveSnapshot),
        1,
        "the adoption was tried"
    );
    // Plaid's RETRIED webhook is lost too, and the person never comes back.
    s.take_new_webhooks();
    let plaid = plaid_ids(&s, "zed").await;
    assert_eq!(plaid.len(), 2);
    let made = plaid.iter().find(|i| **i != first).unwrap().clone();
    assert!(s.stored(&made).await.is_none(), "not in our table yet");

    // While the claim may still be its holder's, reconcile leaves it.
    let early = s.reconcile().await;
    assert_eq!(early.lapsed_claims, 0, "{early:?}");
    assert!(s.stored(&made).await.is_none());

    s.clock.advance(past_the_claim());
    let report = s.reconcile().await;
    assert_eq!((report.lapsed_claims, report.adopted), (1, 1), "{report:?}");
    let adopted = s
        .stored(&made)
        .await
        .expect("reconcile recorded the attempt");
    assert_eq!(
        adopted.previous_attempt_id,
        Some(IdvId::parse(&first).unwrap())
    );
    assert_eq!(adopted.status, IdvStatus::Active);
    assert_eq!(
        claims_left(s.ctx.store.inner(), &s).await,
        0,
        "the claim is cleared"
    );
    assert_eq!(s.emulator.request_count(RETRY), 1, "billed once");
    let again = s.reconcile().await;
    assert_eq!(again.lapsed_claims, 0, "{again:?}");
    // A person who does come back gets that attempt, not a new one.
    let back = start(&s, "zed").await;
    assert_eq!(
        (back.status, back.json["id"].as_str()),
        (200, Some(made.as_str())),
        "{}",
        back.json
    );
    assert_eq!(s.emulator.request_count(RETRY), 1);
}

#[tokio::test]
async fn reconcile_clears_a_lapsed_claim_when_plaid_made_no_attempt() {
    let s = Stack::start().await;
    let first = failed_session(&s, "abe").await;
    let id = IdvId::parse(&first).unwrap();
    // An instance took the claim and was killed before it called Plaid.
    let now = s.clock_now();
    assert!(
        s.ctx
            .store
            .claim_retry(&id, now + Duration::seconds(15), now)
            .await
            .unwrap()
    );
    s.clock.advance(past_the_claim());
    let lists = s.emulator.request_count(LIST);
    let report = s.reconcile().await;
    assert_eq!((report.lapsed_claims, report.adopted), (1, 0), "{report:?}");
    assert_eq!(s.emulator.request_count(LIST), lists + 1);
    assert_eq!(claims_left(&s.ctx.store, &s).await, 0);
    // The person's next start retries as usual, once.
    let a = start(&s, "abe").await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(s.emulator.request_count(RETRY), 1);
}
