//! The owner fetches their open session's `shareable_url` again (issue #21): from Plaid, on a
//! live read, never stored, never to another caller.

use serde_json::json;
use testkit::apigw::ApiEvent;
use testkit::emulator::FinishOutcome;
use testkit::stack::Stack;

async fn shareable(s: &Stack, user: &str) -> (String, String) {
    let a = s
        .call(
            ApiEvent::post_sessions()
                .user(user)
                .json(&json!({"is_shareable": true, "gave_consent": true})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let url = a.json["shareable_url"]
        .as_str()
        .expect("the link on create");
    (a.json["id"].as_str().unwrap().to_string(), url.to_string())
}

#[tokio::test]
async fn the_owner_gets_the_link_again_on_a_live_read_and_nobody_else_does() {
    let s = Stack::start().await;
    let (id, url) = shareable(&s, "sam").await;

    // From the store alone there is no link: it is not kept.
    let stored = s.call(ApiEvent::get_session(&id).user("sam")).await;
    assert_eq!(stored.status, 200);
    assert!(
        stored.json.get("shareable_url").is_none(),
        "{}",
        stored.json
    );
    let record = s.stored(&id).await.unwrap();
    assert!(!format!("{record:?}").contains(url.split_once("?key=").unwrap().1));

    let live = s
        .call(
            ApiEvent::get_session(&id)
                .user("sam")
                .query("refresh", "true"),
        )
        .await;
    assert_eq!(live.status, 200, "{}", live.json);
    assert_eq!(live.json["shareable_url"], url.as_str());

    // A reviewer reading it live (another user) never gets it.
    s.clock
        .advance(shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1));
    let reviewer = s
        .call(
            ApiEvent::get_session(&id)
                .user("rev")
                .scope("idv/review")
                .query("refresh", "true"),
        )
        .await;
    assert_eq!(reviewer.status, 200, "{}", reviewer.json);
    assert!(
        reviewer.json.get("shareable_url").is_none(),
        "{}",
        reviewer.json
    );
    // Another user: 404, as always.
    let other = s
        .call(
            ApiEvent::get_session(&id)
                .user("eve")
                .query("refresh", "true"),
        )
        .await;
    assert_eq!(other.status, 404);
    // Not in the list either.
    let list = s.call(ApiEvent::list_sessions().user("sam")).await;
    assert!(list.json["sessions"][0].get("shareable_url").is_none());

    // Once finished the link is of no use: not handed back.
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    s.clock
        .advance(shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1));
    let done = s
        .call(
            ApiEvent::get_session(&id)
                .user("sam")
                .query("refresh", "true"),
        )
        .await;
    assert_eq!(done.json["status"], "success");
    assert!(done.json.get("shareable_url").is_none(), "{}", done.json);
}

#[tokio::test]
async fn a_session_that_is_not_shareable_has_no_link() {
    let s = Stack::start().await;
    let id = s.start_session("nolink").await;
    let live = s
        .call(
            ApiEvent::get_session(&id)
                .user("nolink")
                .query("refresh", "true"),
        )
        .await;
    assert_eq!(live.status, 200);
    assert!(live.json.get("shareable_url").is_none(), "{}", live.json);
}
