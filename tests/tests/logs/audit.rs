//! The audit trail of reviewer reads (issue #12). In the `logs` binary, one capture test at a
//! time: log capture with a thread-local subscriber is only reliable when no other test
//! registers the same call sites concurrently.

use testkit::apigw::ApiEvent;
use testkit::emulator::FinishOutcome;
use testkit::log_capture::{capture_logs, capture_logs_at};
use testkit::stack::Stack;
use tracing_subscriber::filter::LevelFilter;

#[tokio::test]
async fn each_reviewer_read_writes_an_audit_line_without_pii() {
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let id = s.start_session("audit-owner").await;
    s.finish_and_deliver(&id, FinishOutcome::Success).await;

    let (logs, guard) = capture_logs();
    let full = s
        .call(
            ApiEvent::get_session(&id)
                .user("rev-1")
                .scope("openid idv/review")
                .query("view", "full"),
        )
        .await;
    assert_eq!(full.status, 200, "{}", full.json);
    let plain = s
        .call(ApiEvent::get_session(&id).user("rev-1").scope("idv/review"))
        .await;
    assert_eq!(plain.status, 200, "{}", plain.json);
    // The owner's own summary read is not a back-office read.
    let own = s.call(ApiEvent::get_session(&id).user("audit-owner")).await;
    assert_eq!(own.status, 200);
    drop(guard);

    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    let audit: Vec<_> = logs.lines().filter(|l| l.contains("audit")).collect();
    assert_eq!(audit.len(), 2, "{logs}");
    for line in &audit {
        assert!(line.contains("reviewer_sub=rev-1"), "{line}");
        assert!(line.contains(&format!("idv_id={id}")), "{line}");
        assert!(
            !line.contains("audit-owner"),
            "nothing about the person: {line}"
        );
    }
    assert!(
        audit[0].contains("view=\"full\"") || audit[0].contains("view=full"),
        "{}",
        audit[0]
    );
    // Nothing of Plaid's result reaches any log line.
    for word in ["Knope", "Leslie", "1975-01-18", "Pawnee"] {
        assert!(!logs.contains(word), "{word} logged");
    }
}

#[tokio::test]
async fn the_audit_line_is_written_whatever_the_log_level() {
    let _turn = super::ONE_AT_A_TIME.lock().await;
    let s = Stack::start().await;
    let id = s.start_session("quiet-owner").await;
    s.finish_and_deliver(&id, FinishOutcome::Success).await;
    for level in [LevelFilter::WARN, LevelFilter::ERROR, LevelFilter::OFF] {
        let (logs, guard) = capture_logs_at(level);
        let a = s
            .call(ApiEvent::get_session(&id).user("rev-q").scope("idv/review"))
            .await;
        assert_eq!(a.status, 200, "{}", a.json);
        // The owner's own read is not audited, and its INFO request line is filtered out.
        assert_eq!(
            s.call(ApiEvent::get_session(&id).user("quiet-owner"))
                .await
                .status,
            200
        );
        drop(guard);
        let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
        let audit: Vec<_> = logs.lines().filter(|l| l.contains("audit")).collect();
        assert_eq!(audit.len(), 1, "{level}: {logs}");
        assert!(audit[0].contains("reviewer_sub=rev-q"), "{}", audit[0]);
        assert!(audit[0].contains(&format!("idv_id={id}")), "{}", audit[0]);
        assert!(
            !logs.contains("route="),
            "{level}: the level still applies to everything else: {logs}"
        );
    }
}
