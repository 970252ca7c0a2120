//! Issue #12, "Decision integrity": a session in review waits for the reviewer, Plaid's full
//! result is for reviewers only, a budget of billed attempts, a cool-down on live Plaid reads,
//! and the ordering of racing reads. Real handlers, DynamoDB on moto, Plaid played by the
//! emulator; Plaid calls are counted from the emulator's request log.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::plaid::types::IdvStatus;
use shared::store::SessionStore;
use testkit::apigw::ApiEvent;
use testkit::emulator::FinishOutcome;
use testkit::emulator::endpoints::{
    IDV_CREATE as CREATE, IDV_GET as GET, IDV_RETRY as RETRY, LINK_TOKEN_CREATE as LINK,
};
use testkit::stack::Stack;

/// Past the app window (two days by default).
const PAST_WINDOW: i64 = 172_801;

async fn in_review(s: &Stack, user: &str) -> String {
    let id = s.start_session(user).await;
    for a in s
        .finish_and_deliver(&id, FinishOutcome::PendingReview)
        .await
    {
        assert_eq!(a.status, 200, "{}", a.json);
    }
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        IdvStatus::PendingReview
    );
    id
}

#[tokio::test]
async fn a_session_in_review_never_app_expires() {
    let s = Stack::start().await;
    let id = in_review(&s, "rita").await;
    s.clock.advance(chrono::Duration::seconds(PAST_WINDOW));

    let got = s.call(ApiEvent::get_session(&id).user("rita")).await;
    assert_eq!(got.status, 200, "{}", got.json);
    assert_eq!(
        (got.json["status"].as_str(), got.json["final"].as_bool()),
        (Some("pending_review"), Some(false)),
        "a user waiting for the reviewer is not expired"
    );
    let before = s.emulator.requests().len();
    let start = s.call(ApiEvent::post_sessions().user("rita")).await;
    assert_eq!(
        (start.status, start.json["id"].as_str()),
        (200, Some(id.as_str())),
        "a start resumes the session in review: {}",
        start.json
    );
    assert_eq!(s.emulator.request_count(RETRY), 0, "no billed retry");
    assert_eq!(s.emulator.request_count(CREATE), 1);
    let link = s.call(ApiEvent::link_token(&id).user("rita")).await;
    assert_eq!(
        (link.status, link.error_code()),
        (409, "session_in_review"),
        "{}",
        link.json
    );
    assert_eq!(s.emulator.request_count(LINK), 0);

    // reconcile keeps re-reading it and never gives it a TTL.
    s.clock.advance(chrono::Duration::seconds(901));
    let report = s.reconcile().await;
    assert_eq!(report.app_expired, 0, "{report:?}");
    assert!(report.examined >= 1, "still in the open index: {report:?}");
    assert!(s.emulator.requests().len() > before);
    let stored = s.stored(&id).await.unwrap();
    assert_eq!(stored.ttl, None, "TTL never removes a session in review");
    assert!(in_open_index(&s, &id).await, "in the open index");
}

#[tokio::test]
async fn a_review_that_was_app_expired_before_is_repaired_when_read() {
    let s = Stack::start().await;
    let id = in_review(&s, "sam").await;
    // What the old reconcile left: Plaid's status kept, out of the open index, a TTL set.
    s.ctx
        .store
        .client()
        .update_item()
        .table_name(s.ctx.store.table())
        .key("id", AttributeValue::S(id.clone()))
        .update_expression("REMOVE open_shard SET #ttl = :ttl")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":ttl", AttributeValue::N("2000000000".into()))
        .send()
        .await
        .unwrap();
    s.clock.advance(chrono::Duration::seconds(PAST_WINDOW));
    let got = s.call(ApiEvent::get_session(&id).user("sam")).await;
    assert_eq!(got.json["status"], "pending_review", "{}", got.json);
    let stored = s.stored(&id).await.unwrap();
    assert_eq!(stored.ttl, None, "the TTL is taken off on read");
    assert!(in_open_index(&s, &id).await, "back in the open index");
    let start = s.call(ApiEvent::post_sessions().user("sam")).await;
    assert_eq!(
        (start.status, start.json["id"].as_str()),
        (200, Some(id.as_str()))
    );
}

const REVIEWER: &str = "openid idv/review";

/// The raw status, headers and body bytes of an answer (for byte-for-byte comparisons).
async fn raw(s: &Stack, e: ApiEvent) -> (u16, Option<String>, Vec<u8>) {
    let resp = s.respond(&e).await;
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = match resp.into_body() {
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    (status, ct, body)
}

#[tokio::test]
async fn another_users_session_is_404_before_any_plaid_call() {
    let s = Stack::start().await;
    let id = s.start_session("alice").await;
    let unknown = raw(
        &s,
        ApiEvent::get_session("idv_doesnotexist").user("mallory"),
    )
    .await;
    assert_eq!(unknown.0, 404);
    let before = s.emulator.requests().len();
    for e in [
        ApiEvent::get_session(&id).user("mallory"),
        ApiEvent::get_session(&id)
            .user("mallory")
            .query("refresh", "true"),
        ApiEvent::get_session(&id)
            .user("mallory")
            .query("view", "full"),
        ApiEvent::get_session(&id)
            .user("mallory")
            .query("view", "full")
            .query("refresh", "true"),
        // A scope that is not the reviewer's changes nothing.
        ApiEvent::get_session(&id)
            .user("mallory")
            .scope("openid idv/reviewers profile")
            .query("view", "full"),
    ] {
        assert_eq!(raw(&s, e.clone()).await, unknown, "{e:?}");
        assert_eq!(s.call(e).await.status, 404);
    }
    assert_eq!(
        s.emulator.requests().len(),
        before,
        "no Plaid call for another user's session"
    );
}

#[tokio::test]
async fn the_full_result_is_for_reviewers_only() {
    let s = Stack::start().await;
    let id = s.start_session("mia").await;
    s.finish_and_deliver(&id, FinishOutcome::Success).await;
    let before = s.emulator.requests().len();
    let own = s
        .call(ApiEvent::get_session(&id).user("mia").query("view", "full"))
        .await;
    assert_eq!(
        (own.status, own.error_code()),
        (403, "forbidden"),
        "{}",
        own.json
    );
    assert_eq!(s.emulator.requests().len(), before, "refused before Plaid");
    // A summary stays the owner's to read.
    let summary = s.call(ApiEvent::get_session(&id).user("mia")).await;
    assert_eq!(summary.status, 200);
    assert!(summary.json.get("result").is_none());

    // A reviewer reads anyone's session by id, full result included (audited: tests/audit.rs).
    let full = s
        .call(
            ApiEvent::get_session(&id)
                .user("rev-1")
                .scope(REVIEWER)
                .query("view", "full"),
        )
        .await;
    assert_eq!(full.status, 200, "{}", full.json);
    assert!(
        full.json["result"]["kyc_check"].is_object(),
        "{}",
        full.json
    );
    let plain = s
        .call(ApiEvent::get_session(&id).user("rev-1").scope(REVIEWER))
        .await;
    assert_eq!(
        (plain.status, plain.json["id"].as_str()),
        (200, Some(id.as_str()))
    );
    // The scope does not widen listings: a reviewer lists only their own sessions.
    let list = s
        .call(ApiEvent::list_sessions().user("rev-1").scope(REVIEWER))
        .await;
    assert_eq!(list.json["sessions"], serde_json::json!([]));
    // Nor link tokens.
    let link = s
        .call(ApiEvent::link_token(&id).user("rev-1").scope(REVIEWER))
        .await;
    assert_eq!(link.status, 404);
}

#[tokio::test]
async fn the_reviewer_scope_is_configurable() {
    let s = Stack::builder()
        .var("IDV_REVIEWER_SCOPE", "backoffice/idv")
        .start()
        .await;
    let id = s.start_session("nia").await;
    let default_scope = s
        .call(
            ApiEvent::get_session(&id)
                .user("rev-2")
                .scope(REVIEWER)
                .query("view", "full"),
        )
        .await;
    assert_eq!(default_scope.status, 404);
    let configured = s
        .call(
            ApiEvent::get_session(&id)
                .user("rev-2")
                .scope("backoffice/idv")
                .query("view", "full"),
        )
        .await;
    assert_eq!(configured.status, 200, "{}", configured.json);
}

async fn fail(s: &Stack, id: &str) {
    for a in s.finish_and_deliver(id, FinishOutcome::Failed).await {
        assert_eq!(a.status, 200, "{}", a.json);
    }
}

#[tokio::test]
async fn billed_attempts_are_capped_per_user_and_template_per_day() {
    let s = Stack::builder()
        .var("MAX_ATTEMPTS_PER_DAY", "2")
        .start()
        .await;
    let first = s.start_session("tom").await;
    // Resuming an open session never counts.
    for _ in 0..3 {
        let again = s.call(ApiEvent::post_sessions().user("tom")).await;
        assert_eq!(
            (again.status, again.json["id"].as_str()),
            (200, Some(first.as_str()))
        );
    }
    fail(&s, &first).await;
    let second = s.call(ApiEvent::post_sessions().user("tom")).await;
    assert_eq!(second.status, 201, "{}", second.json);
    let second = second.json["id"].as_str().unwrap().to_owned();
    fail(&s, &second).await;

    let plaid_before = s.emulator.requests().len();
    // (Plaid stamps `created_at`; the app's clock moves on three hours.)
    s.clock.advance(chrono::Duration::hours(3));
    let refused = s.call(ApiEvent::post_sessions().user("tom")).await;
    assert_eq!(
        (refused.status, refused.error_code()),
        (429, "attempt_limit_reached"),
        "{}",
        refused.json
    );
    let retry_after: i64 = refused.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // The oldest attempt was made three hours ago: it leaves the window in 21 hours.
    assert!(
        (21 * 3600 - 5..=21 * 3600 + 5).contains(&retry_after),
        "{retry_after}"
    );
    assert_eq!(
        s.emulator.requests().len(),
        plaid_before,
        "no Plaid call past the cap"
    );
    // Concurrent starts cannot squeeze past it either.
    let start = || s.call(ApiEvent::post_sessions().user("tom"));
    let (a, b, c, d) = tokio::join!(start(), start(), start(), start());
    for a in [&a, &b, &c, &d] {
        assert_eq!(a.error_code(), "attempt_limit_reached", "{}", a.json);
    }
    assert_eq!(s.emulator.requests().len(), plaid_before);
    assert_eq!(s.emulator.request_count(RETRY), 1);

    // Another template has its own budget.
    let other = s
        .call(
            ApiEvent::post_sessions()
                .user("tom")
                .json(&serde_json::json!({"template_id": testkit::stack::OTHER_TEMPLATE})),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.json);

    // Once the oldest attempt leaves the 24 hours, one more start is allowed.
    s.clock.advance(chrono::Duration::seconds(retry_after + 1));
    let later = s.call(ApiEvent::post_sessions().user("tom")).await;
    assert_eq!(later.status, 201, "{}", later.json);
    assert_eq!(later.json["previous_attempt_id"], second.as_str());
    assert_eq!(s.emulator.request_count(RETRY), 2);
}

#[tokio::test]
async fn concurrent_starts_at_the_edge_of_the_budget_make_one_attempt() {
    let s = Stack::builder()
        .var("MAX_ATTEMPTS_PER_DAY", "2")
        .start()
        .await;
    let first = s.start_session("uma").await;
    fail(&s, &first).await;
    // One attempt left: five concurrent starts make exactly one retry.
    let start = || s.call(ApiEvent::post_sessions().user("uma"));
    let (a, b, c, d, e) = tokio::join!(start(), start(), start(), start(), start());
    let answers = [&a, &b, &c, &d, &e];
    assert_eq!(s.emulator.request_count(RETRY), 1, "{answers:?}");
    let started: std::collections::HashSet<_> = answers
        .iter()
        .filter_map(|x| x.concurrent_start_id())
        .collect();
    assert_eq!(started.len(), 1, "{answers:?}");
    let list = s.call(ApiEvent::list_sessions().user("uma")).await;
    assert_eq!(list.json["sessions"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_slow_read_of_an_older_state_does_not_overwrite_a_newer_one() {
    use shared::plaid::types::StepStatus;
    let s = Stack::builder().drop_proxy().start().await;
    let id = s.start_session("vic").await;
    assert_eq!(
        s.stored(&id).await.unwrap().steps.accept_tos,
        StepStatus::Active
    );
    // The first read is answered by Plaid at once, but its answer arrives only once the newer
    // read below has been answered and recorded (a gate, not a delay: no timing to lose).
    let gate = s.proxy.as_ref().unwrap().hold_answers(GET, 1);
    let refresh = || {
        s.call(
            ApiEvent::get_session(&id)
                .user("vic")
                .query("refresh", "true"),
        )
    };
    let newer = async {
        tokio::time::timeout(std::time::Duration::from_secs(10), async {
            while s.emulator.request_count(GET) == 0 {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the slow read reached Plaid");
        // Plaid moves on after answering the slow read; a second read sees it and is recorded.
        s.emulator
            .complete_step(
                &id,
                testkit::emulator::StepRequest {
                    step: None,
                    outcome: None,
                    code: None,
                },
            )
            .await
            .unwrap();
        s.take_new_webhooks();
        // Past any per-session cool-down of live reads.
        s.clock.advance(chrono::Duration::seconds(10));
        let fast = refresh().await;
        assert_eq!(fast.json["steps"]["accept_tos"], "success", "{}", fast.json);
        // Only now does the older answer reach the slow reader.
        gate.release();
        fast
    };
    let (slow, _fast) = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        tokio::join!(refresh(), newer)
    })
    .await
    .expect("both reads answered");
    assert_eq!(slow.status, 200, "{}", slow.json);
    assert_eq!(
        s.stored(&id).await.unwrap().steps.accept_tos,
        StepStatus::Success,
        "the older answer, arriving last, must not overwrite the newer state"
    );
    assert_eq!(
        slow.json["steps"]["accept_tos"], "success",
        "the slow reader answers with what the store holds"
    );
}

#[tokio::test]
async fn link_token_refreshes_a_stale_session_before_issuing_a_token() {
    let s = Stack::start().await;
    let done = s.start_session("wes").await;
    let review = s
        .call(
            ApiEvent::post_sessions()
                .user("wes")
                .json(&serde_json::json!({"template_id": testkit::stack::OTHER_TEMPLATE})),
        )
        .await;
    let review = review.json["id"].as_str().unwrap().to_owned();
    // Results arrive at Plaid; their webhooks are lost.
    for (id, outcome) in [
        (&done, FinishOutcome::Success),
        (&review, FinishOutcome::PendingReview),
    ] {
        s.emulator.finish(id, Some(outcome), None).await.unwrap();
    }
    s.take_new_webhooks();
    // Past the freshness window: the stored "active" is not to be trusted.
    s.clock.advance(chrono::Duration::seconds(61));
    let a = s.call(ApiEvent::link_token(&done).user("wes")).await;
    assert_eq!(
        (a.status, a.error_code()),
        (409, "session_finished"),
        "{}",
        a.json
    );
    let b = s.call(ApiEvent::link_token(&review).user("wes")).await;
    assert_eq!(
        (b.status, b.error_code()),
        (409, "session_in_review"),
        "{}",
        b.json
    );
    assert_eq!(s.emulator.request_count(LINK), 0, "no useless token");
    assert_eq!(s.stored(&done).await.unwrap().status, IdvStatus::Success);
    assert_eq!(
        s.stored(&review).await.unwrap().status,
        IdvStatus::PendingReview
    );
}

/// Past the per-session cool-down of live Plaid reads (moved with the injected clock, no sleep).
fn past_cooldown() -> chrono::Duration {
    shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1)
}

#[tokio::test]
async fn a_looping_refresh_reads_plaid_once_per_cooldown() {
    let s = Stack::start().await;
    let id = s.start_session("xena").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    s.take_new_webhooks(); // lost: only a refresh can learn the result
    let refresh = || {
        s.call(
            ApiEvent::get_session(&id)
                .user("xena")
                .query("refresh", "true"),
        )
    };
    let first = refresh().await;
    assert_eq!(first.json["status"], "success", "{}", first.json);
    assert_eq!(s.emulator.request_count(GET), 1);
    for _ in 0..10 {
        let again = refresh().await;
        assert_eq!(
            (again.status, again.json["status"].as_str()),
            (200, Some("success")),
            "answered from the store"
        );
    }
    assert_eq!(
        s.emulator.request_count(GET),
        1,
        "one Plaid read per session per cool-down"
    );
    // Past it, a final session is still not read again: Plaid's word on it cannot change.
    s.clock.advance(past_cooldown());
    assert_eq!(refresh().await.status, 200);
    assert_eq!(s.emulator.request_count(GET), 1);

    // A reviewer's full view within the cool-down is not read again either.
    s.clock.advance(past_cooldown());
    let full = || {
        s.call(
            ApiEvent::get_session(&id)
                .user("rev-3")
                .scope(REVIEWER)
                .query("view", "full"),
        )
    };
    assert_eq!(full().await.status, 200);
    let again = full().await;
    assert_eq!(
        (again.status, again.error_code()),
        (429, "rate_limited"),
        "{}",
        again.json
    );
    let wait: i64 = again.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=shared::session::lifecycle::LIVE_READ_COOLDOWN.num_seconds()).contains(&wait));
    assert_eq!(s.emulator.request_count(GET), 2);
}

#[tokio::test]
async fn a_looping_link_token_request_reuses_the_token() {
    let s = Stack::start().await;
    let id = s.start_session("yan").await;
    let link = || s.call(ApiEvent::link_token(&id).user("yan"));
    let first = link().await;
    assert_eq!(first.status, 200, "{}", first.json);
    for _ in 0..5 {
        let again = link().await;
        assert_eq!(again.status, 200, "{}", again.json);
        assert_eq!(again.json["link_token"], first.json["link_token"]);
    }
    assert_eq!(s.emulator.request_count(LINK), 1);
    // A token for another redirect cannot be reused: come back after the cool-down.
    let other = s
        .call(
            ApiEvent::link_token(&id)
                .user("yan")
                .json(&serde_json::json!({"redirect_uri": "https://app.example.com/idv/oauth"})),
        )
        .await;
    assert_eq!(
        (other.status, other.error_code()),
        (429, "rate_limited"),
        "{}",
        other.json
    );
    assert!(other.headers.contains_key("retry-after"));
    assert_eq!(s.emulator.request_count(LINK), 1);
    s.clock.advance(past_cooldown());
    let later = link().await;
    assert_eq!(later.status, 200);
    assert_ne!(later.json["link_token"], first.json["link_token"]);
    assert_eq!(s.emulator.request_count(LINK), 2);
}

/// Whether reconcile's open index holds the session (as reconcile reads it, a day from now).
async fn in_open_index(s: &Stack, id: &str) -> bool {
    s.ctx
        .store
        .open_sessions(s.clock_now() + chrono::Duration::days(1), 100)
        .await
        .unwrap()
        .iter()
        .any(|r| r.id.as_str() == id)
}
