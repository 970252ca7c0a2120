//! Webhooks that verify but must cost nothing (issue #23): a replayed token (also with its
//! signature's `s` flipped to `n - s`) buys no Plaid read, and a body Plaid's key signed but that
//! makes no sense is answered 200, writes nothing and is never a 5xx. Every token here is signed
//! by the emulator's own webhook key, which the real verifier fetches from the emulator.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use testkit::apigw::{Answer, ApiEvent};
use testkit::emulator::FinishOutcome;
use testkit::emulator::endpoints::IDV_GET as GET;
use testkit::faulty_store::FaultyStore;
use testkit::stack::Stack;

/// The P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
];

/// The same token with its ECDSA signature's `s` replaced by `n - s`: the other signature of the
/// same payload that ECDSA's malleability gives anyone holding one.
fn flip_s(token: &str) -> String {
    let (signing_input, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    assert_eq!(sig.len(), 64);
    let s = &mut sig[32..];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(P256_N[i]) - i16::from(s[i]) - borrow;
        (s[i], borrow) = if d < 0 {
            ((d + 256) as u8, 1)
        } else {
            (d as u8, 0)
        };
    }
    assert_eq!(borrow, 0, "s < n");
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(&sig))
}

fn headers(token: &str) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        ("plaid-verification".into(), token.into()),
    ]
}

async fn deliver(
    s: &Stack<FaultyStore<shared::store::DynamoStore>>,
    token: &str,
    body: &[u8],
) -> Answer {
    s.call(ApiEvent::webhook(&headers(token), body)).await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_replayed_token_buys_no_plaid_read_nor_does_its_flipped_signature() {
    let s = Stack::builder().start_with_store(FaultyStore::new).await;
    let id = s.start_session("rex").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    let hook = s
        .take_new_webhooks()
        .into_iter()
        .rfind(|h| h.webhook_code == "STATUS_UPDATED")
        .unwrap();
    let body = hook.body.as_bytes();
    let token = hook
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("plaid-verification"))
        .map(|(_, v)| v.clone())
        .unwrap();
    // Plaid's own token, delivered ten seconds after it was signed (well inside its five-minute
    // life): the first copy re-reads the session, after the token was signed.
    s.clock.advance(chrono::Duration::seconds(10));
    let gets = s.emulator.request_count(GET);
    let first = deliver(&s, &token, body).await;
    assert_eq!(
        (first.status, first.json["status"].as_str()),
        (200, Some("processed")),
        "{}",
        first.json
    );
    assert_eq!(s.emulator.request_count(GET), gets + 1);
    let read = s.emulator.request_count(GET);
    let writes = s.ctx.store.writes();

    // Copies of it, and the same token with `s` flipped (which verifies as well: the payload and
    // its `iat` are the same), carry nothing the read did not see.
    let flipped = flip_s(&token);
    assert_ne!(flipped, token);
    for copy in [&token, &flipped, &token, &flipped, &token] {
        let a = deliver(&s, copy, body).await;
        assert_eq!(
            (a.status, a.json["status"].as_str()),
            (200, Some("ignored")),
            "{}",
            a.json
        );
    }
    assert_eq!(s.emulator.request_count(GET), read, "no /get per copy");
    assert_eq!(s.ctx.store.writes(), writes, "nothing written per copy");

    // A token signed now over the same (identical) body may announce a later change: it is
    // never deduplicated by body, so it re-reads.
    let fresh = s.emulator.sign(body, s.clock_now().timestamp());
    let a = deliver(&s, &fresh, body).await;
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (200, Some("processed"))
    );
    assert_eq!(s.emulator.request_count(GET), read + 1);

    // The check is only a saving: when the store cannot say when the session was last read,
    // the copy reads Plaid as before, and is still answered.
    s.ctx.store.fail(
        testkit::faulty_store::Op::Get,
        testkit::faulty_store::FaultKind::Unavailable,
        1,
    );
    let a = deliver(&s, &token, body).await;
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (200, Some("processed")),
        "{}",
        a.json
    );
    assert_eq!(s.emulator.request_count(GET), read + 2);
}

#[tokio::test]
async fn verified_bodies_that_make_no_sense_are_answered_200_and_write_nothing() {
    let s = Stack::builder().start_with_store(FaultyStore::new).await;
    let id = s.start_session("nox").await;
    s.emulator
        .finish(&id, Some(FinishOutcome::Success), None)
        .await
        .unwrap();
    // The session's finish is known to Plaid but not recorded: any write would show.
    s.take_new_webhooks();
    let hook = |id: serde_json::Value| {
        json!({
            "webhook_type": "IDENTITY_VERIFICATION",
            "webhook_code": "STATUS_UPDATED",
            "identity_verification_id": id,
            "environment": "sandbox",
        })
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"STATUS_UPDATED for idv_x".to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, b'{', b'}']),
        ("empty", Vec::new()),
        // The fields of a genuine webhook for a real session, in order, as an array: serde would
        // read it as the struct.
        (
            "not an object",
            serde_json::to_vec(&json!([
                "IDENTITY_VERIFICATION",
                "STATUS_UPDATED",
                id,
                "sandbox"
            ]))
            .unwrap(),
        ),
        ("a string", serde_json::to_vec(&json!(id)).unwrap()),
        (
            "no identity_verification_id",
            serde_json::to_vec(&json!({
                "webhook_type": "IDENTITY_VERIFICATION",
                "webhook_code": "STATUS_UPDATED",
                "environment": "sandbox",
            }))
            .unwrap(),
        ),
        ("id a number", serde_json::to_vec(&hook(json!(42))).unwrap()),
        (
            "id an object",
            serde_json::to_vec(&hook(json!({"id": id}))).unwrap(),
        ),
        ("id null", serde_json::to_vec(&hook(json!(null))).unwrap()),
        (
            "id not an id",
            serde_json::to_vec(&hook(json!("idv#1 2"))).unwrap(),
        ),
    ];
    let writes = s.ctx.store.writes();
    for (what, body) in &cases {
        let a = deliver(&s, &s.emulator.sign(body, now()), body).await;
        assert_eq!(
            (a.status, a.json["status"].as_str()),
            (200, Some("ignored")),
            "{what}: {}",
            a.json
        );
    }
    assert_eq!(s.emulator.request_count(GET), 0, "no Plaid read");

    // An id Plaid does not know: Plaid is asked, says so, and the answer is still 200.
    let body = serde_json::to_vec(&hook(json!("idv_plaid_never_issued"))).unwrap();
    let a = deliver(&s, &s.emulator.sign(&body, now()), &body).await;
    assert_eq!(
        (a.status, a.json["status"].as_str()),
        (200, Some("ignored")),
        "{}",
        a.json
    );
    assert_eq!(s.emulator.request_count(GET), 1);

    assert_eq!(s.ctx.store.writes(), writes, "nothing written");
    assert_eq!(
        s.stored(&id).await.unwrap().status,
        shared::plaid::types::IdvStatus::Active,
        "the array naming the real session recorded nothing"
    );
}
