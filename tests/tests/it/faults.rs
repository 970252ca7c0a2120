//! Faults at every step of every flow: Plaid answering 429 / 500 / 503, Plaid too slow (a delay
//! beyond the client's timeout, so the client drops the connection), and DynamoDB throttling,
//! failing, or applying a write whose answer is lost. Each time the caller must get a retryable
//! answer (429/503 with Retry-After, 502; 5xx on the webhook so Plaid redelivers), and once the
//! fault clears and the caller retries, our table and Plaid must agree: every Plaid attempt for
//! the (user, template) recorded once, with Plaid's status and chain, and no extra attempt billed.

use shared::flows::sync::plaid_attempts;
use shared::ids::{ClientUserId, TemplateId};
use shared::plaid::ClientOptions;
use shared::store::{DynamoStore, SessionStore};
use std::collections::BTreeMap;
use std::time::Duration;
use testkit::apigw::{Answer, ApiEvent};
use testkit::emulator::endpoints::{
    IDV_CREATE as CREATE, IDV_GET as GET, IDV_LIST as LIST, IDV_RETRY as RETRY,
    LINK_TOKEN_CREATE as LINK, WEBHOOK_KEY_GET as KEY,
};
use testkit::emulator::{Fault, FinishOutcome};
use testkit::faulty_store::{FaultKind, FaultyStore, Op};
use testkit::stack::{Stack, TEMPLATE};

type FStack = Stack<FaultyStore<DynamoStore>>;

/// The client's timeout. Every call that is not faulted must finish well inside it, whatever
/// the load on the machine (a loopback call takes milliseconds; 300 ms was once too short on a
/// busy machine, and the case then failed for a reason it did not test).
const TIMEOUT: Duration = Duration::from_millis(1500);
/// A delay fault: a call that never answers while the test runs, so that "the client gave up"
/// does not hang on how `TIMEOUT` compares with a delay. The emulator drops the delayed call
/// when the client hangs up (it then never acts), so nothing waits this long.
const SLOW_MS: u64 = 120_000;
/// How long [`settle`] waits for calls the client gave up on to leave the emulator.
const SETTLE: Duration = Duration::from_secs(15);

async fn stack() -> FStack {
    Stack::builder()
        .plaid_options(ClientOptions {
            timeout: TIMEOUT,
            max_attempts: 2,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..ClientOptions::default()
        })
        .start_with_store(FaultyStore::new)
        .await
}

/// The Plaid faults, each `count` times (the client retries safe calls once).
fn plaid_faults(endpoint: &str, count: u32) -> Vec<(&'static str, Fault)> {
    let f = |status: Option<u16>, delay_ms: u64| Fault {
        endpoint: endpoint.to_owned(),
        status,
        count,
        delay_ms,
    };
    vec![
        ("429", f(Some(429), 0)),
        ("500", f(Some(500), 0)),
        ("503", f(Some(503), 0)),
        ("timeout", f(None, SLOW_MS)),
    ]
}

const STORE_FAULTS: [FaultKind; 3] = [
    FaultKind::Throttled,
    FaultKind::Unavailable,
    FaultKind::LostAnswer,
];

/// Move the stack's clock past the per-session cool-down of live Plaid reads: a caller that
/// comes back at once would be answered from the store (refresh) or told to wait (link-token).
fn past_cooldown<S: shared::store::SessionStore>(s: &testkit::stack::Stack<S>) {
    s.clock
        .advance(shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1));
}

/// A retryable answer, as our OpenAPI description promises it (`Stack::call` has already checked
/// the answer against the description; this checks the caller can act on it).
#[track_caller]
fn assert_retryable(a: &Answer, what: &str) {
    assert!(
        matches!(a.status, 429 | 502 | 503),
        "{what}: not retryable: {} {}",
        a.status,
        a.json
    );
    if matches!(a.status, 429 | 503) {
        let after: u64 = a
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what}: {} without Retry-After", a.status));
        assert!(after >= 1, "{what}: Retry-After {after}");
    }
}

/// Waits until no Plaid call is in flight at the emulator: a call delayed by a fault that the
/// client gave up on is either answered (Plaid acted on a request whose answer we never read)
/// or dropped with its connection before the test reads what Plaid did.
async fn settle(s: &FStack) {
    let deadline = std::time::Instant::now() + SETTLE;
    while s.emulator.in_flight() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} Plaid calls still in flight",
            s.emulator.in_flight()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Our table and Plaid agree on `user`'s attempts: the same ids, statuses and chain.
async fn assert_agree(s: &FStack, user: &str, expected_attempts: usize) {
    let u = ClientUserId::parse(user).unwrap();
    let t = TemplateId::parse(TEMPLATE).unwrap();
    let plaid: BTreeMap<String, _> = plaid_attempts(&s.ctx, &u, &t)
        .await
        .expect("plaid list")
        .into_iter()
        .map(|iv| {
            (
                iv.id.to_string(),
                (iv.status, iv.previous_attempt_id.map(|p| p.to_string())),
            )
        })
        .collect();
    let stored: BTreeMap<String, _> = s
        .ctx
        .store
        .inner()
        .list_for_user(&u, Some(&t), 100, None)
        .await
        .expect("store list")
        .items
        .into_iter()
        .map(|r| {
            (
                r.id.to_string(),
                (r.status, r.previous_attempt_id.map(|p| p.to_string())),
            )
        })
        .collect();
    assert_eq!(stored, plaid, "store and Plaid disagree for {user}");
    assert_eq!(plaid.len(), expected_attempts, "Plaid attempts for {user}");
}

async fn start(s: &FStack, user: &str) -> Answer {
    s.call(ApiEvent::post_sessions().user(user)).await
}

/// The start succeeds once faults are gone (200 when a previous try already made the session).
async fn start_ok(s: &FStack, user: &str) -> String {
    let a = start(s, user).await;
    assert!(matches!(a.status, 200 | 201), "{} {}", a.status, a.json);
    a.json["id"].as_str().unwrap().to_owned()
}

/// A session for `user` that failed, with the failure recorded: the next start is a retry.
async fn failed_session(s: &FStack, user: &str) -> String {
    let id = start_ok(s, user).await;
    for a in s.finish_and_deliver(&id, FinishOutcome::Failed).await {
        assert_eq!(a.status, 200, "{}", a.json);
    }
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::Failed
    );
    id
}

#[tokio::test]
async fn create_plaid_faults_then_one_session() {
    let s = stack().await;
    for (i, (name, fault)) in plaid_faults(CREATE, 2).into_iter().enumerate() {
        let user = format!("create-plaid-{i}");
        s.emulator.inject_fault(fault.clone()).unwrap();
        let a = start(&s, &user).await;
        assert_retryable(&a, name);
        settle(&s).await;
        start_ok(&s, &user).await;
        // Idempotent create: the timed-out call and the retry share Plaid's one session.
        assert_agree(&s, &user, 1).await;
    }
}

#[tokio::test]
async fn create_store_faults_then_one_session() {
    let s = stack().await;
    for (i, kind) in STORE_FAULTS.into_iter().enumerate() {
        for op in [Op::LatestFor, Op::Insert] {
            let user = format!("create-store-{i}-{op:?}");
            s.ctx.store.fail(op, kind, 1);
            let a = start(&s, &user).await;
            assert_retryable(&a, &format!("{op:?} {kind:?}"));
            let id = start_ok(&s, &user).await;
            assert_agree(&s, &user, 1).await;
            assert!(s.stored(&id).await.is_some());
        }
    }
}

/// The retry flow's Plaid calls: `/list` (to find a retry made earlier) and `/retry`.
#[tokio::test]
async fn retry_plaid_faults_then_one_new_attempt() {
    let s = stack().await;
    let faults = plaid_faults(LIST, 2)
        .into_iter()
        .chain(plaid_faults(RETRY, 1));
    for (i, (name, fault)) in faults.enumerate() {
        let user = format!("retry-plaid-{i}");
        let first = failed_session(&s, &user).await;
        let endpoint = fault.endpoint.clone();
        s.emulator.inject_fault(fault.clone()).unwrap();
        let a = start(&s, &user).await;
        assert_retryable(&a, &format!("{endpoint} {name}"));
        settle(&s).await;
        // The failed start holds the retry claim until it lapses; a caller honouring
        // Retry-After past that window gets through.
        s.clock.advance(chrono::Duration::seconds(16));
        let id = start_ok(&s, &user).await;
        assert_ne!(id, first);
        // A /retry that timed out may still have been made at Plaid: then the second start
        // finds and records it instead of billing another. Either way: two attempts, linked.
        assert_agree(&s, &user, 2).await;
        assert_eq!(
            s.stored(&id)
                .await
                .unwrap()
                .previous_attempt_id
                .unwrap()
                .to_string(),
            first
        );
    }
}

/// The store failing around the retry: the claim, and the insert after Plaid made the attempt.
#[tokio::test]
async fn retry_store_faults_then_one_new_attempt() {
    let s = stack().await;
    for (i, kind) in STORE_FAULTS.into_iter().enumerate() {
        for op in [Op::ClaimRetry, Op::Insert] {
            let user = format!("retry-store-{i}-{op:?}");
            let first = failed_session(&s, &user).await;
            let billed = s.emulator.request_count(RETRY);
            s.ctx.store.fail(op, kind, 1);
            let a = start(&s, &user).await;
            assert_retryable(&a, &format!("{op:?} {kind:?}"));
            s.clock.advance(chrono::Duration::seconds(16));
            let id = start_ok(&s, &user).await;
            assert_ne!(id, first);
            assert_agree(&s, &user, 2).await;
            // Plaid billed exactly one new attempt, even when its answer reached Plaid but not
            // our table.
            assert_eq!(s.emulator.request_count(RETRY), billed + 1);
        }
    }
}

#[tokio::test]
async fn webhook_plaid_faults_then_redelivery_records() {
    let s = stack().await;
    let faults = plaid_faults(KEY, 2).into_iter().chain(plaid_faults(GET, 2));
    for (i, (name, fault)) in faults.enumerate() {
        let user = format!("hook-plaid-{i}");
        let id = start_ok(&s, &user).await;
        s.emulator
            .finish(&id, Some(FinishOutcome::Success), None)
            .await
            .unwrap();
        let hooks = s.take_new_webhooks();
        assert!(!hooks.is_empty());
        // A fresh verifier key cache per case, so the key fetch is really made.
        let verifier = shared::webhook_verify::WebhookVerifier::new(s.ctx.plaid.clone());
        let endpoint = fault.endpoint.clone();
        s.emulator.inject_fault(fault.clone()).unwrap();
        let a = deliver_with(&s, &verifier, &hooks[0]).await;
        a.assert_unavailable("plaid_unavailable", &format!("{endpoint} {name}"));
        settle(&s).await;
        // Plaid redelivers (the same signed body).
        for h in &hooks {
            let a = deliver_with(&s, &verifier, h).await;
            assert_eq!(a.status, 200, "{}", a.json);
        }
        assert_agree(&s, &user, 1).await;
    }
}

#[tokio::test]
async fn webhook_store_faults_then_redelivery_records() {
    let s = stack().await;
    for (i, kind) in STORE_FAULTS.into_iter().enumerate() {
        // A webhook's failing store step is the conditional snapshot write: the read before it
        // (is the token older than the last Plaid read?) only saves a Plaid read when it works.
        for op in [Op::SaveSnapshot] {
            let user = format!("hook-store-{i}-{op:?}");
            let id = start_ok(&s, &user).await;
            s.emulator
                .finish(&id, Some(FinishOutcome::Success), None)
                .await
                .unwrap();
            let hooks = s.take_new_webhooks();
            let failed_before = s.ctx.store.failures(op);
            s.ctx.store.fail(op, kind, 1);
            let a = s.deliver(&hooks[0]).await;
            a.assert_unavailable("store_unavailable", &format!("{op:?} {kind:?}"));
            assert_eq!(
                s.ctx.store.failures(op),
                failed_before + 1,
                "{op:?} {kind:?}"
            );
            for h in &hooks {
                assert_eq!(s.deliver(h).await.status, 200);
            }
            assert_agree(&s, &user, 1).await;
        }
    }
}

async fn deliver_with(
    s: &FStack,
    verifier: &shared::webhook_verify::WebhookVerifier<shared::plaid::PlaidClient>,
    h: &testkit::emulator::WebhookRecord,
) -> Answer {
    let resp = shared::handlers::webhook::handle(
        &s.ctx,
        verifier,
        ApiEvent::webhook(&h.headers, h.body.as_bytes()).request(),
    )
    .await;
    let a = Answer::from_response(resp);
    testkit::openapi::check("POST", "/webhooks/plaid", a.status, &a.headers, &a.json);
    a
}

#[tokio::test]
async fn link_token_faults_then_token() {
    let s = stack().await;
    let id = start_ok(&s, "link-user").await;
    for (name, fault) in plaid_faults(LINK, 2) {
        past_cooldown(&s);
        s.emulator.inject_fault(fault.clone()).unwrap();
        let a = s.call(ApiEvent::link_token(&id).user("link-user")).await;
        assert_retryable(&a, name);
        settle(&s).await;
    }
    for kind in [FaultKind::Throttled, FaultKind::Unavailable] {
        s.ctx.store.fail(Op::Get, kind, 1);
        let a = s.call(ApiEvent::link_token(&id).user("link-user")).await;
        assert_retryable(&a, &format!("{kind:?}"));
    }
    past_cooldown(&s);
    let a = s.call(ApiEvent::link_token(&id).user("link-user")).await;
    assert_eq!(a.status, 200, "{}", a.json);
    assert!(
        s.emulator
            .link_token(a.json["link_token"].as_str().unwrap())
            .is_some()
    );
    assert_agree(&s, "link-user", 1).await;
}

#[tokio::test]
async fn get_session_refresh_faults() {
    let s = stack().await;
    let id = start_ok(&s, "get-user").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    s.take_new_webhooks(); // lost: only a refresh can learn the result
    let refresh = || {
        ApiEvent::get_session(&id)
            .user("get-user")
            .query("refresh", "true")
    };
    for (name, fault) in plaid_faults(GET, 2) {
        past_cooldown(&s);
        s.emulator.inject_fault(fault.clone()).unwrap();
        assert_retryable(&s.call(refresh()).await, name);
        settle(&s).await;
        // An opportunistic refresh (the record is stale) that fails answers from the store.
        s.clock.advance(chrono::Duration::hours(1));
        s.emulator.inject_fault(fault.clone()).unwrap();
        let a = s.call(ApiEvent::get_session(&id).user("get-user")).await;
        assert_eq!(a.status, 200, "{name}: {}", a.json);
        settle(&s).await;
    }
    for kind in STORE_FAULTS {
        for op in [Op::Get, Op::SaveSnapshot] {
            past_cooldown(&s);
            s.ctx.store.fail(op, kind, 1);
            assert_retryable(&s.call(refresh()).await, &format!("{op:?} {kind:?}"));
        }
    }
    past_cooldown(&s);
    let a = s.call(refresh()).await;
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (200, Some("success"))
    );
    assert_agree(&s, "get-user", 1).await;
}

async fn proxied_stack() -> FStack {
    Stack::builder()
        .drop_proxy()
        .plaid_options(ClientOptions {
            timeout: TIMEOUT,
            max_attempts: 2,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..ClientOptions::default()
        })
        .start_with_store(FaultyStore::new)
        .await
}

/// Plaid acts but the connection drops before its answer arrives.
#[tokio::test]
async fn dropped_connections_after_plaid_acted() {
    let s = proxied_stack().await;
    let proxy = s.proxy.as_ref().unwrap();

    // Create: dropped twice (the client's retry too), so the caller sees it fail; Plaid made
    // the session, and the caller's next start gets that one back.
    proxy.drop_answers(CREATE, 2);
    assert_retryable(&start(&s, "drop-create").await, "create dropped");
    assert_eq!(proxy.dropped(), 2);
    start_ok(&s, "drop-create").await;
    assert_agree(&s, "drop-create", 1).await;

    // Retry: never repeated by the client (each call bills). The attempt Plaid made is found
    // through /list as soon as the call fails, recorded and handed back, not billed again.
    let first = failed_session(&s, "drop-retry").await;
    proxy.drop_answers(RETRY, 1);
    let a = start(&s, "drop-retry").await;
    assert_eq!(a.status, 201, "retry dropped: {}", a.json);
    assert_eq!(s.emulator.request_count(RETRY), 1);
    let id = start_ok(&s, "drop-retry").await;
    assert_eq!(a.json["id"].as_str(), Some(id.as_str()));
    assert_ne!(id, first);
    assert_eq!(s.emulator.request_count(RETRY), 1, "no second billed retry");
    assert_agree(&s, "drop-retry", 2).await;

    // The webhook's /get: the client retries it; twice dropped means 5xx, then redelivery.
    let id = start_ok(&s, "drop-hook").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    let hooks = s.take_new_webhooks();
    proxy.drop_answers(GET, 2);
    s.deliver(&hooks[0])
        .await
        .assert_unavailable("plaid_unavailable", "webhook /get dropped twice");
    for h in &hooks {
        assert_eq!(s.deliver(h).await.status, 200);
    }
    assert_agree(&s, "drop-hook", 1).await;

    // Link token: a lost token is simply made again.
    let id = start_ok(&s, "drop-link").await;
    proxy.drop_answers(LINK, 2);
    let e = || ApiEvent::link_token(&id).user("drop-link");
    assert_retryable(&s.call(e()).await, "link dropped");
    past_cooldown(&s);
    assert_eq!(s.call(e()).await.status, 200);
}
