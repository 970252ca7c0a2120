//! The webhook function end to end: the emulator fires really signed webhooks, the real
//! verifier checks them with keys fetched from the emulator, the session is re-read from Plaid
//! and recorded in DynamoDB (moto).

use serde_json::json;
use testkit::apigw::ApiEvent;
use testkit::emulator::endpoints::{IDV_GET as GET, WEBHOOK_KEY_GET as KEY};
use testkit::emulator::{Fault, FinishOutcome};
use testkit::stack::Stack;

fn header(headers: &[(String, String)], name: &str) -> String {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .unwrap()
}

#[tokio::test]
async fn out_of_order_and_duplicated_webhooks_end_in_success() {
    let s = Stack::start().await;
    let id = s.start_session("ann").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    let mut hooks = s.take_new_webhooks();
    assert!(hooks.iter().any(|h| h.webhook_code == "STATUS_UPDATED"));
    // Plaid promises no order and may deliver twice: newest first, each twice.
    hooks.reverse();
    for h in hooks.iter().chain(hooks.iter()) {
        let a = s.deliver(h).await;
        assert_eq!(
            (a.status, a.json["status"].as_str()),
            (200, Some("processed")),
            "{}",
            a.json
        );
    }
    let stored = s.stored(&id).await.unwrap();
    assert_eq!(stored.status, shared::plaid::types::IdvStatus::Success);
    assert_eq!(
        stored.steps.documentary_verification,
        shared::plaid::types::StepStatus::Success
    );
    // Every delivery re-read Plaid (no dedup by body), but the key was fetched once.
    assert_eq!(s.emulator.request_count(GET), hooks.len() * 2);
    assert_eq!(s.emulator.request_count(KEY), 1);
}

#[tokio::test]
async fn identical_bodies_are_each_processed() {
    let s = Stack::start().await;
    let id = s.start_session("bea").await;
    s.finish_and_deliver(&id, FinishOutcome::PendingReview)
        .await;
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::PendingReview
    );
    s.emulator
        .review(&id, testkit::emulator::Outcome::Success)
        .await
        .unwrap();
    let status_hooks: Vec<_> = s
        .take_new_webhooks()
        .into_iter()
        .filter(|h| h.webhook_code == "STATUS_UPDATED")
        .collect();
    assert!(!status_hooks.is_empty());
    // The second STATUS_UPDATED body is byte-identical to the first one; it must not be dropped.
    for h in &status_hooks {
        assert_eq!(s.deliver(h).await.status, 200);
    }
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::Success
    );
}

#[tokio::test]
async fn plaid_failing_during_get_is_5xx_and_changes_nothing_then_the_retry_succeeds() {
    let s = Stack::start().await;
    let id = s.start_session("cal").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    let hooks = s.take_new_webhooks();
    let status = hooks
        .iter()
        .rev()
        .find(|h| h.webhook_code == "STATUS_UPDATED")
        .unwrap();
    s.emulator
        .inject_fault(Fault {
            endpoint: GET.into(),
            status: Some(500),
            count: 2,
            delay_ms: 0,
        })
        .unwrap();
    let a = s.deliver(status).await;
    a.assert_unavailable("plaid_unavailable", "Plaid must be told to redeliver");
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::Active
    );

    assert_eq!(
        s.emulator.request_count(GET),
        2,
        "both attempts of the webhook's /get used up the fault"
    );
    // Plaid's retry is a fresh signature over the same body.
    let again = s.emulator.redeliver(&status.id, true).await.unwrap();
    let b = s.deliver(&again).await;
    assert_eq!(b.status, 200, "{}", b.json);
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::Success
    );
}

#[tokio::test]
async fn forged_or_tampered_webhooks_are_401_and_touch_nothing() {
    let s = Stack::start().await;
    let id = s.start_session("dee").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    let hook = s
        .take_new_webhooks()
        .into_iter()
        .find(|h| h.webhook_code == "STATUS_UPDATED")
        .unwrap();
    let gets_before = s.emulator.request_count(GET);

    // Body changed after signing (one byte).
    let mut tampered = hook.body.clone().into_bytes();
    let last = tampered
        .iter()
        .rposition(|b| *b == b'x')
        .unwrap_or(tampered.len() - 2);
    tampered[last] ^= 1;
    let a = s.call(ApiEvent::webhook(&hook.headers, &tampered)).await;
    assert_eq!(a.status, 401);
    // No signature at all.
    let a = s
        .call(ApiEvent::webhook(
            &[("content-type".into(), "application/json".into())],
            hook.body.as_bytes(),
        ))
        .await;
    assert_eq!(a.status, 401);
    // alg none with the same claims.
    let token = header(&hook.headers, "plaid-verification");
    let parts: Vec<&str> = token.split('.').collect();
    use base64::Engine;
    let none =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let forged = format!("{none}.{}.", parts[1]);
    let a = s
        .call(ApiEvent::webhook(
            &[("plaid-verification".into(), forged)],
            hook.body.as_bytes(),
        ))
        .await;
    assert_eq!(a.status, 401);
    // A stale capture: the clock moved on past five minutes.
    s.clock.advance(chrono::Duration::seconds(301));
    let a = s.deliver(&hook).await;
    assert_eq!(a.status, 401);

    assert_eq!(
        s.emulator.request_count(GET),
        gets_before,
        "no Plaid /get before verification"
    );
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::Active,
        "nothing written"
    );
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_then_cached() {
    let s = Stack::start().await;
    let id = s.start_session("eve").await;
    s.emulator
        .complete_step(
            &id,
            testkit::emulator::StepRequest {
                step: None,
                outcome: None,
                code: None,
            },
        )
        .await
        .unwrap();
    s.deliver_new_webhooks().await;
    assert_eq!(s.emulator.request_count(KEY), 1);
    s.emulator.rotate_key().unwrap();
    let answers = s.finish_and_deliver(&id, FinishOutcome::Success).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    assert_eq!(
        s.emulator.request_count(KEY),
        2,
        "the new kid once, then from the cache"
    );
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let s = Stack::start().await;
    let id = s.start_session("fox").await;
    let old = s.emulator.current_key();
    s.emulator.expire_key(&old.kid).unwrap();
    let answers = s.finish_and_deliver(&id, FinishOutcome::Success).await;
    assert!(answers.iter().all(|a| a.status == 401), "{answers:?}");
}

#[tokio::test]
async fn other_environments_and_types_are_acknowledged_and_ignored() {
    let s = Stack::builder()
        .var("PLAID_ENV", "production")
        .start()
        .await;
    let id = s.start_session("gil").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    // The emulator signs sandbox webhooks; this deployment is production.
    let answers = s.deliver_new_webhooks().await;
    assert!(!answers.is_empty(), "finishing fired webhooks");
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 && a.json["status"] == "ignored"),
        "{answers:?}"
    );
    assert_eq!(s.emulator.request_count(GET), 0);
}

#[tokio::test]
async fn a_session_made_elsewhere_is_recorded_for_its_user() {
    let s = Stack::start().await;
    // Created straight at Plaid (Link or the Dashboard), never through our API.
    let iv = s
        .ctx
        .plaid
        .create(&shared::plaid::types::CreateRequest {
            client_user_id: shared::ids::ClientUserId::parse("hana").unwrap(),
            template_id: shared::ids::TemplateId::parse(testkit::stack::TEMPLATE).unwrap(),
            gave_consent: true,
            is_shareable: false,
            is_idempotent: true,
            user: None,
        })
        .await
        .unwrap();
    s.emulator
        .finish(iv.id.as_str(), Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    s.deliver_new_webhooks().await;
    let got = s
        .call(ApiEvent::get_session(iv.id.as_str()).user("hana"))
        .await;
    assert_eq!(
        (got.status, got.json["status"].as_str()),
        (200, Some("success"))
    );
}

#[tokio::test]
async fn retried_links_the_new_attempt() {
    let s = Stack::start().await;
    let id = s.start_session("ida").await;
    s.finish_and_deliver(&id, FinishOutcome::Failed).await;
    // A retry issued from Plaid's Dashboard: we only learn of it through RETRIED.
    let new = s
        .ctx
        .plaid
        .retry(&shared::plaid::types::RetryRequest {
            client_user_id: shared::ids::ClientUserId::parse("ida").unwrap(),
            template_id: shared::ids::TemplateId::parse(testkit::stack::TEMPLATE).unwrap(),
            strategy: shared::plaid::types::RetryStrategy::Reset,
            steps: None,
            user: None,
            is_shareable: None,
        })
        .await
        .unwrap();
    // RETRIED is fired in the background; wait for it to reach the outbox.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !s
        .emulator
        .outbox()
        .iter()
        .any(|h| h.webhook_code == "RETRIED" && h.identity_verification_id == new.id.as_str())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no RETRIED webhook for the new attempt"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let answers = s.deliver_new_webhooks().await;
    assert!(!answers.is_empty(), "RETRIED was delivered");
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
    let stored = s
        .stored(new.id.as_str())
        .await
        .expect("the new attempt is recorded");
    assert_eq!(
        stored.previous_attempt_id.as_ref().map(|p| p.as_str()),
        Some(id.as_str())
    );
    let list = s.call(ApiEvent::list_sessions().user("ida")).await;
    assert_eq!(list.json["sessions"][0]["id"], json!(new.id.as_str()));
}

#[tokio::test]
async fn the_ready_made_forged_event_is_refused() {
    let s = Stack::start().await;
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/events/webhook-forged.json"
    ))
    .unwrap();
    let resp = shared::handlers::webhook::handle(
        &s.ctx,
        &s.verifier,
        lambda_http::request::from_str(&text).unwrap(),
    )
    .await;
    assert_eq!(resp.status(), 401);
}

// ---- Forged webhooks cannot drive Plaid calls, and a refused one writes nothing (#12) ----

/// Plaid's published webhook source addresses (reference §5.1).
const PLAID_IPS: &str = "52.21.26.131, 52.21.47.157, 52.41.247.19, 52.88.82.239";

/// Headers of a forgery: a real ES256 signature over `body` by a key Plaid never issued, under
/// `kid` (a fresh random UUID, Plaid's shape, when `None`).
fn forged_headers(body: &[u8], kid: Option<&str>) -> Vec<(String, String)> {
    let now = chrono::Utc::now().timestamp();
    let mut key = testkit::emulator::signing::WebhookKey::generate(now).unwrap();
    if let Some(kid) = kid {
        kid.clone_into(&mut key.kid);
    }
    vec![
        ("content-type".into(), "application/json".into()),
        ("plaid-verification".into(), key.sign_webhook(body, now)),
    ]
}

fn status_hook(s: &Stack<impl shared::store::SessionStore>) -> testkit::emulator::WebhookRecord {
    s.take_new_webhooks()
        .into_iter()
        .rfind(|h| h.webhook_code == "STATUS_UPDATED")
        .unwrap()
}

#[tokio::test]
async fn refused_webhooks_write_nothing_counted_at_the_store() {
    let s = Stack::builder()
        .start_with_store(testkit::faulty_store::FaultyStore::new)
        .await;
    let id = s.start_session("jon").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    let hook = status_hook(&s);
    let body = hook.body.as_bytes();
    let writes_before = s.ctx.store.writes();
    assert!(writes_before > 0, "the start wrote, so the counter counts");
    let gets_before = s.emulator.request_count(GET);
    let mut refused: Vec<(&str, u16)> = Vec::new();

    // Forgeries under fresh kids of Plaid's shape: each asks Plaid for its key, until the
    // budget of ten new kids a minute is spent.
    for _ in 0..10 {
        let a = s
            .call(ApiEvent::webhook(&forged_headers(body, None), body))
            .await;
        refused.push(("forged, fresh kid", a.status));
    }
    assert_eq!(s.emulator.request_count(KEY), 10);
    // Over the budget: more forgeries, and even the genuine delivery, whose kid this instance
    // has not seen yet, are refused without a fetch (Plaid will deliver it again).
    for _ in 0..5 {
        let a = s
            .call(ApiEvent::webhook(&forged_headers(body, None), body))
            .await;
        refused.push(("forged, over budget", a.status));
    }
    refused.push(("genuine, over budget", s.deliver(&hook).await.status));
    // Kids Plaid never issues: refused before any fetch, budget or not.
    let real_kid = hook.kid.clone();
    for kid in [
        "kid-1",
        real_kid.to_uppercase().as_str(),
        &format!("{{{real_kid}}}"),
    ] {
        let a = s
            .call(ApiEvent::webhook(&forged_headers(body, Some(kid)), body))
            .await;
        refused.push(("bad kid", a.status));
    }
    // Tampered body, no signature at all.
    let mut tampered = body.to_vec();
    let at = tampered.len() / 2;
    tampered[at] ^= 1;
    refused.push((
        "tampered",
        s.call(ApiEvent::webhook(&hook.headers, &tampered))
            .await
            .status,
    ));
    refused.push((
        "unsigned",
        s.call(ApiEvent::webhook(
            &[("content-type".into(), "application/json".into())],
            body,
        ))
        .await
        .status,
    ));
    assert_eq!(refused.len(), 21);
    assert!(
        refused.iter().all(|(_, status)| *status == 401),
        "{refused:?}"
    );
    assert_eq!(
        s.emulator.request_count(KEY),
        10,
        "no fetch over the budget or for a kid of the wrong shape"
    );
    assert_eq!(s.ctx.store.writes(), writes_before, "nothing written");
    assert_eq!(s.emulator.request_count(GET), gets_before, "no Plaid /get");

    // A minute on, the window has slid: Plaid's retry (freshly signed) is fetched, verified and
    // recorded, so the counter above would have seen a write.
    s.clock.advance(chrono::Duration::seconds(61));
    let retry = s.emulator.redeliver(&hook.id, true).await.unwrap();
    let a = s.deliver(&retry).await;
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (200, Some("processed"))
    );
    assert_eq!(s.emulator.request_count(KEY), 11);
    let writes_after_genuine = s.ctx.store.writes();
    assert!(writes_after_genuine > writes_before);
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::Success
    );

    // With the key cached: tampered and stale deliveries are still refused and write nothing.
    let a = s.call(ApiEvent::webhook(&retry.headers, &tampered)).await;
    assert_eq!(a.status, 401);
    s.clock.advance(chrono::Duration::seconds(301));
    assert_eq!(s.deliver(&retry).await.status, 401);
    assert_eq!(s.ctx.store.writes(), writes_after_genuine);
    assert_eq!(s.emulator.request_count(KEY), 11);
}

#[tokio::test]
async fn a_source_outside_the_allow_list_is_refused_before_any_work() {
    let s = Stack::builder()
        .var("PLAID_WEBHOOK_SOURCE_IPS", PLAID_IPS)
        .start_with_store(testkit::faulty_store::FaultyStore::new)
        .await;
    let id = s.start_session("kim").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    let hooks = s.take_new_webhooks();
    assert!(!hooks.is_empty());
    let writes_before = s.ctx.store.writes();
    let mut refused = Vec::new();
    for h in &hooks {
        // Genuine signatures, but not from Plaid's addresses.
        for ip in [
            "192.0.2.10",
            "52.21.26.130",
            "2001:db8::1",
            "::ffff:52.21.26.130",
        ] {
            let a = s
                .call(ApiEvent::webhook(&h.headers, h.body.as_bytes()).source_ip(ip))
                .await;
            refused.push((ip, a.status));
        }
    }
    assert!(!refused.is_empty());
    assert!(refused.iter().all(|(_, st)| *st == 401), "{refused:?}");
    assert_eq!(s.emulator.request_count(KEY), 0, "no key fetch");
    assert_eq!(s.emulator.request_count(GET), 0, "no Plaid /get");
    assert_eq!(s.ctx.store.writes(), writes_before, "nothing written");

    // The same deliveries from Plaid's addresses (an IPv4-mapped IPv6 form too) are processed.
    for (i, h) in hooks.iter().enumerate() {
        let ip = ["52.88.82.239", "::ffff:52.21.26.131"][i % 2];
        let a = s
            .call(ApiEvent::webhook(&h.headers, h.body.as_bytes()).source_ip(ip))
            .await;
        assert_eq!(a.status, 200, "{ip}: {}", a.json);
    }
    assert!(s.ctx.store.writes() > writes_before);
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::Success
    );
}

#[test]
fn a_bad_source_allow_list_entry_fails_the_cold_start() {
    let parse = |value: &str| {
        let vars = std::collections::HashMap::from([
            ("TABLE_NAME", "t".to_owned()),
            ("PLAID_SECRET_ID", "plaid/creds".to_owned()),
            ("IDV_TEMPLATE_ID", "idvtmp_x".to_owned()),
            ("PLAID_WEBHOOK_SOURCE_IPS", value.to_owned()),
        ]);
        shared::config::Config::from_lookup(|k| vars.get(k).cloned())
    };
    for good in [
        PLAID_IPS,
        "52.21.26.0/24",
        "2600:1f18::/32, 52.21.26.131/32",
    ] {
        assert!(parse(good).is_ok(), "{good}");
    }
    for bad in [
        "52.21.26.300",
        "52.21.26.0/33",
        "52.21.26.131/24",
        "plaid.com",
        "52.21.26.131;52.21.47.157",
        "52.21.26.131, *",
        "/8",
    ] {
        let err = parse(bad).expect_err(bad).to_string();
        assert!(
            err.starts_with("PLAID_WEBHOOK_SOURCE_IPS is invalid"),
            "{bad}: {err}"
        );
    }
}
