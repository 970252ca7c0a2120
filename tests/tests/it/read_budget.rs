//! Plaid reads are budgeted per reader, never at a reviewer's expense (issue #23): a final
//! session is answered from the store, one user's sessions share one cool-down, and a reviewer's
//! reads have their own. Plaid calls are counted in the emulator's request log.

use shared::ids::ClientUserId;
use shared::store::{ReadBudget, SessionStore};
use testkit::apigw::ApiEvent;
use testkit::emulator::FinishOutcome;
use testkit::emulator::endpoints::IDV_GET as GET;
use testkit::stack::{OTHER_TEMPLATE, Stack};

const REVIEWER: &str = "openid idv/review";

fn past_cooldown() -> chrono::Duration {
    shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1)
}

#[tokio::test]
async fn a_final_session_is_refreshed_from_the_store_without_plaid() {
    let s = Stack::start().await;
    for (user, outcome) in [
        ("fin-ok", FinishOutcome::Success),
        ("fin-ko", FinishOutcome::Failed),
    ] {
        let id = s.start_session(user).await;
        s.finish_and_deliver(&id, outcome).await;
        let status = s.stored(&id).await.unwrap().status;
        assert!(status.is_final(), "{status:?}");
        let gets = s.emulator.request_count(GET);
        for _ in 0..3 {
            // Each past the cool-down, so only finality can keep Plaid out of it.
            s.clock.advance(past_cooldown());
            let a = s
                .call(
                    ApiEvent::get_session(&id)
                        .user(user)
                        .query("refresh", "true"),
                )
                .await;
            assert_eq!(
                (a.status, a.json["status"].as_str()),
                (200, Some(status.as_str()))
            );
        }
        assert_eq!(
            s.emulator.request_count(GET),
            gets,
            "no Plaid read for {user}"
        );
    }
}

#[tokio::test]
async fn one_users_sessions_share_one_cooldown_and_a_reviewer_has_its_own() {
    let s = Stack::start().await;
    let user = "many";
    let a = s.start_session(user).await;
    let other = s
        .call(
            ApiEvent::post_sessions()
                .user(user)
                .json(&serde_json::json!({"template_id": OTHER_TEMPLATE})),
        )
        .await;
    assert_eq!(other.status, 201, "{}", other.json);
    let b = other.json["id"].as_str().unwrap().to_owned();
    let refresh = |id: &str| {
        s.call(
            ApiEvent::get_session(id)
                .user(user)
                .query("refresh", "true"),
        )
    };

    s.clock.advance(past_cooldown());
    let gets = s.emulator.request_count(GET);
    assert_eq!(refresh(&a).await.status, 200);
    assert_eq!(s.emulator.request_count(GET), gets + 1);
    // Another of the user's sessions, at once: the same budget, answered from the store.
    let second = refresh(&b).await;
    assert_eq!(
        (second.status, second.json["id"].as_str()),
        (200, Some(b.as_str()))
    );
    assert_eq!(
        s.emulator.request_count(GET),
        gets + 1,
        "one read per user per cool-down"
    );

    // The owner's refresh just spent the owner's budget; the reviewer's full view is not
    // refused for it.
    let full = || {
        s.call(
            ApiEvent::get_session(&a)
                .user("rev-9")
                .scope(REVIEWER)
                .query("view", "full"),
        )
    };
    let f = full().await;
    assert_eq!(f.status, 200, "{}", f.json);
    assert_eq!(s.emulator.request_count(GET), gets + 2);
    // The reviewer's own budget is spent now, the owner's not renewed by it.
    let again = full().await;
    assert_eq!((again.status, again.error_code()), (429, "rate_limited"));
    assert_eq!(refresh(&b).await.status, 200);
    assert_eq!(s.emulator.request_count(GET), gets + 2);

    // Past the cool-down, each may read again.
    s.clock.advance(past_cooldown());
    assert_eq!(refresh(&b).await.status, 200);
    assert_eq!(full().await.status, 200);
    assert_eq!(s.emulator.request_count(GET), gets + 4);
}

#[tokio::test]
async fn read_budget_items_are_never_listed_as_sessions() {
    let s = Stack::start().await;
    let user = ClientUserId::parse("budget-user").unwrap();
    let id = s.start_session(user.as_str()).await;
    let now = s.clock_now();
    for budget in [
        ReadBudget::Owner(user.clone()),
        ReadBudget::Reviewer(user.clone()),
    ] {
        assert!(
            s.ctx
                .store
                .claim_read_budget(&budget, now, now - chrono::Duration::seconds(5))
                .await
                .unwrap()
        );
        assert!(
            !s.ctx
                .store
                .claim_read_budget(&budget, now, now - chrono::Duration::seconds(5))
                .await
                .unwrap(),
            "taken once per cool-down"
        );
    }
    let page = s
        .ctx
        .store
        .list_for_user(&user, None, 100, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id.as_str(), id);
    let template = shared::ids::TemplateId::parse(testkit::stack::TEMPLATE).unwrap();
    assert_eq!(
        s.ctx
            .store
            .latest_for(&user, &template)
            .await
            .unwrap()
            .unwrap()
            .id
            .as_str(),
        id
    );
    let open = s
        .ctx
        .store
        .open_sessions(now + chrono::Duration::days(1), 100)
        .await
        .unwrap();
    assert_eq!(open.len(), 1, "only the session is open");
    let listed = s.call(ApiEvent::list_sessions().user(user.as_str())).await;
    assert_eq!(
        listed.json["sessions"].as_array().map(Vec::len),
        Some(1),
        "{}",
        listed.json
    );
}
