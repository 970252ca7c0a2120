//! `DynamoStore` against moto with the real AWS SDK, on tables created from
//! `infra/template.yaml`. Each test gets its own table, so they run in parallel on one server.

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};
use shared::aws::sdk_timeouts;
use shared::ids::{ClientUserId, IdvId, TemplateId};
use shared::plaid::types::{IdvStatus, StepStatus, Steps};
use shared::session::record::SessionRecord;
use shared::store::dynamo::DynamoStore;
use shared::store::shard::MAX_OPEN_SHARDS;
use shared::store::{
    InsertOutcome, OpenShards, SessionStore, SnapshotOutcome, StoreError, UpdateOutcome,
};
use std::collections::HashSet;
use testkit::localstack;

const TEMPLATE: &str = "idvtmp_4FrXJvfQU3zGUR";
const OTHER_TEMPLATE: &str = "idvtmp_other";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 5, 1, 10, 0, 0).unwrap()
}

fn at(minutes: i64) -> DateTime<Utc> {
    t0() + Duration::minutes(minutes)
}

fn steps(status: IdvStatus) -> Steps {
    let done = if status == IdvStatus::Active {
        StepStatus::Active
    } else {
        StepStatus::Success
    };
    Steps {
        accept_tos: StepStatus::Success,
        verify_sms: done,
        kyc_check: StepStatus::WaitingForPrerequisite,
        documentary_verification: StepStatus::NotApplicable,
        selfie_check: StepStatus::NotApplicable,
        watchlist_screening: StepStatus::WaitingForPrerequisite,
        risk_check: StepStatus::WaitingForPrerequisite,
    }
}

/// A session created at `created` (minutes after t0), last read from Plaid at `synced`, with
/// a two-day app window.
fn record(
    id: &str,
    user: &str,
    template: &str,
    status: IdvStatus,
    created: i64,
    synced: i64,
) -> SessionRecord {
    SessionRecord {
        id: IdvId::parse(id).unwrap(),
        client_user_id: ClientUserId::parse(user).unwrap(),
        template_id: TemplateId::parse(template).unwrap(),
        status,
        steps: steps(status),
        previous_attempt_id: None,
        created_at: at(created),
        completed_at: status.is_final().then(|| at(synced)),
        updated_at: at(synced),
        synced_at: at(synced),
        expires_at: at(created) + Duration::days(2),
        ttl: None,
    }
}

/// The same session re-read from Plaid at `synced` with `status`.
fn snapshot(base: &SessionRecord, status: IdvStatus, synced: i64) -> SessionRecord {
    SessionRecord {
        status,
        steps: steps(status),
        completed_at: status.is_final().then(|| at(synced)),
        updated_at: at(synced),
        synced_at: at(synced),
        ..base.clone()
    }
}

async fn store(prefix: &str) -> (DynamoStore, aws_sdk_dynamodb::Client, String) {
    let (client, table) = localstack::fresh_table(prefix).await;
    (DynamoStore::new(client.clone(), &table), client, table)
}

pub(crate) async fn raw_item(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    id: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    client
        .get_item()
        .table_name(table)
        .key("id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("item exists")
}

/// Save a snapshot that must be written; what comes back is what the store now holds.
async fn saved(store: &DynamoStore, r: &SessionRecord) -> SessionRecord {
    match store.save_snapshot(r).await.unwrap() {
        SnapshotOutcome::Written(back) => {
            assert_eq!(store.get(&r.id).await.unwrap().as_ref(), Some(&back));
            back
        }
        other => panic!("expected the snapshot written, got {other:?}"),
    }
}

/// Save a snapshot that must be refused; what comes back is the stored record, unchanged.
async fn refused(store: &DynamoStore, r: &SessionRecord) -> SessionRecord {
    let before = store.get(&r.id).await.unwrap().expect("a stored record");
    match store.save_snapshot(r).await.unwrap() {
        SnapshotOutcome::Rejected(Some(stored)) => {
            assert_eq!(stored, before);
            assert_eq!(store.get(&r.id).await.unwrap(), Some(before));
            stored
        }
        other => panic!("expected the snapshot refused, got {other:?}"),
    }
}

fn user(s: &str) -> ClientUserId {
    ClientUserId::parse(s).unwrap()
}

fn template(s: &str) -> TemplateId {
    TemplateId::parse(s).unwrap()
}

fn idv(s: &str) -> IdvId {
    IdvId::parse(s).unwrap()
}

#[tokio::test]
async fn insert_is_create_only_and_returns_the_winner() {
    let (store, client, table) = store("insert").await;
    let first = record("idv_a", "alice", TEMPLATE, IdvStatus::Active, 0, 0);
    assert_eq!(store.insert(&first).await.unwrap(), InsertOutcome::Inserted);

    let second = snapshot(&first, IdvStatus::Success, 5);
    assert_eq!(
        store.insert(&second).await.unwrap(),
        InsertOutcome::AlreadyExists(first.clone())
    );
    assert_eq!(store.get(&first.id).await.unwrap(), Some(first));

    // The stored layout the indexes rely on.
    let item = raw_item(&client, &table, "idv_a").await;
    assert_eq!(
        item["user_template"],
        AttributeValue::S(format!("alice#{TEMPLATE}"))
    );
    assert_eq!(
        item["created_at"],
        AttributeValue::S("2030-05-01T10:00:00.000Z".into())
    );
    // The default four shards put idv_a in shard 3 (pinned in `store::shard`).
    assert_eq!(item["open_shard"], AttributeValue::S("open#3".into()));
    assert!(!item.contains_key("ttl"));
    assert!(store.get(&idv("idv_missing")).await.unwrap().is_none());
}

#[tokio::test]
async fn snapshots_apply_only_when_newer() {
    let (store, _, _) = store("stale").await;
    let stored = record("idv_s", "alice", TEMPLATE, IdvStatus::Active, 0, 10);
    store.insert(&stored).await.unwrap();

    let older = snapshot(&stored, IdvStatus::PendingReview, 5);
    refused(&store, &older).await;
    let same_time = snapshot(&stored, IdvStatus::PendingReview, 10);
    refused(&store, &same_time).await;
    assert_eq!(store.get(&stored.id).await.unwrap(), Some(stored.clone()));

    let newer = snapshot(&stored, IdvStatus::PendingReview, 20);
    saved(&store, &newer).await;
    assert_eq!(store.get(&stored.id).await.unwrap(), Some(newer));
}

#[tokio::test]
async fn save_snapshot_creates_an_absent_session() {
    let (store, _, _) = store("upsert").await;
    let r = record("idv_new", "alice", TEMPLATE, IdvStatus::Active, 0, 1);
    saved(&store, &r).await;
    assert_eq!(store.get(&r.id).await.unwrap(), Some(r.clone()));
    assert_eq!(store.open_sessions(at(100), 10).await.unwrap(), vec![r]);
}

#[tokio::test]
async fn a_final_status_never_goes_back_to_active() {
    let (store, client, table) = store("regress").await;
    let done = record("idv_f", "alice", TEMPLATE, IdvStatus::Success, 0, 10);
    store.insert(&done).await.unwrap();

    let late_active = snapshot(&done, IdvStatus::Active, 30);
    refused(&store, &late_active).await;
    let late_review = snapshot(&done, IdvStatus::PendingReview, 31);
    refused(&store, &late_review).await;
    assert_eq!(store.get(&done.id).await.unwrap(), Some(done));
    assert!(
        !raw_item(&client, &table, "idv_f")
            .await
            .contains_key("open_shard")
    );
}

#[tokio::test]
async fn a_final_status_can_become_another_final_status() {
    // A reviewer in the Plaid Dashboard can overturn a result.
    let (store, _, _) = store("override").await;
    let failed = record("idv_o", "alice", TEMPLATE, IdvStatus::Failed, 0, 10);
    store.insert(&failed).await.unwrap();
    let overridden = snapshot(&failed, IdvStatus::Success, 40);
    saved(&store, &overridden).await;
    assert_eq!(
        store.get(&failed.id).await.unwrap().unwrap().status,
        IdvStatus::Success
    );
}

#[tokio::test]
async fn updates_keep_what_only_the_app_owns() {
    let (store, _, _) = store("preserve").await;
    let mut first = record("idv_p", "alice", TEMPLATE, IdvStatus::Active, 0, 1);
    first.previous_attempt_id = Some(idv("idv_prev"));
    store.insert(&first).await.unwrap();
    assert!(store.claim_retry(&first.id, at(60), at(2)).await.unwrap());

    // A snapshot built without the stored record: other window, other creation time, another
    // previous attempt, a TTL. None of those may overwrite the stored values.
    let mut careless = snapshot(&first, IdvStatus::PendingReview, 5);
    careless.expires_at = at(5) + Duration::days(30);
    careless.created_at = at(3);
    careless.previous_attempt_id = Some(idv("idv_other"));
    careless.ttl = Some(1);
    let back = saved(&store, &careless).await;
    assert_eq!(back.expires_at, first.expires_at);
    assert_eq!(back.previous_attempt_id, Some(idv("idv_prev")));
    let mut without_prev = snapshot(&first, IdvStatus::PendingReview, 6);
    without_prev.previous_attempt_id = None;
    saved(&store, &without_prev).await;

    let stored = store.get(&first.id).await.unwrap().unwrap();
    assert_eq!(stored.expires_at, first.expires_at);
    assert_eq!(stored.created_at, first.created_at);
    assert_eq!(stored.previous_attempt_id, Some(idv("idv_prev")));
    assert_eq!(stored.ttl, None);
    assert_eq!(stored.status, IdvStatus::PendingReview);
    assert_eq!(stored.synced_at, at(6));
    // The retry claim survived both updates.
    assert!(!store.claim_retry(&first.id, at(90), at(7)).await.unwrap());
}

#[tokio::test]
async fn a_snapshot_for_another_owner_is_refused() {
    let (store, _, _) = store("owner").await;
    let mine = record("idv_m", "alice", TEMPLATE, IdvStatus::Active, 0, 1);
    store.insert(&mine).await.unwrap();
    let mut theirs = snapshot(&mine, IdvStatus::Success, 9);
    theirs.client_user_id = user("mallory");
    refused(&store, &theirs).await;
    assert_eq!(store.get(&mine.id).await.unwrap(), Some(mine));
}

#[tokio::test]
async fn reads_apply_the_app_expiry() {
    let (store, _, _) = store("expiry").await;
    let r = record("idv_e", "alice", TEMPLATE, IdvStatus::Active, 0, 0);
    store.insert(&r).await.unwrap();
    let read = store.get(&r.id).await.unwrap().unwrap();
    assert_eq!(
        read.effective_status(r.expires_at - Duration::seconds(1)),
        IdvStatus::Active
    );
    assert_eq!(read.effective_status(r.expires_at), IdvStatus::Expired);
    assert_eq!(
        read.effective_status(r.expires_at + Duration::days(9)),
        IdvStatus::Expired
    );

    let done = record("idv_done", "alice", TEMPLATE, IdvStatus::Success, 0, 5);
    store.insert(&done).await.unwrap();
    let read = store.get(&done.id).await.unwrap().unwrap();
    assert_eq!(
        read.effective_status(done.expires_at + Duration::days(9)),
        IdvStatus::Success
    );
}

#[tokio::test]
async fn latest_for_is_the_newest_attempt_of_that_user_and_template() {
    let (store, _, _) = store("latest").await;
    let mut attempts = vec![
        record("idv_2", "alice", TEMPLATE, IdvStatus::Failed, 20, 21),
        record("idv_1", "alice", TEMPLATE, IdvStatus::Failed, 10, 11),
        record("idv_3", "alice", TEMPLATE, IdvStatus::Active, 30, 31),
        // Newer, but another template or another user.
        record("idv_x", "alice", OTHER_TEMPLATE, IdvStatus::Active, 50, 50),
        record("idv_y", "bob", TEMPLATE, IdvStatus::Active, 60, 60),
    ];
    attempts[2].previous_attempt_id = Some(idv("idv_2"));
    for r in &attempts {
        store.insert(r).await.unwrap();
    }
    let latest = store
        .latest_for(&user("alice"), &template(TEMPLATE))
        .await
        .unwrap();
    assert_eq!(latest, Some(attempts[2].clone()));
    let other = store
        .latest_for(&user("alice"), &template(OTHER_TEMPLATE))
        .await
        .unwrap();
    assert_eq!(other.map(|r| r.id), Some(idv("idv_x")));
    assert_eq!(
        store
            .latest_for(&user("carol"), &template(TEMPLATE))
            .await
            .unwrap(),
        None
    );
    // A user id that ends like another's index key must not see it.
    assert_eq!(
        store
            .latest_for(&user("alice#idvtmp"), &template("x"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn list_for_user_pages_newest_first() {
    let (store, _, _) = store("list").await;
    for i in 0..7 {
        let tmpl = if i % 2 == 0 { TEMPLATE } else { OTHER_TEMPLATE };
        store
            .insert(&record(
                &format!("idv_l{i}"),
                "alice",
                tmpl,
                IdvStatus::Active,
                i * 10,
                i * 10,
            ))
            .await
            .unwrap();
    }
    store
        .insert(&record(
            "idv_bob",
            "bob",
            TEMPLATE,
            IdvStatus::Active,
            35,
            35,
        ))
        .await
        .unwrap();

    let alice = user("alice");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_for_user(&alice, None, 3, cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|r| r.id.to_string()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages < 10, "paging does not terminate");
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        [
            "idv_l6", "idv_l5", "idv_l4", "idv_l3", "idv_l2", "idv_l1", "idv_l0"
        ]
    );

    // One template only, also paged.
    let first = store
        .list_for_user(&alice, Some(&template(TEMPLATE)), 2, None)
        .await
        .unwrap();
    let ids: Vec<_> = first.items.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, ["idv_l6", "idv_l4"]);
    let rest = store
        .list_for_user(
            &alice,
            Some(&template(TEMPLATE)),
            2,
            first.next_cursor.as_deref(),
        )
        .await
        .unwrap();
    let ids: Vec<_> = rest.items.iter().map(|r| r.id.to_string()).collect();
    assert_eq!(ids, ["idv_l2", "idv_l0"]);
    assert_eq!(rest.next_cursor, None);

    // An exact fit ends without a cursor to an empty page.
    let all = store.list_for_user(&alice, None, 7, None).await.unwrap();
    assert_eq!((all.items.len(), all.next_cursor), (7, None));
    let nobody = store
        .list_for_user(&user("carol"), None, 5, None)
        .await
        .unwrap();
    assert!(nobody.items.is_empty() && nobody.next_cursor.is_none());
}

#[tokio::test]
async fn a_cursor_only_pages_its_owners_sessions() {
    let (store, _, _) = store("cursor").await;
    for i in 0..4 {
        store
            .insert(&record(
                &format!("idv_b{i}"),
                "bob",
                TEMPLATE,
                IdvStatus::Active,
                i,
                i,
            ))
            .await
            .unwrap();
        store
            .insert(&record(
                &format!("idv_a{i}"),
                "alice",
                TEMPLATE,
                IdvStatus::Active,
                i,
                i,
            ))
            .await
            .unwrap();
    }
    let bob_page = store
        .list_for_user(&user("bob"), None, 2, None)
        .await
        .unwrap();
    let bob_cursor = bob_page.next_cursor.expect("bob has a second page");
    let alice = user("alice");
    assert!(matches!(
        store
            .list_for_user(&alice, None, 2, Some(&bob_cursor))
            .await,
        Err(StoreError::BadCursor)
    ));

    // A hand-made cursor naming bob's partition, and one for the wrong index.
    let forged = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"id": "idv_b3", "created_at": "2030-05-01T10:03:00.000Z", "client_user_id": "bob"})
            .to_string(),
    );
    assert!(matches!(
        store.list_for_user(&alice, None, 2, Some(&forged)).await,
        Err(StoreError::BadCursor)
    ));
    let alice_page = store.list_for_user(&alice, None, 2, None).await.unwrap();
    let alice_cursor = alice_page.next_cursor.unwrap();
    assert!(matches!(
        store
            .list_for_user(&alice, Some(&template(TEMPLATE)), 2, Some(&alice_cursor))
            .await,
        Err(StoreError::BadCursor)
    ));
    for garbage in ["", "not base64!", "e30", "W10"] {
        assert!(
            matches!(
                store.list_for_user(&alice, None, 2, Some(garbage)).await,
                Err(StoreError::BadCursor)
            ),
            "{garbage:?}"
        );
    }
    // Alice's own cursor works and stays in her partition.
    let next = store
        .list_for_user(&alice, None, 2, Some(&alice_cursor))
        .await
        .unwrap();
    assert!(next.items.iter().all(|r| r.client_user_id == alice));
    assert_eq!(next.items.len(), 2);
}

#[tokio::test]
async fn open_sessions_holds_only_unfinished_unexpired_sessions() {
    // One shard: the order below is the index's own, oldest sync first (across shards a batch
    // is taken in turns, see `a_batch_is_shared_between_a_big_shard_and_small_ones`).
    let (store, _, _) = store("open").await;
    let store = store.with_open_shards(OpenShards::new(1).unwrap());
    let a = record("idv_oa", "u1", TEMPLATE, IdvStatus::Active, 0, 30);
    let b = record("idv_ob", "u2", TEMPLATE, IdvStatus::PendingReview, 0, 10);
    let c = record("idv_oc", "u3", TEMPLATE, IdvStatus::Active, 0, 20);
    let done = record("idv_od", "u4", TEMPLATE, IdvStatus::Success, 0, 5);
    let fresh = record("idv_of", "u5", TEMPLATE, IdvStatus::Active, 0, 90);
    let expired = record("idv_ox", "u6", TEMPLATE, IdvStatus::Active, -5000, 1);
    let finishing = record("idv_og", "u7", TEMPLATE, IdvStatus::Active, 0, 2);
    for r in [&a, &b, &c, &done, &fresh, &expired, &finishing] {
        store.insert(r).await.unwrap();
    }
    assert_eq!(
        store
            .mark_app_expired(&expired.id, 4_000_000_000, at(60))
            .await
            .unwrap(),
        UpdateOutcome::Written
    );
    let finished = snapshot(&finishing, IdvStatus::Failed, 40);
    saved(&store, &finished).await;

    let open = store.open_sessions(at(60), 10).await.unwrap();
    let ids: Vec<_> = open.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["idv_ob", "idv_oc", "idv_oa"]);
    let first = store.open_sessions(at(60), 1).await.unwrap();
    assert_eq!(first, vec![b.clone()]);
    assert!(store.open_sessions(at(60), 0).await.unwrap().is_empty());
    assert!(store.open_sessions(at(10), 10).await.unwrap().is_empty());

    // A fresher snapshot moves a session to the back of the queue.
    let refreshed = snapshot(&b, IdvStatus::PendingReview, 50);
    store.save_snapshot(&refreshed).await.unwrap();
    let ids: Vec<_> = store
        .open_sessions(at(60), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    assert_eq!(ids, ["idv_oc", "idv_oa", "idv_ob"]);
}

#[tokio::test]
async fn mark_app_expired_sets_ttl_and_leaves_the_open_index() {
    let (store, client, table) = store("mark").await;
    let r = record("idv_ma", "alice", TEMPLATE, IdvStatus::Active, 0, 1);
    store.insert(&r).await.unwrap();
    let after_window = r.expires_at + Duration::minutes(1);
    let ttl = (after_window + Duration::days(30)).timestamp();

    // Still inside its window: not expired.
    assert_eq!(
        store
            .mark_app_expired(&r.id, ttl, r.expires_at - Duration::minutes(1))
            .await
            .unwrap(),
        UpdateOutcome::Rejected
    );
    assert_eq!(
        store
            .mark_app_expired(&r.id, ttl, after_window)
            .await
            .unwrap(),
        UpdateOutcome::Written
    );
    let item = raw_item(&client, &table, "idv_ma").await;
    assert_eq!(item["ttl"], AttributeValue::N(ttl.to_string()));
    assert!(!item.contains_key("open_shard"));
    let stored = store.get(&r.id).await.unwrap().unwrap();
    assert_eq!((stored.ttl, stored.status), (Some(ttl), IdvStatus::Active));
    assert_eq!(stored.effective_status(after_window), IdvStatus::Expired);
    assert!(
        store
            .open_sessions(after_window, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Only once.
    assert_eq!(
        store
            .mark_app_expired(&r.id, ttl, after_window)
            .await
            .unwrap(),
        UpdateOutcome::Rejected
    );

    // Plaid keeps saying active (it no longer expires sessions): the newer snapshot is stored,
    // but the session stays out of the open index and keeps its TTL.
    let still_active = snapshot(&r, IdvStatus::Active, 3000);
    saved(&store, &still_active).await;
    assert!(
        store
            .open_sessions(at(10_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.get(&r.id).await.unwrap().unwrap().ttl, Some(ttl));

    // The user finishes anyway: a result is never left to TTL.
    let late_result = snapshot(&r, IdvStatus::Success, 3100);
    saved(&store, &late_result).await;
    let item = raw_item(&client, &table, "idv_ma").await;
    assert!(!item.contains_key("ttl"));
    assert_eq!(
        store
            .get(&r.id)
            .await
            .unwrap()
            .unwrap()
            .effective_status(at(10_000)),
        IdvStatus::Success
    );

    // A final session and an unknown one are never expired.
    let done = record("idv_mb", "alice", TEMPLATE, IdvStatus::Failed, 0, 1);
    store.insert(&done).await.unwrap();
    assert_eq!(
        store
            .mark_app_expired(&done.id, ttl, after_window)
            .await
            .unwrap(),
        UpdateOutcome::Rejected
    );
    assert!(
        !raw_item(&client, &table, "idv_mb")
            .await
            .contains_key("ttl")
    );
    assert_eq!(
        store
            .mark_app_expired(&idv("idv_nope"), ttl, after_window)
            .await
            .unwrap(),
        UpdateOutcome::Rejected
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_concurrent_retry_claim_wins() {
    let (store, _, _) = store("claim").await;
    let r = record("idv_c", "alice", TEMPLATE, IdvStatus::Failed, 0, 1);
    store.insert(&r).await.unwrap();

    let contenders: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let id = r.id.clone();
            tokio::spawn(async move { store.claim_retry(&id, at(10), at(2)).await })
        })
        .collect();
    let mut wins = 0;
    for c in contenders {
        if c.await.unwrap().unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);

    // Held until `until`; after that, the claim of a holder that died can be retaken once.
    assert!(!store.claim_retry(&r.id, at(20), at(9)).await.unwrap());
    assert!(store.claim_retry(&r.id, at(20), at(11)).await.unwrap());
    assert!(!store.claim_retry(&r.id, at(30), at(12)).await.unwrap());
    assert!(
        !store
            .claim_retry(&idv("idv_absent"), at(10), at(2))
            .await
            .unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_of_one_session_make_one_item() {
    let (store, _, _) = store("race").await;
    let contenders: Vec<_> = (0..16)
        .map(|i| {
            let store = store.clone();
            // Each writer read Plaid at a different moment: the winner's snapshot is the one
            // every loser gets back.
            let r = record("idv_race", "alice", TEMPLATE, IdvStatus::Active, 0, i);
            tokio::spawn(async move { (r.clone(), store.insert(&r).await.unwrap()) })
        })
        .collect();
    let mut winners = Vec::new();
    let mut returned = Vec::new();
    for c in contenders {
        match c.await.unwrap() {
            (r, InsertOutcome::Inserted) => winners.push(r),
            (_, InsertOutcome::AlreadyExists(existing)) => returned.push(existing),
        }
    }
    assert_eq!(winners.len(), 1);
    assert_eq!(returned.len(), 15);
    assert!(returned.iter().all(|r| r == &winners[0]));
    assert_eq!(
        store.get(&idv("idv_race")).await.unwrap().as_ref(),
        Some(&winners[0])
    );
}

#[tokio::test]
async fn the_table_comes_from_the_template() {
    let (_, client, table) = store("schema").await;
    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.time_to_live_status, Some(TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name.as_deref(), Some("ttl"));

    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let indexes: HashSet<_> = described
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let keys: Vec<_> = g
                .key_schema()
                .iter()
                .map(|k| k.attribute_name().to_string())
                .collect();
            (
                g.index_name().unwrap_or_default().to_string(),
                keys.join("+"),
            )
        })
        .collect();
    let expected: HashSet<_> = [
        ("by_user_template", "user_template+created_at"),
        ("by_user", "client_user_id+created_at"),
        ("open_sessions", "open_shard+synced_at"),
        ("retry_claims", "retry_claimed+retry_claim_until"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(indexes, expected);
    assert_eq!(described.key_schema()[0].attribute_name(), "id");

    // Creating it twice is a distinct, recoverable error.
    assert!(matches!(
        localstack::create_sessions_table(&client, &table).await,
        Err(localstack::LocalStackError::TableExists(_))
    ));
}

#[tokio::test]
async fn plaid_secret_is_stored_in_the_functions_shape() {
    let config = localstack::aws_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let name = format!("plaid-store-test-{}", fastrand::u64(..));
    let arn = localstack::create_plaid_secret(&client, &name, "cid", "s3cr3t")
        .await
        .unwrap();
    assert!(arn.starts_with("arn:aws:secretsmanager:"), "{arn}");
    let value = client
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(value.secret_string().unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"client_id": "cid", "secret": "s3cr3t"})
    );
}

// ---------------------------------------------------------------------------------------------
// Failure modes, against servers that are not DynamoDB.

async fn store_at(endpoint: &str) -> DynamoStore {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .timeout_config(sdk_timeouts())
        .load()
        .await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&config), "sessions")
}

#[tokio::test]
async fn an_unreachable_table_is_unavailable_in_bounded_time() {
    // A port bound and never listened on, held for the whole test: connections to it are
    // refused, and no other test can start a server on it meanwhile (a port bound and dropped
    // could be taken by one).
    let held = tokio::net::TcpSocket::new_v4().unwrap();
    held.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = held.local_addr().unwrap().port();
    let store = store_at(&format!("http://127.0.0.1:{port}")).await;
    let started = std::time::Instant::now();
    let got = store.get(&idv("idv_x")).await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    let listed = store.list_for_user(&user("alice"), None, 5, None).await;
    assert!(
        matches!(listed, Err(StoreError::Unavailable(_))),
        "{listed:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    drop(held);
}

#[tokio::test]
async fn a_silent_server_times_out_as_unavailable() {
    // Accepts connections and never answers: only the SDK timeouts end the call.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let store = store_at(&format!("http://{addr}")).await;
    let started = std::time::Instant::now();
    let got = store.get(&idv("idv_x")).await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    let bound = sdk_timeouts().operation_timeout().unwrap() + std::time::Duration::from_secs(3);
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
    hold.abort();
}

/// A server that answers every request with one DynamoDB error.
async fn failing_dynamo(
    status: u16,
    error_type: &'static str,
) -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new().fallback(move || async move {
        let body = serde_json::json!({
            "__type": format!("com.amazonaws.dynamodb.v20120810#{error_type}"),
            "message": "value alice@example.com is bad",
        })
        .to_string();
        let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        resp
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), task)
}

#[tokio::test]
async fn dynamodb_errors_map_to_store_errors_without_values() {
    let (endpoint, task) = failing_dynamo(400, "ProvisionedThroughputExceededException").await;
    let got = store_at(&endpoint).await.get(&idv("idv_x")).await;
    assert!(matches!(got, Err(StoreError::Throttled)), "{got:?}");
    task.abort();

    let (endpoint, task) = failing_dynamo(400, "ThrottlingException").await;
    let got = store_at(&endpoint)
        .await
        .claim_retry(&idv("idv_x"), at(1), at(0))
        .await;
    assert!(matches!(got, Err(StoreError::Throttled)), "{got:?}");
    task.abort();

    let (endpoint, task) = failing_dynamo(400, "ValidationException").await;
    let got = store_at(&endpoint)
        .await
        .insert(&record("idv_v", "alice", TEMPLATE, IdvStatus::Active, 0, 0))
        .await;
    match got {
        Err(StoreError::Unavailable(msg)) => {
            assert!(msg.contains("ValidationException"), "{msg}");
            assert!(!msg.contains("alice"), "{msg}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    task.abort();

    let (endpoint, task) = failing_dynamo(500, "InternalServerError").await;
    let got = store_at(&endpoint).await.open_sessions(at(0), 5).await;
    assert!(matches!(got, Err(StoreError::Unavailable(_))), "{got:?}");
    task.abort();
}

#[tokio::test]
async fn a_corrupt_item_is_reported_not_panicked() {
    let (store, client, table) = store("corrupt").await;
    let good = record("idv_good", "alice", TEMPLATE, IdvStatus::Active, 0, 1);
    store.insert(&good).await.unwrap();
    client
        .put_item()
        .table_name(&table)
        .item("id", AttributeValue::S("idv_bad".into()))
        .item("client_user_id", AttributeValue::S("alice".into()))
        .item(
            "user_template",
            AttributeValue::S(format!("alice#{TEMPLATE}")),
        )
        .item(
            "created_at",
            AttributeValue::S("2030-05-01T10:00:00.500Z".into()),
        )
        .item("open_shard", AttributeValue::S("open".into()))
        .item(
            "synced_at",
            AttributeValue::S("2030-05-01T10:00:00.000Z".into()),
        )
        .item("status", AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        store.get(&idv("idv_bad")).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(matches!(
        store.latest_for(&user("alice"), &template(TEMPLATE)).await,
        Err(StoreError::Corrupt(_))
    ));
    // Reconciliation goes on past the bad item.
    assert_eq!(store.open_sessions(at(60), 10).await.unwrap(), vec![good]);
}

#[tokio::test]
async fn latest_for_breaks_same_second_ties_by_the_retry_chain() {
    // Plaid's created_at has whole seconds: a retry can tie with the attempt it replaces.
    for order in [["idv_old", "idv_new"], ["idv_new", "idv_old"]] {
        let (store, _, _) = store("ties").await;
        let old = record("idv_old", "alice", TEMPLATE, IdvStatus::Failed, 10, 11);
        let mut new = record("idv_new", "alice", TEMPLATE, IdvStatus::Active, 10, 11);
        new.previous_attempt_id = Some(idv("idv_old"));
        for id in order {
            store
                .insert(if id == "idv_old" { &old } else { &new })
                .await
                .unwrap();
        }
        let latest = store
            .latest_for(&user("alice"), &template(TEMPLATE))
            .await
            .unwrap();
        assert_eq!(
            latest.map(|r| r.id),
            Some(idv("idv_new")),
            "inserted {order:?}"
        );
    }
}

#[tokio::test]
async fn listing_puts_a_same_second_retry_first() {
    let (store, _, _) = store("list-ties").await;
    let old = record("idv_a_old", "alice", TEMPLATE, IdvStatus::Failed, 10, 11);
    let mut new = record("idv_z_new", "alice", TEMPLATE, IdvStatus::Active, 10, 11);
    new.previous_attempt_id = Some(idv("idv_a_old"));
    store.insert(&old).await.unwrap();
    store.insert(&new).await.unwrap();
    let page = store
        .list_for_user(&user("alice"), None, 10, None)
        .await
        .unwrap();
    let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["idv_z_new", "idv_a_old"]);
}

#[tokio::test]
async fn only_the_holder_releases_a_retry_claim() {
    let (store, _, _) = store("release").await;
    let r = record("idv_rel", "alice", TEMPLATE, IdvStatus::Failed, 10, 11);
    store.insert(&r).await.unwrap();
    let mine = at(100);
    assert!(store.claim_retry(&r.id, mine, at(99)).await.unwrap());
    // Someone else's `until` does not match: the claim stays.
    store.release_retry(&r.id, at(101)).await.unwrap();
    assert!(!store.claim_retry(&r.id, at(102), at(99)).await.unwrap());
    // The holder gives it back: the next start can claim at once.
    store.release_retry(&r.id, mine).await.unwrap();
    assert!(store.claim_retry(&r.id, at(103), at(99)).await.unwrap());
}

/// The sparse `retry_claims` index holds a claim from its taking until it is settled or
/// released; `lapsed_retry_claims` gives the ones past their `until`, with the `until` a settle
/// needs, and never another holder's.
#[tokio::test]
async fn lapsed_retry_claims_come_from_their_index_until_settled_or_released() {
    let (store, _, _) = store("claims").await;
    let lapsed = |before| {
        let store = store.clone();
        async move {
            store
                .lapsed_retry_claims(before, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|c| (c.record.id.to_string(), c.until))
                .collect::<Vec<_>>()
        }
    };
    let a = record("idv_ca", "alice", TEMPLATE, IdvStatus::Failed, 0, 1);
    let b = record("idv_cb", "bob", TEMPLATE, IdvStatus::Failed, 0, 1);
    let c = record("idv_cc", "carol", TEMPLATE, IdvStatus::Failed, 0, 1);
    for r in [&a, &b, &c] {
        store.insert(r).await.unwrap();
    }
    assert!(
        lapsed(at(1000)).await.is_empty(),
        "no claim, not in the index"
    );
    assert!(store.claim_retry(&a.id, at(10), at(2)).await.unwrap());
    assert!(store.claim_retry(&b.id, at(12), at(2)).await.unwrap());
    assert!(store.claim_retry(&c.id, at(11), at(2)).await.unwrap());
    assert!(lapsed(at(10)).await.is_empty(), "none lapsed yet");
    assert_eq!(
        lapsed(at(100)).await,
        [
            ("idv_ca".to_owned(), at(10)),
            ("idv_cc".to_owned(), at(11)),
            ("idv_cb".to_owned(), at(12)),
        ],
        "oldest first"
    );
    // Settled: out of the index, but the claim still holds until it lapses.
    store.settle_retry(&a.id, at(10)).await.unwrap();
    assert!(!store.claim_retry(&a.id, at(30), at(5)).await.unwrap());
    // Released: out of the index and free at once.
    store.release_retry(&c.id, at(11)).await.unwrap();
    assert!(store.claim_retry(&c.id, at(40), at(5)).await.unwrap());
    // Another holder's `until` settles nothing.
    store.settle_retry(&b.id, at(13)).await.unwrap();
    assert_eq!(
        lapsed(at(100)).await,
        [("idv_cb".to_owned(), at(12)), ("idv_cc".to_owned(), at(40))]
    );
    // A lapsed claim taken again by a new start is the new holder's, and back in the index.
    assert!(store.claim_retry(&a.id, at(50), at(20)).await.unwrap());
    assert_eq!(lapsed(at(45)).await.len(), 2);
    assert_eq!(lapsed(at(100)).await.len(), 3);
}

#[tokio::test]
async fn a_session_in_review_is_never_app_expired_and_is_reopened() {
    let (store, client, table) = store("review").await;
    let r = record("idv_rv", "alice", TEMPLATE, IdvStatus::PendingReview, 0, 1);
    store.insert(&r).await.unwrap();
    let late = r.expires_at + Duration::days(3);
    let ttl = (late + Duration::days(30)).timestamp();
    assert_eq!(
        store.mark_app_expired(&r.id, ttl, late).await.unwrap(),
        UpdateOutcome::Rejected,
        "the reviewer decides, not the app window"
    );
    assert_eq!(store.open_sessions(late, 10).await.unwrap().len(), 1);

    // An active session that was app-expired, then reached review at Plaid: the review
    // snapshot puts it back in the open index and removes its TTL.
    let a = record("idv_rv2", "alice", TEMPLATE, IdvStatus::Active, 0, 1);
    store.insert(&a).await.unwrap();
    assert_eq!(
        store.mark_app_expired(&a.id, ttl, late).await.unwrap(),
        UpdateOutcome::Written
    );
    let back = saved(&store, &snapshot(&a, IdvStatus::PendingReview, 5000)).await;
    assert_eq!(back.ttl, None);
    let item = raw_item(&client, &table, "idv_rv2").await;
    assert!(item.contains_key("open_shard") && !item.contains_key("ttl"));

    // What an earlier version left (in review, TTL, out of the index): reopen_review repairs it,
    // and only a session in review.
    client
        .update_item()
        .table_name(&table)
        .key("id", AttributeValue::S("idv_rv".into()))
        .update_expression("REMOVE open_shard SET #ttl = :ttl")
        .expression_attribute_names("#ttl", "ttl")
        .expression_attribute_values(":ttl", AttributeValue::N(ttl.to_string()))
        .send()
        .await
        .unwrap();
    assert!(
        store
            .get(&r.id)
            .await
            .unwrap()
            .unwrap()
            .needs_review_repair()
    );
    assert_eq!(
        store.reopen_review(&r.id, late).await.unwrap(),
        UpdateOutcome::Written
    );
    let item = raw_item(&client, &table, "idv_rv").await;
    assert!(item.contains_key("open_shard") && !item.contains_key("ttl"));
    let done = record("idv_rv3", "alice", TEMPLATE, IdvStatus::Failed, 0, 1);
    store.insert(&done).await.unwrap();
    assert_eq!(
        store.reopen_review(&done.id, late).await.unwrap(),
        UpdateOutcome::Rejected
    );
}

/// Ids that `shards` puts in shard `shard`, made up in order: `idv_<tag>0`, `idv_<tag>1`, ...
fn ids_in_shard(shards: OpenShards, shard: u32, tag: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("idv_{tag}{i}"))
        .filter(|id| shards.shard_of(&idv(id)) == shard)
        .take(n)
        .collect()
}

fn ids_of(records: &[SessionRecord]) -> Vec<&str> {
    records.iter().map(|r| r.id.as_str()).collect()
}

#[tokio::test]
async fn open_sessions_are_spread_over_the_shards_by_id() {
    let (client, table) = localstack::fresh_table("shards").await;
    let shards = OpenShards::new(4).unwrap();
    let store = DynamoStore::new(client.clone(), &table).with_open_shards(shards);
    let mut written = Vec::new();
    for i in 0..12 {
        let r = record(
            &format!("idv_sp{i}"),
            &format!("u{i}"),
            TEMPLATE,
            IdvStatus::Active,
            0,
            i,
        );
        store.insert(&r).await.unwrap();
        written.push(r);
    }
    let mut values = HashSet::new();
    for r in &written {
        let item = raw_item(&client, &table, r.id.as_str()).await;
        let expected = shards.value_of(&r.id);
        assert_eq!(
            item["open_shard"],
            AttributeValue::S(expected.clone()),
            "{}",
            r.id
        );
        values.insert(expected);
    }
    assert!(values.len() >= 3, "12 ids over 4 shards: {values:?}");
    // Every one of them is found again, from whichever shard.
    let open = store.open_sessions(at(60), 100).await.unwrap();
    let mut found: Vec<_> = ids_of(&open);
    found.sort_unstable();
    let mut all: Vec<_> = ids_of(&written);
    all.sort_unstable();
    assert_eq!(found, all);
}

#[tokio::test]
async fn a_batch_is_shared_between_a_big_shard_and_small_ones() {
    let (client, table) = localstack::fresh_table("fair").await;
    let shards = OpenShards::new(4).unwrap();
    let store = DynamoStore::new(client.clone(), &table).with_open_shards(shards);
    // Shard 2 holds nine sessions, all synced before any session of shards 0, 1 and 3.
    let big = ids_in_shard(shards, 2, "big", 9);
    for (i, id) in big.iter().enumerate() {
        let r = record(
            id,
            &format!("b{i}"),
            TEMPLATE,
            IdvStatus::Active,
            0,
            i as i64 + 1,
        );
        store.insert(&r).await.unwrap();
    }
    let mut small = Vec::new();
    for (k, shard) in [0, 1, 3].into_iter().enumerate() {
        let id = ids_in_shard(shards, shard, "small", 1).remove(0);
        let r = record(
            &id,
            &format!("s{k}"),
            TEMPLATE,
            IdvStatus::Active,
            0,
            20 + k as i64,
        );
        store.insert(&r).await.unwrap();
        small.push(id);
    }

    // Oldest first across the whole index would be six of the big shard. Shared out: one of
    // each shard, then the rest from the big one, which is paged through, oldest first.
    let shard_of = |r: &SessionRecord| shards.shard_of(&r.id);
    let batch = store.open_sessions(at(60), 6).await.unwrap();
    let mut got: Vec<&str> = ids_of(&batch);
    let first_turn: HashSet<u32> = batch[..4].iter().map(shard_of).collect();
    assert_eq!(
        first_turn.len(),
        4,
        "the first turn takes one of each shard: {got:?}"
    );
    let big_order: Vec<&str> = got
        .iter()
        .copied()
        .filter(|id| big.iter().any(|b| b == id))
        .collect();
    assert_eq!(
        big_order,
        [big[0].as_str(), big[1].as_str(), big[2].as_str()]
    );
    got.sort_unstable();
    let mut expected: Vec<&str> = small.iter().chain(&big[..3]).map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(got, expected);
    // A batch as large as the index holds everything once.
    let all = store.open_sessions(at(60), 100).await.unwrap();
    assert_eq!(all.len(), 12);
    assert_eq!(all.iter().map(|r| &r.id).collect::<HashSet<_>>().len(), 12);
    // A batch smaller than the number of shards with sessions: the stalest of two shards.
    let two = store.open_sessions(at(60), 2).await.unwrap();
    assert_eq!(two.len(), 2);
    assert_ne!(shard_of(&two[0]), shard_of(&two[1]));
    if let Some(from_big) = two.iter().find(|r| shard_of(r) == 2) {
        assert_eq!(from_big.id.as_str(), big[0]);
    }
}

#[tokio::test]
async fn every_shard_is_read_whatever_the_count_and_legacy_items_too() {
    let (client, table) = localstack::fresh_table("anycount").await;
    let sixteen =
        DynamoStore::new(client.clone(), &table).with_open_shards(OpenShards::new(16).unwrap());
    let one =
        DynamoStore::new(client.clone(), &table).with_open_shards(OpenShards::new(1).unwrap());
    // Written under 16 shards, and one as every version before sharding wrote it.
    let mut ids = Vec::new();
    for i in 0..10 {
        let r = record(
            &format!("idv_any{i}"),
            &format!("u{i}"),
            TEMPLATE,
            IdvStatus::Active,
            0,
            i,
        );
        sixteen.insert(&r).await.unwrap();
        ids.push(r.id.to_string());
    }
    localstack::move_to_open_shard(&client, &table, "idv_any9", "open").await;
    // Read with the count lowered to 1 (a rollback, say): nothing is left behind.
    let mut found: Vec<String> = one
        .open_sessions(at(60), 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id.to_string())
        .collect();
    found.sort_unstable();
    ids.sort_unstable();
    assert_eq!(found, ids);
    // And the highest shard there is is read too.
    localstack::move_to_open_shard(
        &client,
        &table,
        "idv_any0",
        &format!("open#{}", MAX_OPEN_SHARDS - 1),
    )
    .await;
    assert_eq!(one.open_sessions(at(60), 100).await.unwrap().len(), 10);
}

#[tokio::test]
async fn a_session_back_in_review_gets_the_writers_shard() {
    let (client, table) = localstack::fresh_table("reviewshard").await;
    let four = OpenShards::new(4).unwrap();
    let legacy =
        DynamoStore::new(client.clone(), &table).with_open_shards(OpenShards::new(1).unwrap());
    let store = DynamoStore::new(client.clone(), &table).with_open_shards(four);
    let id = ids_in_shard(four, 3, "rv", 1).remove(0);
    let r = record(&id, "alice", TEMPLATE, IdvStatus::Active, 0, 1);
    legacy.insert(&r).await.unwrap();
    assert_eq!(
        raw_item(&client, &table, &id).await["open_shard"],
        AttributeValue::S("open".into())
    );
    let after_window = r.expires_at + Duration::minutes(1);
    assert_eq!(
        store
            .mark_app_expired(&r.id, 4_000_000_000, after_window)
            .await
            .unwrap(),
        UpdateOutcome::Written
    );
    saved(&store, &snapshot(&r, IdvStatus::PendingReview, 5000)).await;
    assert_eq!(
        raw_item(&client, &table, &id).await["open_shard"],
        AttributeValue::S(four.value_of(&r.id))
    );
    assert_eq!(four.value_of(&r.id), "open#3");
}
