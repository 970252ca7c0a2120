//! The scheduled reconciliation: lost webhooks recovered, the app's expiry window applied,
//! bounded Plaid calls, and a stop at Plaid's rate limit.

use shared::plaid::types::IdvStatus;
use testkit::emulator::endpoints::IDV_GET as GET;
use testkit::emulator::{Fault, FinishOutcome};
use testkit::stack::Stack;

#[tokio::test]
async fn a_lost_webhook_is_recovered() {
    let s = Stack::start().await;
    let id = s.start_session("lou").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    s.take_new_webhooks(); // lost: Plaid gave up after 24 hours
    let early = s.reconcile().await;
    assert_eq!(early.examined, 0, "recently synced sessions are left alone");
    s.clock.advance(chrono::Duration::seconds(901));
    let report = s.reconcile().await;
    assert_eq!(
        (report.examined, report.plaid_calls, report.changed),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(s.stored(&id).await.unwrap().status, IdvStatus::Success);
    // Final now: out of the open set, never looked at again.
    s.clock.advance(chrono::Duration::seconds(901));
    assert_eq!(s.reconcile().await.examined, 0);
}

#[tokio::test]
async fn the_app_expiry_window_is_applied_with_a_ttl() {
    let s = Stack::start().await;
    let id = s.start_session("max").await;
    s.clock.advance(chrono::Duration::seconds(172_801));
    let report = s.reconcile().await;
    assert_eq!(report.app_expired, 1, "{report:?}");
    let stored = s.stored(&id).await.unwrap();
    assert_eq!(
        stored.status,
        IdvStatus::Active,
        "Plaid's status is kept as Plaid said it"
    );
    let ttl = stored.ttl.expect("an abandoned session gets a TTL");
    assert!(
        ttl > stored.expires_at.timestamp(),
        "kept for the retention period after expiry"
    );
    assert_eq!(stored.effective_status(s.clock_now()), IdvStatus::Expired);
    // Out of the open set.
    s.clock.advance(chrono::Duration::seconds(901));
    assert_eq!(s.reconcile().await.examined, 0);
}

#[tokio::test]
async fn a_result_is_never_given_a_ttl() {
    let s = Stack::start().await;
    let id = s.start_session("ned").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Failed), None)
        .await
        .unwrap();
    s.take_new_webhooks();
    s.clock.advance(chrono::Duration::seconds(172_801));
    let report = s.reconcile().await;
    assert_eq!((report.changed, report.app_expired), (1, 0), "{report:?}");
    let stored = s.stored(&id).await.unwrap();
    assert_eq!((stored.status, stored.ttl), (IdvStatus::Failed, None));
}

#[tokio::test]
async fn a_run_makes_bounded_plaid_calls() {
    let s = Stack::builder()
        .var("RECONCILE_MAX_PLAID_CALLS", "3")
        .start()
        .await;
    for i in 0..7 {
        s.start_session(&format!("user-{i}")).await;
    }
    s.clock.advance(chrono::Duration::seconds(901));
    let before = s.emulator.request_count(GET);
    let report = s.reconcile().await;
    assert_eq!(report.plaid_calls, 3);
    assert_eq!(s.emulator.request_count(GET) - before, 3);
    // The next runs pick up the rest, oldest sync first.
    let second = s.reconcile().await;
    assert_eq!(second.plaid_calls, 3);
}

#[tokio::test]
async fn a_rate_limit_stops_the_run() {
    let s = Stack::start().await;
    for i in 0..4 {
        s.start_session(&format!("rl-{i}")).await;
    }
    s.clock.advance(chrono::Duration::seconds(901));
    s.emulator
        .inject_fault(Fault {
            endpoint: GET.into(),
            status: Some(429),
            count: 100,
            delay_ms: 0,
        })
        .unwrap();
    let report = s.reconcile().await;
    assert!(report.rate_limited, "{report:?}");
    assert_eq!(
        report.plaid_calls, 1,
        "no hammering once Plaid says slow down"
    );
}

#[tokio::test]
async fn two_runs_at_once_are_safe() {
    let s = Stack::start().await;
    let ids = start_three(&s).await;
    for id in &ids {
        s.emulator
            .finish(id, Some(FinishOutcome::Success), None)
            .await
            .unwrap();
    }
    s.take_new_webhooks();
    s.clock.advance(chrono::Duration::seconds(901));
    let (a, b) = tokio::join!(s.reconcile(), s.reconcile());
    assert_eq!(a.errors + b.errors, 0);
    for id in &ids {
        assert_eq!(s.stored(id).await.unwrap().status, IdvStatus::Success);
    }
}

async fn start_three(s: &Stack) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(s.start_session(&format!("twice-{i}")).await);
    }
    ids
}
