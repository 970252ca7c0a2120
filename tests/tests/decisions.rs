//! Issue #12, "Decision integrity": a session in review waits for the reviewer, Plaid's full
//! result is for reviewers only, a budget of billed attempts, a cool-down on live Plaid reads,
//! and the ordering of racing reads. Real handlers, DynamoDB on moto, Plaid played by the
//! emulator; Plaid calls are counted from the emulator's request log.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::plaid::types::IdvStatus;
use shared::store::SessionStore;
use testkit::apigw::ApiEvent;
use testkit::emulator::FinishOutcome;
use testkit::stack::Stack;

const CREATE: &str = "/identity_verification/create";
const RETRY: &str = "/identity_verification/retry";
const LINK: &str = "/link/token/create";

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
    let open = s
        .ctx
        .store
        .open_sessions(s.clock_now() + chrono::Duration::days(1), 100)
        .await
        .unwrap();
    assert!(
        open.iter().any(|r| r.id.as_str() == id),
        "in the open index"
    );
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
    let open = s
        .ctx
        .store
        .open_sessions(s.clock_now() + chrono::Duration::days(1), 100)
        .await
        .unwrap();
    assert!(
        open.iter().any(|r| r.id.as_str() == id),
        "back in the open index"
    );
    let start = s.call(ApiEvent::post_sessions().user("sam")).await;
    assert_eq!(
        (start.status, start.json["id"].as_str()),
        (200, Some(id.as_str()))
    );
}
