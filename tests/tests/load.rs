//! A bounded concurrent run through the real handlers on loopback: many users start at once,
//! Plaid finishes their sessions (a mix of outcomes), and the webhooks arrive concurrently,
//! several times each and in a shuffled order; then the failed users start again, two starts at
//! once per user. No errors, no lost updates, no extra billed retry: the table ends up equal to
//! Plaid. Bounded by counts; nothing here measures time.

use shared::handlers::sync::plaid_attempts;
use shared::ids::{ClientUserId, TemplateId};
use shared::store::SessionStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use testkit::apigw::ApiEvent;
use testkit::emulator::FinishOutcome;
use testkit::stack::{Stack, TEMPLATE};
use tokio::task::JoinSet;

const USERS: usize = 40;
/// Each webhook is delivered this many times.
const COPIES: usize = 3;
/// At most this many requests in flight (a Lambda account's concurrency, scaled down).
const IN_FLIGHT: usize = 16;

fn user(i: usize) -> String {
    format!("load-user-{i:02}")
}

async fn agree(s: &Stack, user: &str) -> usize {
    let u = ClientUserId::parse(user).unwrap();
    let t = TemplateId::parse(TEMPLATE).unwrap();
    let plaid: BTreeMap<String, _> = plaid_attempts(&s.ctx, &u, &t)
        .await
        .unwrap()
        .into_iter()
        .map(|iv| (iv.id.to_string(), (iv.status, iv.previous_attempt_id)))
        .collect();
    let stored: BTreeMap<String, _> = s
        .ctx
        .store
        .list_for_user(&u, Some(&t), 100, None)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| (r.id.to_string(), (r.status, r.previous_attempt_id)))
        .collect();
    assert_eq!(stored, plaid, "store and Plaid disagree for {user}");
    plaid.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_users_concurrent_webhooks_converge() {
    let s = Arc::new(Stack::start().await);
    let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));

    // 1. Every user starts at once.
    let mut tasks = JoinSet::new();
    for i in 0..USERS {
        let (s, gate) = (s.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let a = s.call(ApiEvent::post_sessions().user(&user(i))).await;
            assert_eq!(a.status, 201, "{}", a.json);
            (i, a.json["id"].as_str().unwrap().to_owned())
        });
    }
    let mut ids = vec![String::new(); USERS];
    while let Some(r) = tasks.join_next().await {
        let (i, id) = r.unwrap();
        ids[i] = id;
    }
    assert_eq!(
        s.emulator.request_count("/identity_verification/create"),
        USERS
    );

    // 2. Plaid finishes each: every third user fails, the rest pass.
    let failed = |i: usize| i.is_multiple_of(3);
    for (i, id) in ids.iter().enumerate() {
        let outcome = if failed(i) {
            FinishOutcome::Failed
        } else {
            FinishOutcome::Success
        };
        s.emulator.finish(id, Some(outcome), None).await.unwrap();
    }

    // 3. Every webhook, COPIES times, shuffled (fixed seed), delivered concurrently.
    let deliver_all = |hooks: Vec<testkit::emulator::WebhookRecord>, copies: usize, seed: u64| {
        let (s, gate) = (s.clone(), gate.clone());
        async move {
            let mut all: Vec<_> = hooks
                .iter()
                .flat_map(|h| std::iter::repeat_n(h.clone(), copies))
                .collect();
            fastrand::Rng::with_seed(seed).shuffle(&mut all);
            let n = all.len();
            let mut tasks = JoinSet::new();
            for h in all {
                let (s, gate) = (s.clone(), gate.clone());
                tasks.spawn(async move {
                    let _permit = gate.acquire().await.unwrap();
                    let a = s.deliver(&h).await;
                    assert_eq!(
                        (a.status, a.json["status"].as_str()),
                        (200, Some("processed")),
                        "{}",
                        a.json
                    );
                });
            }
            while let Some(r) = tasks.join_next().await {
                r.unwrap();
            }
            n
        }
    };
    let hooks = s.take_new_webhooks();
    assert!(hooks.len() >= USERS, "a status webhook per session");
    let delivered = deliver_all(hooks, COPIES, 7).await;
    assert!(delivered >= USERS * COPIES);
    for i in 0..USERS {
        assert_eq!(agree(&s, &user(i)).await, 1);
    }

    // 4. The failed users start again, two starts at once each: one billed retry per user.
    let retrying: Vec<usize> = (0..USERS).filter(|&i| failed(i)).collect();
    let mut tasks = JoinSet::new();
    for &i in retrying.iter().chain(retrying.iter()) {
        let (s, gate) = (s.clone(), gate.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let a = s.call(ApiEvent::post_sessions().user(&user(i))).await;
            assert!(matches!(a.status, 200 | 201), "{}", a.json);
            (i, a.json["id"].as_str().unwrap().to_owned())
        });
    }
    let mut new_ids: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    while let Some(r) = tasks.join_next().await {
        let (i, id) = r.unwrap();
        new_ids.entry(i).or_default().push(id);
    }
    for (i, got) in &new_ids {
        assert_eq!(
            got[0],
            got[1],
            "both starts of {} see one new attempt",
            user(*i)
        );
        assert_ne!(got[0], ids[*i]);
    }
    assert_eq!(
        s.emulator.request_count("/identity_verification/retry"),
        retrying.len()
    );
    // The retries' webhooks (RETRIED, STATUS_UPDATED), again duplicated and shuffled.
    let hooks = s.take_new_webhooks();
    deliver_all(hooks, 2, 11).await;
    for i in 0..USERS {
        let expected = if failed(i) { 2 } else { 1 };
        assert_eq!(agree(&s, &user(i)).await, expected, "{}", user(i));
    }
}
