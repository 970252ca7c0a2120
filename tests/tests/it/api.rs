//! The session API (create-session, link-token, get-session) through the real handlers, with
//! API Gateway v2 JWT-authorizer events, DynamoDB on moto and Plaid played by the emulator.

use serde_json::json;
use testkit::apigw::ApiEvent;
use testkit::emulator::endpoints::{
    IDV_CREATE as CREATE, IDV_RETRY as RETRY, LINK_TOKEN_CREATE as LINK,
};
use testkit::emulator::{Fault, FinishOutcome};
use testkit::stack::{OTHER_TEMPLATE, Stack, TEMPLATE};

#[tokio::test]
async fn no_claims_is_401_on_every_route() {
    let s = Stack::start().await;
    for e in [
        ApiEvent::post_sessions(),
        ApiEvent::list_sessions(),
        ApiEvent::get_session("idv_x"),
        ApiEvent::link_token("idv_x"),
    ] {
        let a = s.call(e).await;
        assert_eq!((a.status, a.error_code()), (401, "unauthorized"));
    }
    assert_eq!(
        s.emulator.requests().len(),
        0,
        "no Plaid call without a caller"
    );
}

#[tokio::test]
async fn start_creates_then_resumes() {
    let s = Stack::start().await;
    let first = s.call(ApiEvent::post_sessions().user("alice")).await;
    assert_eq!(first.status, 201);
    assert_eq!(first.json["status"], "active");
    assert_eq!(first.json["final"], false);
    assert_eq!(first.json["template_id"], TEMPLATE);
    assert!(first.json["previous_attempt_id"].is_null());
    let again = s.call(ApiEvent::post_sessions().user("alice")).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json["id"], first.json["id"]);
    assert_eq!(
        s.emulator.request_count(CREATE),
        1,
        "a usable session is resumed without Plaid"
    );
    let stored = s.stored(first.json["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(stored.client_user_id.as_str(), "alice");
}

#[tokio::test]
async fn the_whole_flow_success() {
    let s = Stack::start().await;
    let id = s.start_session("leslie").await;
    let link = s.call(ApiEvent::link_token(&id).user("leslie")).await;
    assert_eq!(link.status, 200, "{}", link.json);
    assert_eq!(link.json["session_id"], id.as_str());
    let token = link.json["link_token"].as_str().unwrap();
    let issued = s
        .emulator
        .link_token(token)
        .expect("the emulator issued it");
    assert_eq!(
        (issued.template_id.as_str(), issued.client_user_id.as_str()),
        (TEMPLATE, "leslie")
    );

    let answers = s.finish_and_deliver(&id, FinishOutcome::Success).await;
    assert!(!answers.is_empty());
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 && a.json["status"] == "processed"),
        "{answers:?}"
    );

    let got = s.call(ApiEvent::get_session(&id).user("leslie")).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json["status"], "success");
    assert_eq!(got.json["final"], true);
    assert_eq!(got.json["steps"]["kyc_check"], "success");
    assert!(got.json["completed_at"].is_string());

    // Finished: no more Link, and a new start hands back the result without a new attempt.
    let link = s.call(ApiEvent::link_token(&id).user("leslie")).await;
    assert_eq!((link.status, link.error_code()), (409, "session_finished"));
    let start = s.call(ApiEvent::post_sessions().user("leslie")).await;
    assert_eq!(
        (start.status, start.json["id"].as_str()),
        (200, Some(id.as_str()))
    );
    assert_eq!(s.emulator.request_count(RETRY), 0);
}

#[tokio::test]
async fn failure_then_a_new_start_retries() {
    let s = Stack::start().await;
    let id = s.start_session("bob").await;
    s.finish_and_deliver(&id, FinishOutcome::Failed).await;
    let got = s.call(ApiEvent::get_session(&id).user("bob")).await;
    assert_eq!(got.json["status"], "failed");

    let retry = s.call(ApiEvent::post_sessions().user("bob")).await;
    assert_eq!(retry.status, 201, "{}", retry.json);
    assert_ne!(retry.json["id"], id.as_str());
    assert_eq!(retry.json["previous_attempt_id"], id.as_str());
    assert_eq!(retry.json["status"], "active");
    assert_eq!(s.emulator.request_count(RETRY), 1);
    assert_eq!(
        s.emulator.request_count(CREATE),
        1,
        "a returning user is retried, never re-created"
    );

    // The chain is listed newest first.
    let list = s.call(ApiEvent::list_sessions().user("bob")).await;
    let ids: Vec<_> = list.json["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].clone())
        .collect();
    assert_eq!(ids, vec![retry.json["id"].clone(), json!(id)]);
}

#[tokio::test]
async fn owners_only_on_every_route() {
    let s = Stack::start().await;
    let id = s.start_session("alice").await;
    let get = s.call(ApiEvent::get_session(&id).user("mallory")).await;
    let unknown = s
        .call(ApiEvent::get_session("idv_doesnotexist").user("mallory"))
        .await;
    assert_eq!((get.status, get.error_code()), (404, "session_not_found"));
    assert_eq!(
        get.json, unknown.json,
        "another user's session looks exactly like an unknown one"
    );
    let link = s.call(ApiEvent::link_token(&id).user("mallory")).await;
    assert_eq!(link.status, 404);
    let full = s
        .call(
            ApiEvent::get_session(&id)
                .user("mallory")
                .query("view", "full"),
        )
        .await;
    assert_eq!(full.status, 404);
    let list = s.call(ApiEvent::list_sessions().user("mallory")).await;
    assert_eq!(list.json["sessions"], json!([]));
    assert_eq!(s.emulator.request_count(LINK), 0);
}

#[tokio::test]
async fn the_link_token_uses_the_sessions_own_template() {
    let s = Stack::start().await;
    let a = s
        .call(
            ApiEvent::post_sessions()
                .user("carol")
                .json(&json!({"template_id": OTHER_TEMPLATE})),
        )
        .await;
    assert_eq!(a.status, 201);
    let id = a.json["id"].as_str().unwrap();
    // A template in the body cannot steer the token: it is refused, not used.
    let sneaky = s
        .call(
            ApiEvent::link_token(id)
                .user("carol")
                .json(&json!({"template_id": TEMPLATE})),
        )
        .await;
    assert_eq!((sneaky.status, sneaky.error_code()), (400, "invalid_body"));
    let ok = s.call(ApiEvent::link_token(id).user("carol")).await;
    assert_eq!(ok.status, 200);
    let issued = s
        .emulator
        .link_token(ok.json["link_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(issued.template_id, OTHER_TEMPLATE);
    // Redirects only from the allow-list.
    let bad = s
        .call(
            ApiEvent::link_token(id)
                .user("carol")
                .json(&json!({"redirect_uri": "https://evil.example"})),
        )
        .await;
    assert_eq!(
        (bad.status, bad.error_code()),
        (400, "redirect_uri_not_allowed")
    );
    // Another redirect needs another token: past the per-session cool-down of Plaid calls.
    s.clock
        .advance(shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1));
    let good = s
        .call(
            ApiEvent::link_token(id)
                .user("carol")
                .json(&json!({"redirect_uri": "https://app.example.com/idv/oauth"})),
        )
        .await;
    assert_eq!(good.status, 200);
}

#[tokio::test]
async fn templates_outside_the_configuration_are_refused() {
    let s = Stack::start().await;
    let a = s
        .call(
            ApiEvent::post_sessions()
                .user("dan")
                .json(&json!({"template_id": "idvtmp_unlisted"})),
        )
        .await;
    assert_eq!((a.status, a.error_code()), (400, "template_not_allowed"));
    assert_eq!(s.emulator.requests().len(), 0);
}

#[tokio::test]
async fn past_the_app_window_link_is_410_without_plaid_and_start_retries() {
    let s = Stack::start().await;
    let id = s.start_session("erin").await;
    s.clock.advance(chrono::Duration::seconds(172_801));
    let before = s.emulator.requests().len();
    let link = s.call(ApiEvent::link_token(&id).user("erin")).await;
    assert_eq!((link.status, link.error_code()), (410, "session_expired"));
    assert_eq!(
        s.emulator.requests().len(),
        before,
        "no Plaid call for an expired session"
    );
    let got = s.call(ApiEvent::get_session(&id).user("erin")).await;
    assert_eq!(
        (got.json["status"].as_str(), got.json["final"].as_bool()),
        (Some("expired"), Some(true))
    );

    let start = s.call(ApiEvent::post_sessions().user("erin")).await;
    assert_eq!(start.status, 201);
    assert_eq!(start.json["previous_attempt_id"], id.as_str());
    let retry = s
        .emulator
        .requests()
        .into_iter()
        .find(|r| r.endpoint == RETRY)
        .unwrap();
    assert_eq!(
        retry.status, 200,
        "Plaid accepted the strategy for a still-active session"
    );
}

#[tokio::test]
async fn plaid_rate_limit_is_429_with_retry_after() {
    let s = Stack::start().await;
    s.emulator
        .inject_fault(Fault {
            endpoint: CREATE.into(),
            status: Some(429),
            count: 5,
            delay_ms: 0,
        })
        .unwrap();
    let a = s.call(ApiEvent::post_sessions().user("fay")).await;
    assert_eq!((a.status, a.error_code()), (429, "rate_limited"));
    assert!(a.headers.contains_key("retry-after"));
    let list = s.call(ApiEvent::list_sessions().user("fay")).await;
    assert_eq!(list.json["sessions"], json!([]), "nothing half-written");
}

#[tokio::test]
async fn plaid_500_is_502_and_a_timeout_is_503() {
    let s = Stack::start().await;
    s.emulator
        .inject_fault(Fault {
            endpoint: CREATE.into(),
            status: Some(500),
            count: 5,
            delay_ms: 0,
        })
        .unwrap();
    let a = s.call(ApiEvent::post_sessions().user("gus")).await;
    assert_eq!((a.status, a.error_code()), (502, "plaid_error"));
    assert_eq!(
        s.emulator.request_count(CREATE),
        2,
        "an idempotent create is retried, within bounds"
    );

    let s = Stack::start().await;
    s.emulator
        .inject_fault(Fault {
            endpoint: CREATE.into(),
            status: None,
            count: 5,
            delay_ms: 3_000,
        })
        .unwrap();
    let a = s.call(ApiEvent::post_sessions().user("gus")).await;
    assert_eq!((a.status, a.error_code()), (503, "plaid_unavailable"));
    assert!(a.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_failed_retry_is_not_repeated_and_nothing_is_lost() {
    let s = Stack::start().await;
    let id = s.start_session("hal").await;
    s.finish_and_deliver(&id, FinishOutcome::Failed).await;
    s.emulator
        .inject_fault(Fault {
            endpoint: RETRY.into(),
            status: Some(500),
            count: 1,
            delay_ms: 0,
        })
        .unwrap();
    let a = s.call(ApiEvent::post_sessions().user("hal")).await;
    assert_eq!(a.status, 502);
    assert_eq!(
        s.emulator.request_count(RETRY),
        1,
        "/retry is never repeated by the client"
    );
    // Once the claim lapses, the next start makes the retry.
    s.clock.advance(chrono::Duration::seconds(16));
    let b = s.call(ApiEvent::post_sessions().user("hal")).await;
    assert_eq!(b.status, 201, "{}", b.json);
    assert_eq!(b.json["previous_attempt_id"], id.as_str());
}

#[tokio::test]
async fn concurrent_starts_leave_one_session() {
    let s = Stack::start().await;
    let answers = futures_join(&s, "ivy", 8).await;
    let ids: std::collections::HashSet<_> = answers.iter().map(|a| a.json["id"].clone()).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 1);
    let list = s.call(ApiEvent::list_sessions().user("ivy")).await;
    assert_eq!(list.json["sessions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn concurrent_starts_after_a_failure_make_one_retry() {
    let s = Stack::start().await;
    let id = s.start_session("jay").await;
    s.finish_and_deliver(&id, FinishOutcome::Failed).await;
    let answers = futures_join(&s, "jay", 5).await;
    assert_eq!(
        s.emulator.request_count(RETRY),
        1,
        "one billed retry, not five"
    );
    let new_ids: std::collections::HashSet<_> = answers
        .iter()
        .filter_map(|a| a.concurrent_start_id())
        .collect();
    assert_eq!(new_ids.len(), 1, "{answers:?}");
    let list = s.call(ApiEvent::list_sessions().user("jay")).await;
    assert_eq!(list.json["sessions"].as_array().unwrap().len(), 2);
}

async fn futures_join(s: &Stack, user: &str, n: usize) -> Vec<testkit::apigw::Answer> {
    let calls = (0..n).map(|_| s.call(ApiEvent::post_sessions().user(user)));
    let mut out = Vec::new();
    let handles: Vec<_> = calls.collect();
    // All polled together on this task: the handlers' awaits interleave as in concurrent Lambdas.
    let mut set = std::pin::pin!(join_all(handles));
    out.extend((&mut set).await);
    out
}

async fn join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => results[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().map(|r| r.unwrap()).collect()
}

#[tokio::test]
async fn a_session_plaid_made_but_we_did_not_record_is_found_not_duplicated() {
    let s = Stack::start().await;
    // Plaid created it, our write never happened (crash, DynamoDB outage).
    let orphan = s
        .ctx
        .plaid
        .create(&shared::plaid::types::CreateRequest {
            client_user_id: shared::ids::ClientUserId::parse("kim").unwrap(),
            template_id: shared::ids::TemplateId::parse(TEMPLATE).unwrap(),
            gave_consent: false,
            is_shareable: false,
            is_idempotent: true,
            user: None,
        })
        .await
        .unwrap();
    let a = s.call(ApiEvent::post_sessions().user("kim")).await;
    assert_eq!(a.json["id"], orphan.id.as_str());
    assert!(s.stored(orphan.id.as_str()).await.is_some());
}

#[tokio::test]
async fn a_retry_plaid_made_but_we_did_not_record_is_found_not_repeated() {
    let s = Stack::start().await;
    let id = s.start_session("lee").await;
    s.finish_and_deliver(&id, FinishOutcome::Failed).await;
    let orphan = s
        .ctx
        .plaid
        .retry(&shared::plaid::types::RetryRequest {
            client_user_id: shared::ids::ClientUserId::parse("lee").unwrap(),
            template_id: shared::ids::TemplateId::parse(TEMPLATE).unwrap(),
            strategy: shared::plaid::types::RetryStrategy::Reset,
            steps: None,
            user: None,
            is_shareable: None,
        })
        .await
        .unwrap();
    let a = s.call(ApiEvent::post_sessions().user("lee")).await;
    assert_eq!(a.json["id"], orphan.id.as_str(), "{}", a.json);
    assert_eq!(
        s.emulator.request_count(RETRY),
        1,
        "the orphaned retry is adopted, not repeated"
    );
}

#[tokio::test]
async fn bad_bodies_are_4xx_json() {
    let s = Stack::start().await;
    let cases: Vec<(ApiEvent, u16, &str)> = vec![
        (
            ApiEvent::post_sessions().user("u").body("{not json"),
            400,
            "invalid_json",
        ),
        (
            ApiEvent::post_sessions()
                .user("u")
                .json(&json!({"is_shareable": "yes"})),
            400,
            "invalid_body",
        ),
        (
            ApiEvent::post_sessions()
                .user("u")
                .json(&json!({"client_user_id": "someone-else"})),
            400,
            "invalid_body",
        ),
        (
            ApiEvent::post_sessions()
                .user("u")
                .json(&json!({"user": {"phone_number": "555-1234"}})),
            400,
            "invalid_field",
        ),
        (
            ApiEvent::post_sessions()
                .user("u")
                .json(&json!({"user": {"date_of_birth": "01/18/1975"}})),
            400,
            "invalid_field",
        ),
        (
            ApiEvent::post_sessions()
                .user("u")
                .body(&"x".repeat(1 << 20)),
            413,
            "payload_too_large",
        ),
        (
            ApiEvent::post_sessions()
                .user("u")
                .raw_body(&[0xff, 0xfe, 0x7b]),
            400,
            "invalid_json",
        ),
        (
            ApiEvent::post_sessions()
                .user("u")
                .header("content-type", "text/plain")
                .body("{}"),
            415,
            "unsupported_media_type",
        ),
        (
            ApiEvent::list_sessions().user("u").query("limit", "0"),
            400,
            "invalid_query",
        ),
        (
            ApiEvent::list_sessions()
                .user("u")
                .query("cursor", "garbage"),
            400,
            "invalid_cursor",
        ),
        (
            ApiEvent::get_session("idv_x")
                .user("u")
                .query("view", "everything"),
            400,
            "invalid_query",
        ),
    ];
    for (event, status, code) in cases {
        let a = s.call(event).await;
        assert_eq!((a.status, a.error_code()), (status, code), "{}", a.json);
    }
    assert_eq!(
        s.emulator.requests().len(),
        0,
        "bad input never reaches Plaid"
    );
}

#[tokio::test]
async fn prefill_reaches_plaid_and_plaid_rejections_are_422() {
    let s = Stack::start().await;
    let leslie = json!({"user": {
        "email_address": "leslie@example.com", "phone_number": "+12345678909", "date_of_birth": "1975-01-18",
        "name": {"given_name": "Leslie", "family_name": "Knope"},
        "address": {"street": "123 Main St.", "city": "Pawnee", "region": "IN", "postal_code": "46001", "country": "US"},
        "id_number": {"value": "123456789", "type": "us_ssn"}}, "gave_consent": true});
    let a = s
        .call(ApiEvent::post_sessions().user("leslie").json(&leslie))
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(a.json["steps"]["accept_tos"], "skipped");
    // E.164 in shape, so our own parsing lets it through, but a North American number whose
    // area code starts with 1: Plaid's numbering-plan check answers 400 INVALID_FIELD.
    let odd = json!({"user": {"phone_number": "+11234567890"}});
    let b = s
        .call(ApiEvent::post_sessions().user("other").json(&odd))
        .await;
    assert_eq!(
        (b.status, b.error_code()),
        (422, "plaid_rejected_data"),
        "{}",
        b.json
    );
    let refused = s
        .emulator
        .requests()
        .into_iter()
        .rfind(|r| r.endpoint == CREATE)
        .expect("the prefill reached Plaid");
    assert_eq!(
        (refused.status, refused.error_code.as_deref()),
        (400, Some("INVALID_FIELD"))
    );
}

#[tokio::test]
async fn get_refreshes_stale_sessions_and_full_view_is_live() {
    let s = Stack::start().await;
    let id = s.start_session("mia").await;
    // A result arrives at Plaid, its webhooks are lost.
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    s.take_new_webhooks();
    let fresh = s.call(ApiEvent::get_session(&id).user("mia")).await;
    assert_eq!(
        fresh.json["status"], "active",
        "within the freshness window the store answers"
    );
    let refreshed = s
        .call(
            ApiEvent::get_session(&id)
                .user("mia")
                .query("refresh", "true"),
        )
        .await;
    assert_eq!(refreshed.json["status"], "success");
    // Past the per-session cool-down of live Plaid reads.
    s.clock
        .advance(shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1));
    let full = s
        .call(
            ApiEvent::get_session(&id)
                .user("reviewer")
                .scope("idv/review")
                .query("view", "full"),
        )
        .await;
    assert_eq!(full.status, 200);
    assert!(
        full.json["result"]["kyc_check"].is_object(),
        "{}",
        full.json
    );
    let stored = s.stored(&id).await.unwrap();
    assert_eq!(stored.status, shared::plaid::types::IdvStatus::Success);

    let id2 = s.start_session("ned").await;
    s.emulator
        .finish(&id2, Some(FinishOutcome::Failed), None)
        .await
        .unwrap();
    s.take_new_webhooks();
    s.clock.advance(chrono::Duration::seconds(61));
    let stale = s.call(ApiEvent::get_session(&id2).user("ned")).await;
    assert_eq!(
        stale.json["status"], "failed",
        "past the freshness window get re-reads Plaid"
    );
}

#[tokio::test]
async fn list_pages_newest_first() {
    let s = Stack::start().await;
    let a = s.start_session("oli").await;
    // Plaid's created_at has whole seconds; sessions in one second have no order to test: wait
    // until Plaid's clock has left the second `a` was made in.
    let created_at = |id: &str| -> chrono::DateTime<chrono::Utc> {
        s.emulator.session(id).unwrap()["created_at"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("Plaid's created_at")
    };
    let a_created = created_at(&a);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while chrono::Utc::now().timestamp() <= a_created.timestamp() {
        assert!(
            std::time::Instant::now() < deadline,
            "the clock stands still"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let b = s
        .call(
            ApiEvent::post_sessions()
                .user("oli")
                .json(&json!({"template_id": OTHER_TEMPLATE})),
        )
        .await;
    let b = b.json["id"].as_str().unwrap().to_owned();
    assert!(created_at(&b) > a_created, "b is newer at Plaid");
    let p1 = s
        .call(ApiEvent::list_sessions().user("oli").query("limit", "1"))
        .await;
    assert_eq!(p1.json["sessions"][0]["id"], b.as_str());
    let cursor = p1.json["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let p2 = s
        .call(
            ApiEvent::list_sessions()
                .user("oli")
                .query("limit", "1")
                .query("cursor", &cursor),
        )
        .await;
    assert_eq!(p2.json["sessions"][0]["id"], a.as_str());
    assert!(p2.json["next_cursor"].is_null());
    let only = s
        .call(
            ApiEvent::list_sessions()
                .user("oli")
                .query("template_id", TEMPLATE),
        )
        .await;
    assert_eq!(only.json["sessions"].as_array().unwrap().len(), 1);
    // Another user cannot use oli's cursor.
    let stolen = s
        .call(
            ApiEvent::list_sessions()
                .user("pat")
                .query("limit", "1")
                .query("cursor", &cursor),
        )
        .await;
    assert_eq!(
        (stolen.status, stolen.error_code()),
        (400, "invalid_cursor")
    );
}

#[tokio::test]
async fn a_retry_plaid_refused_frees_the_next_start_at_once() {
    let s = Stack::start().await;
    let id = s.start_session("quinn").await;
    s.finish_and_deliver(&id, FinishOutcome::Failed).await;
    s.emulator
        .inject_fault(Fault {
            endpoint: RETRY.into(),
            status: Some(429),
            count: 1,
            delay_ms: 0,
        })
        .unwrap();
    let a = s.call(ApiEvent::post_sessions().user("quinn")).await;
    assert_eq!((a.status, a.error_code()), (429, "rate_limited"));
    // Plaid made nothing, so the claim was given back: no 409 while it would have lapsed.
    let b = s.call(ApiEvent::post_sessions().user("quinn")).await;
    assert_eq!(b.status, 201, "{}", b.json);
    assert_eq!(b.json["previous_attempt_id"], id.as_str());
    assert_eq!(s.emulator.request_count(RETRY), 2);
}

/// Each function answers only its own routes: any other path is 404 and any other method on its
/// paths 405 (with `Allow`), in the error shape, before any store access or Plaid call, whether
/// API Gateway names the route (`routeKey`) or hands over `$default` with a raw path.
#[tokio::test]
async fn each_function_answers_only_its_own_routes() {
    use shared::handlers;
    use shared::store::DynamoStore;
    use testkit::apigw::Answer;
    use testkit::faulty_store::{FaultyStore, Op};

    const OPS: [Op; 9] = [
        Op::Get,
        Op::LatestFor,
        Op::ListForUser,
        Op::Insert,
        Op::SaveSnapshot,
        Op::OpenSessions,
        Op::MarkAppExpired,
        Op::ClaimRetry,
        Op::ReleaseRetry,
    ];
    let s: Stack<FaultyStore<DynamoStore>> =
        Stack::builder().start_with_store(FaultyStore::new).await;
    let id = s.start_session("alice").await;
    let store_calls = |s: &Stack<FaultyStore<DynamoStore>>| OPS.map(|op| s.ctx.store.calls(op));
    let plaid_before = s.emulator.requests().len();
    let store_before = store_calls(&s);

    #[derive(Clone, Copy, Debug)]
    enum F {
        Create,
        Get,
        Link,
        Webhook,
    }
    let link_path = format!("/sessions/{id}/link-token");
    let one_path = format!("/sessions/{id}");
    // (function, method, raw path, routeKey, expected status, Allow)
    type Case = (
        F,
        &'static str,
        String,
        &'static str,
        u16,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        (F::Create, "POST", "/nope".into(), "$default", 404, None),
        (F::Create, "GET", "/nope".into(), "$default", 404, None),
        (
            F::Create,
            "POST",
            "/sessions/".into(),
            "$default",
            404,
            None,
        ),
        (F::Create, "POST", one_path.clone(), "$default", 404, None),
        (
            F::Create,
            "PUT",
            "/sessions".into(),
            "$default",
            405,
            Some("POST"),
        ),
        (
            F::Create,
            "GET",
            "/sessions".into(),
            "GET /sessions",
            405,
            Some("POST"),
        ),
        (
            F::Get,
            "GET",
            format!("{one_path}/y/z"),
            "$default",
            404,
            None,
        ),
        (
            F::Get,
            "GET",
            "/sessions/x/y/z".into(),
            "$default",
            404,
            None,
        ),
        (
            F::Get,
            "DELETE",
            one_path.clone(),
            "$default",
            405,
            Some("GET"),
        ),
        (
            F::Get,
            "POST",
            "/sessions".into(),
            "$default",
            405,
            Some("GET"),
        ),
        (
            F::Get,
            "POST",
            link_path.clone(),
            "POST /sessions/{id}/link-token",
            404,
            None,
        ),
        (
            F::Link,
            "GET",
            link_path.clone(),
            "$default",
            405,
            Some("POST"),
        ),
        (F::Link, "POST", one_path.clone(), "$default", 404, None),
        (
            F::Link,
            "POST",
            format!("{link_path}/x"),
            "$default",
            404,
            None,
        ),
        (
            F::Link,
            "POST",
            "/sessions".into(),
            "POST /sessions",
            404,
            None,
        ),
        (
            F::Webhook,
            "GET",
            "/webhooks/plaid".into(),
            "$default",
            405,
            Some("POST"),
        ),
        (
            F::Webhook,
            "POST",
            "/webhooks/other".into(),
            "$default",
            404,
            None,
        ),
        (
            F::Webhook,
            "POST",
            "/sessions".into(),
            "POST /sessions",
            404,
            None,
        ),
    ];
    for (f, method, path, route_key, want, allow) in cases {
        let mut e = ApiEvent::new(method, path.clone(), route_key).user("alice");
        if method != "GET" {
            e = e.json(&json!({"gave_consent": true}));
        }
        if path.starts_with("/sessions/") && path.len() > "/sessions/".len() {
            e = e.path_id(&id);
        }
        let req = e.request();
        let resp = match f {
            F::Create => handlers::create_session::handle(&s.ctx, req).await,
            F::Get => handlers::get_session::handle(&s.ctx, req).await,
            F::Link => handlers::link_token::handle(&s.ctx, req).await,
            F::Webhook => handlers::webhook::handle(&s.ctx, &s.verifier, req).await,
        };
        let a = Answer::from_response(resp);
        let what = format!("{f:?} given {route_key} {method} {path}");
        assert_eq!(a.status, want, "{what}: {}", a.json);
        let code = if want == 404 {
            "route_not_found"
        } else {
            "method_not_allowed"
        };
        assert_eq!(a.error_code(), code, "{what}");
        assert!(a.json["error"]["message"].is_string(), "{what}");
        assert_eq!(
            a.headers.get("allow").and_then(|v| v.to_str().ok()),
            allow,
            "{what}"
        );
    }
    assert_eq!(
        s.emulator.requests().len(),
        plaid_before,
        "no Plaid call for a route the function does not serve"
    );
    assert_eq!(
        store_calls(&s),
        store_before,
        "no store access for a route the function does not serve"
    );
    // The real routes still answer as before.
    let a = s.call(ApiEvent::get_session(&id).user("alice")).await;
    assert_eq!(a.status, 200, "{}", a.json);
    let list = s.call(ApiEvent::list_sessions().user("alice")).await;
    assert_eq!(list.json["sessions"].as_array().unwrap().len(), 1);
}
