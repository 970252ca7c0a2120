//! The scheduled reconciliation: lost webhooks recovered, the app's expiry window applied,
//! bounded Plaid calls, and a stop at Plaid's rate limit.

use shared::ids::IdvId;
use shared::plaid::types::IdvStatus;
use shared::store::OpenShards;
use std::collections::HashSet;
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
    // The window (SESSION_TTL_SECONDS, 48 h by default) runs from Plaid's created_at.
    let started = s.stored(&id).await.unwrap();
    assert_eq!(
        started.expires_at - started.created_at,
        chrono::Duration::seconds(172_800),
        "expires_at is created_at plus the window"
    );
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
    finish_unheard(&s, &ids).await;
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

/// The raw `open_shard` of a session's item (None once it left the open index).
async fn open_shard_of(s: &Stack, id: &str) -> Option<String> {
    let item = crate::store::raw_item(s.ctx.store.client(), s.ctx.store.table(), id).await;
    item.get("open_shard")
        .map(|v| v.as_s().expect("a string shard").clone())
}

/// Put a session's index entry in partition `value`, as an earlier version (`open`) or
/// another shard count would have written it.
async fn move_to_shard(s: &Stack, id: &str, value: &str) {
    testkit::localstack::move_to_open_shard(s.ctx.store.client(), s.ctx.store.table(), id, value)
        .await;
}

/// Each session's user finishes it with success, and every webhook about it is lost.
async fn finish_unheard(s: &Stack, ids: &[String]) {
    for id in ids {
        s.emulator
            .finish(id, Some(FinishOutcome::Success), None)
            .await
            .unwrap();
    }
    s.take_new_webhooks();
}

async fn start_many(s: &Stack, tag: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(s.start_session(&format!("{tag}-{i}")).await);
    }
    ids
}

#[tokio::test]
async fn sessions_on_every_shard_are_refreshed_and_then_expired() {
    let s = Stack::builder()
        .var("OPEN_SESSION_SHARDS", "4")
        .start()
        .await;
    let shards = OpenShards::new(4).unwrap();
    let ids = start_many(&s, "spread", 12).await;
    let mut used = HashSet::new();
    for id in &ids {
        let shard = open_shard_of(&s, id)
            .await
            .expect("an open session is indexed");
        assert_eq!(shard, shards.value_of(&IdvId::parse(id).unwrap()));
        used.insert(shard);
    }
    assert!(used.len() >= 2, "12 sessions over 4 shards: {used:?}");

    // Half finish while their webhooks are lost; the other half are abandoned.
    let (finished, abandoned) = ids.split_at(6);
    finish_unheard(&s, finished).await;
    s.clock.advance(chrono::Duration::seconds(901));
    let report = s.reconcile().await;
    assert_eq!(
        (
            report.examined,
            report.plaid_calls,
            report.changed,
            report.errors
        ),
        (12, 12, 6, 0),
        "{report:?}"
    );
    for id in finished {
        assert_eq!(s.stored(id).await.unwrap().status, IdvStatus::Success);
        assert_eq!(open_shard_of(&s, id).await, None);
    }
    s.clock.advance(chrono::Duration::seconds(172_801));
    let report = s.reconcile().await;
    assert_eq!(report.app_expired, 6, "{report:?}");
    for id in abandoned {
        assert!(s.stored(id).await.unwrap().ttl.is_some(), "{id}");
        assert_eq!(open_shard_of(&s, id).await, None);
    }
}

#[tokio::test]
async fn items_written_before_sharding_are_reconciled() {
    let s = Stack::builder()
        .var("OPEN_SESSION_SHARDS", "8")
        .start()
        .await;
    let ids = start_many(&s, "legacy", 6).await;
    // Half as the unsharded version wrote them: every open session under `open`.
    for id in &ids[..3] {
        move_to_shard(&s, id, "open").await;
    }
    finish_unheard(&s, &ids).await;
    s.clock.advance(chrono::Duration::seconds(901));
    let report = s.reconcile().await;
    assert_eq!((report.examined, report.changed), (6, 6), "{report:?}");
    for id in &ids {
        assert_eq!(s.stored(id).await.unwrap().status, IdvStatus::Success);
    }
}

#[tokio::test]
async fn lowering_the_shard_count_strands_no_session() {
    let mut s = Stack::builder()
        .var("OPEN_SESSION_SHARDS", "16")
        .start()
        .await;
    let ids = start_many(&s, "lower", 8).await;
    let mut used = HashSet::new();
    for id in &ids {
        used.insert(open_shard_of(&s, id).await.unwrap());
    }
    assert!(used.len() >= 2, "8 sessions over 16 shards: {used:?}");
    // Redeployed (or rolled back) with a single shard.
    let one = OpenShards::new(1).unwrap();
    s.ctx.config.open_session_shards = one;
    s.ctx.store = s.ctx.store.clone().with_open_shards(one);
    finish_unheard(&s, &ids).await;
    s.clock.advance(chrono::Duration::seconds(901));
    let report = s.reconcile().await;
    assert_eq!((report.examined, report.changed), (8, 8), "{report:?}");
    // New sessions go to the one shard, `open`, and are read beside the old ones.
    let new = s.start_session("lower-new").await;
    assert_eq!(open_shard_of(&s, &new).await.as_deref(), Some("open"));
}

#[tokio::test]
async fn a_big_shard_does_not_starve_the_others() {
    let s = Stack::builder()
        .var("OPEN_SESSION_SHARDS", "4")
        .var("RECONCILE_MAX_PLAID_CALLS", "3")
        .start()
        .await;
    // A backlog in one partition (the legacy `open` one after an upgrade, say), all synced
    // before the two sessions of the other shards.
    let backlog = start_many(&s, "backlog", 5).await;
    for id in &backlog {
        move_to_shard(&s, id, "open").await;
    }
    s.clock.advance(chrono::Duration::seconds(60));
    let others = start_many(&s, "other", 2).await;
    move_to_shard(&s, &others[0], "open#1").await;
    move_to_shard(&s, &others[1], "open#2").await;
    s.clock.advance(chrono::Duration::seconds(901));
    let backlog_before = synced_ats(&s, &backlog).await;
    let others_before = synced_ats(&s, &others).await;

    let report = s.reconcile().await;
    assert_eq!(report.plaid_calls, 3, "{report:?}");
    // Oldest first across the index would have spent all three calls on the backlog; in turns,
    // each shard's stalest session is read.
    let refreshed = |before: &[chrono::DateTime<chrono::Utc>], after: Vec<_>| {
        after.iter().zip(before).filter(|(a, b)| a > b).count()
    };
    assert_eq!(refreshed(&others_before, synced_ats(&s, &others).await), 2);
    assert_eq!(
        refreshed(&backlog_before, synced_ats(&s, &backlog).await),
        1
    );
}

async fn synced_ats(s: &Stack, ids: &[String]) -> Vec<chrono::DateTime<chrono::Utc>> {
    let mut out = Vec::new();
    for id in ids {
        out.push(s.stored(id).await.unwrap().synced_at);
    }
    out
}
