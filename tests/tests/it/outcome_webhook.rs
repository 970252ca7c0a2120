//! Signed outcome webhooks (`shared::outcome_webhook`), end to end in moto with the real SDK:
//! an event PutEvents'd on the bus, forwarded by the rule to the queue, received as Lambda's SQS
//! poller would, and handed to the sender, which POSTs to a receiver on 127.0.0.1.

use base64::Engine;
use serde_json::{Value, json};
use shared::outcome_webhook::handler::Outcome;
use shared::outcome_webhook::sign::SigningKey;
use std::time::Duration;
use testkit::outcome_webhook::{PythonReceiver, ScriptedReceiver, WebhookStack, detail};

/// A `whsec_` secret of 32 random bytes, and the JSON the secret holds for it alone.
fn new_secret() -> String {
    let bytes: Vec<u8> = (0..32).map(|_| fastrand::u8(..)).collect();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

fn only(current: &str) -> String {
    json!({ "current": current }).to_string()
}

/// The signature entries of a request, checked with an HMAC that is not the sender's code.
fn signed_by(received: &testkit::outcome_webhook::Received, secret: &str) -> bool {
    use hmac_check::verify;
    verify(
        secret,
        received.header("webhook-id"),
        received.header("webhook-timestamp"),
        &received.body,
        received.header("webhook-signature"),
    )
}

mod hmac_check {
    use base64::Engine;
    use sha2::Digest;

    /// HMAC-SHA256 from the definition (RFC 2104) over sha2, independent of aws-lc-rs.
    fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut k = [0u8; 64];
        k[..key.len()].copy_from_slice(key);
        let inner: Vec<u8> = k
            .iter()
            .map(|b| b ^ 0x36)
            .chain(msg.iter().copied())
            .collect();
        let inner = sha2::Sha256::digest(&inner);
        let outer: Vec<u8> = k
            .iter()
            .map(|b| b ^ 0x5c)
            .chain(inner.iter().copied())
            .collect();
        sha2::Sha256::digest(&outer).into()
    }

    pub fn verify(secret: &str, id: &str, ts: &str, body: &[u8], header: &str) -> bool {
        let b64 = base64::engine::general_purpose::STANDARD;
        let key = b64.decode(secret.trim_start_matches("whsec_")).unwrap();
        let mut msg = format!("{id}.{ts}.").into_bytes();
        msg.extend_from_slice(body);
        let want = format!("v1,{}", b64.encode(hmac_sha256(&key, &msg)));
        header.split(' ').any(|entry| entry == want)
    }
}

#[tokio::test]
async fn a_delivery_follows_standard_webhooks_and_is_deleted() {
    let secret = new_secret();
    let stack = WebhookStack::start(&only(&secret)).await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let sender = stack.sender(&receiver.url, 300);
    let event = detail("idv_deliver1", 2, "success", Some("active"));
    stack.publish(&event).await;

    let batch = stack.receive(10).await;
    assert_eq!(
        batch.records.len(),
        1,
        "the rule forwards the event to the queue"
    );
    let report = sender.handle_batch(batch).await;
    assert_eq!(report.outcomes[0].1, Outcome::Delivered);
    assert!(report.response.batch_item_failures.is_empty());

    let got = receiver.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(
        r.header("webhook-id"),
        "idv_deliver1.2",
        "webhook-id is the event_id"
    );
    assert_eq!(r.header("content-type"), "application/json");
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() <= 5);
    assert_eq!(r.header("webhook-signature").split(' ').count(), 1);
    assert!(signed_by(r, &secret), "{:?}", r.headers);
    assert!(!signed_by(r, &new_secret()));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"type": "identity_verification.status_changed", "timestamp": "2026-12-06T10:00:00Z", "data": event})
    );
}

#[tokio::test]
async fn failures_back_off_longer_on_each_receive_until_delivered() {
    let stack = WebhookStack::start(&only(&new_secret())).await;
    let receiver = ScriptedReceiver::start(&[(500, None), (503, None)]).await;
    let sender = stack.sender(&receiver.url, 300);
    stack
        .publish(&detail("idv_retry1", 1, "active", None))
        .await;

    let mut waits = Vec::new();
    for attempt in 1..=2u64 {
        let batch = stack.receive(10).await;
        assert_eq!(
            batch.records.len(),
            1,
            "attempt {attempt}: the message is visible"
        );
        let message = batch.records[0].clone();
        let report = sender.handle_batch(batch).await;
        let Outcome::Retried { status, after } = report.outcomes[0].1.clone() else {
            panic!("attempt {attempt}: {:?}", report.outcomes);
        };
        assert_eq!(status, Some(if attempt == 1 { 500 } else { 503 }));
        let (id, failures) = (&report.outcomes[0].0, &report.response.batch_item_failures);
        assert_eq!(failures.len(), 1);
        assert_eq!(&failures[0].item_identifier, id);
        let base = 60 * (1 << (attempt - 1));
        assert!(
            after >= Duration::from_secs(base) && after <= Duration::from_secs(base * 5 / 4),
            "attempt {attempt}: {after:?}"
        );
        waits.push(after);
        assert!(
            stack.receive(10).await.records.is_empty(),
            "attempt {attempt}: the message is hidden for its back-off"
        );
        stack.show_again(&message).await;
    }
    assert!(waits[1] > waits[0], "{waits:?}");

    let batch = stack.receive(10).await;
    assert_eq!(
        batch.records[0].attributes["ApproximateReceiveCount"], "3",
        "the receive count drives the back-off"
    );
    let report = sender.handle_batch(batch).await;
    assert_eq!(report.outcomes[0].1, Outcome::Delivered);
    let got = receiver.received();
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|r| r.header("webhook-id") == "idv_retry1.1" && r.body == got[0].body),
        "every retry carries the same id and body"
    );
}

#[tokio::test]
async fn a_429_waits_at_least_its_retry_after() {
    let stack = WebhookStack::start(&only(&new_secret())).await;
    let receiver = ScriptedReceiver::start(&[(429, Some("7200"))]).await;
    let sender = stack.sender(&receiver.url, 300);
    stack
        .publish(&detail("idv_limited", 1, "active", None))
        .await;

    let report = sender.handle_batch(stack.receive(10).await).await;
    assert_eq!(
        report.outcomes[0].1,
        Outcome::RateLimited {
            after: Duration::from_secs(7200)
        },
        "the receiver's 2 hours, longer than the first back-off, win"
    );
    assert_eq!(report.response.batch_item_failures.len(), 1);
    assert!(stack.receive(10).await.records.is_empty(), "hidden");
}

#[tokio::test]
async fn a_410_disables_the_rule_and_moves_the_events_to_the_dlq() {
    let stack = WebhookStack::start(&only(&new_secret())).await;
    let receiver = ScriptedReceiver::start(&[(410, None)]).await;
    let sender = stack.sender(&receiver.url, 300);
    let first = detail("idv_gone1", 1, "active", None);
    let second = detail("idv_gone2", 1, "active", None);
    stack.publish(&first).await;
    stack.publish(&second).await;
    assert_eq!(stack.rule_state().await, "ENABLED");

    let batch = stack.receive(10).await;
    assert_eq!(batch.records.len(), 2);
    let bodies: Vec<String> = batch
        .records
        .iter()
        .filter_map(|m| m.body.clone())
        .collect();
    let report = sender.handle_batch(batch).await;
    let outcomes: Vec<Outcome> = report.outcomes.iter().map(|(_, o)| o.clone()).collect();
    assert_eq!(outcomes, vec![Outcome::Gone, Outcome::Parked]);
    assert!(
        report.response.batch_item_failures.is_empty(),
        "both leave the queue"
    );
    assert_eq!(receiver.received().len(), 1, "no POST after the 410");
    assert_eq!(stack.rule_state().await, "DISABLED");

    let mut dead = stack.dead_letters().await;
    dead.sort();
    let mut want = bodies;
    want.sort();
    assert_eq!(
        dead, want,
        "the DLQ holds the events unchanged, ready to redrive"
    );

    // Another sender (a new execution environment) reads the rule's state and does not POST.
    stack.publish(&detail("idv_gone3", 1, "active", None)).await;
    let late = stack.receive(10).await;
    if !late.records.is_empty() {
        let other = stack.sender(&receiver.url, 300);
        let report = other.handle_batch(late).await;
        assert!(report.outcomes.iter().all(|(_, o)| *o == Outcome::Parked));
    }
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_message_that_is_no_outcome_event_goes_to_the_dlq_without_a_post() {
    let stack = WebhookStack::start(&only(&new_secret())).await;
    let receiver = ScriptedReceiver::start(&[]).await;
    let sender = stack.sender(&receiver.url, 300);
    stack
        .sqs
        .send_message()
        .queue_url(&stack.queue_url)
        .message_body(r#"{"detail-type":"Something Else","detail":{}}"#)
        .send()
        .await
        .unwrap();
    let report = sender.handle_batch(stack.receive(10).await).await;
    assert_eq!(report.outcomes[0].1, Outcome::Malformed);
    assert!(report.response.batch_item_failures.is_empty());
    assert!(receiver.received().is_empty());
    assert_eq!(stack.dead_letters().await.len(), 1);
}

#[tokio::test]
async fn deliveries_verify_with_the_standardwebhooks_package() {
    // The shape the template generates: 48 letters and digits, no prefix; the customer's
    // receiver is given `whsec_` + that value.
    let generated: String = (0..48).map(|_| fastrand::alphanumeric()).collect();
    let stack = WebhookStack::start(&only(&generated)).await;
    let receiver = PythonReceiver::start(&format!("whsec_{generated}"));
    let sender = stack.sender(&receiver.url, 300);
    let event = detail("idv_python1", 3, "failed", Some("active"));
    stack.publish(&event).await;

    let report = sender.handle_batch(stack.receive(10).await).await;
    assert_eq!(report.outcomes[0].1, Outcome::Delivered);
    let verdict = receiver.next();
    assert_eq!(verdict["verified"], true, "{verdict}");
    assert_eq!(verdict["id"], "idv_python1.3");
    assert_eq!(verdict["type"], "identity_verification.status_changed");
    assert_eq!(verdict["data"], event);

    // The same package refuses a delivery signed with another key: our sender sees the 401 and
    // retries later.
    let wrong = PythonReceiver::start(&new_secret());
    let sender = stack.sender(&wrong.url, 300);
    stack
        .publish(&detail("idv_python2", 1, "active", None))
        .await;
    let report = sender.handle_batch(stack.receive(10).await).await;
    assert!(
        matches!(
            report.outcomes[0].1,
            Outcome::Retried {
                status: Some(401),
                ..
            }
        ),
        "{:?}",
        report.outcomes
    );
    assert_eq!(wrong.next()["verified"], false);
}

#[tokio::test]
async fn a_rotation_signs_with_both_keys_and_each_verifies_with_standardwebhooks() {
    let (old, new) = (new_secret(), new_secret());
    let stack = WebhookStack::start(&only(&old)).await;
    let keeps_old = PythonReceiver::start(&old);
    // The secret is re-read once older than a second.
    let sender = stack.sender(&keeps_old.url, 1);
    stack
        .publish(&detail("idv_rotate1", 1, "active", None))
        .await;
    sender.handle_batch(stack.receive(10).await).await;
    assert_eq!(keeps_old.next()["verified"], true);

    stack
        .put_secret(&json!({"current": new, "previous": old}).to_string())
        .await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    stack
        .publish(&detail("idv_rotate1", 2, "success", Some("active")))
        .await;
    let report = sender.handle_batch(stack.receive(10).await).await;
    assert_eq!(report.outcomes[0].1, Outcome::Delivered);
    assert_eq!(
        keeps_old.next()["verified"],
        true,
        "a receiver still on the old key verifies during the rotation"
    );

    // A receiver already switched to the new key verifies too; both entries are in the header.
    let switched = ScriptedReceiver::start(&[]).await;
    let to_switched = stack.sender(&switched.url, 1);
    let moved_on = PythonReceiver::start(&new);
    let to_moved_on = stack.sender(&moved_on.url, 1);
    stack
        .publish(&detail("idv_rotate2", 1, "active", None))
        .await;
    let batch = stack.receive(10).await;
    to_switched.handle_batch(batch.clone()).await;
    stack.show_again(&batch.records[0]).await;
    to_moved_on.handle_batch(stack.receive(10).await).await;
    assert_eq!(moved_on.next()["verified"], true);
    let r = &switched.received()[0];
    let entries: Vec<&str> = r.header("webhook-signature").split(' ').collect();
    assert_eq!(entries.len(), 2, "{entries:?}");
    let id = r.header("webhook-id");
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert_eq!(
        entries[0],
        SigningKey::parse(&new).unwrap().sign(id, ts, &r.body)
    );
    assert_eq!(
        entries[1],
        SigningKey::parse(&old).unwrap().sign(id, ts, &r.body)
    );

    // Rotation over: the previous key is dropped and signs no more.
    stack.put_secret(&only(&new)).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    stack
        .publish(&detail("idv_rotate3", 1, "active", None))
        .await;
    sender.handle_batch(stack.receive(10).await).await;
    assert_eq!(keeps_old.next()["verified"], false);
}
