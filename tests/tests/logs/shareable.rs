//! A shareable URL is a bearer link: no log line of a request carries it, not on the create
//! that made it, not on the owner's reads that hand it back (issue #21).

use serde_json::json;
use testkit::apigw::ApiEvent;
use testkit::log_capture::capture_logs;
use testkit::stack::Stack;

#[tokio::test]
async fn no_log_line_carries_the_shareable_url() {
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let (logs, guard) = capture_logs();
    let a = s
        .call(
            ApiEvent::post_sessions()
                .user("link-owner")
                .json(&json!({"is_shareable": true, "gave_consent": true})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    let id = a.json["id"].as_str().unwrap().to_string();
    let url = a.json["shareable_url"].as_str().unwrap().to_string();
    let live = s
        .call(
            ApiEvent::get_session(&id)
                .user("link-owner")
                .query("refresh", "true"),
        )
        .await;
    assert_eq!(live.json["shareable_url"], url.as_str());
    drop(guard);
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains(&id), "the lines were captured: {logs}");
    let key = url.split_once("?key=").unwrap().1;
    assert!(!logs.contains(key), "{logs}");
    assert!(!logs.contains("/verify/"), "{logs}");
}
