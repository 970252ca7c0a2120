//! The other direction of `check_iam`: what each function's code asks of DynamoDB is granted.

use super::checks::*;
use super::*;

/// The DynamoDB requests one store call makes, as `DynamoStore` makes them. `save_snapshot` also
/// puts the whole item when it is absent (a session Plaid knows and we never stored), as when
/// reconcile records an attempt made after a lapsed retry claim.
fn dynamo_requests(op: testkit::faulty_store::Op) -> Vec<(String, String)> {
    use testkit::faulty_store::Op;
    let (t, q) = (table_action, index_query);
    match op {
        Op::Get => vec![t("GetItem")],
        Op::LatestFor | Op::AttemptsSince => vec![q("by_user_template")],
        // By template when one is given, else all of the user's sessions.
        Op::ListForUser => vec![q("by_user"), q("by_user_template")],
        Op::Insert => vec![t("PutItem")],
        Op::SaveSnapshot
        | Op::MarkAppExpired
        | Op::ReopenReview
        | Op::ClaimRetry
        | Op::ReleaseRetry
        | Op::SettleRetry
        | Op::ClaimLiveRead
        | Op::ClaimReadBudget => {
            vec![t("UpdateItem")]
        }
        Op::OpenSessions => vec![q("open_sessions")],
        Op::LapsedRetryClaims => vec![q("retry_claims")],
    }
}

/// The grants `check_iam` holds the template to cover what each function's code really asks of
/// DynamoDB: every path of every function is run against moto through a store that counts its
/// calls, and each call's requests must be granted to that function.
#[tokio::test]
async fn each_function_is_granted_what_its_code_asks_of_dynamodb() {
    use shared::store::DynamoStore;
    use testkit::apigw::ApiEvent;
    use testkit::emulator::{Fault, FinishOutcome};
    use testkit::faulty_store::{FaultyStore, Op};
    use testkit::stack::Stack;

    const OPS: [Op; 15] = [
        Op::ClaimLiveRead,
        Op::ClaimReadBudget,
        Op::Get,
        Op::LatestFor,
        Op::ListForUser,
        Op::AttemptsSince,
        Op::Insert,
        Op::SaveSnapshot,
        Op::OpenSessions,
        Op::MarkAppExpired,
        Op::ReopenReview,
        Op::ClaimRetry,
        Op::ReleaseRetry,
        Op::SettleRetry,
        Op::LapsedRetryClaims,
    ];
    let s: Stack<FaultyStore<DynamoStore>> =
        Stack::builder().start_with_store(FaultyStore::new).await;
    let counts = |s: &Stack<FaultyStore<DynamoStore>>| OPS.map(|op| s.ctx.store.calls(op));
    let mut used: BTreeMap<&str, BTreeSet<Op>> = BTreeMap::new();
    let mut note = |function: &'static str, before: [u32; 15], after: [u32; 15]| {
        let ops = used.entry(function).or_default();
        for (i, op) in OPS.iter().enumerate() {
            if after[i] > before[i] {
                ops.insert(*op);
            }
        }
    };

    // create-session: a first start, a resume, a retry after a failure, a retry Plaid refuses.
    let mut b = counts(&s);
    let alice = s.start_session("iam-alice").await;
    let again = s.call(ApiEvent::post_sessions().user("iam-alice")).await;
    assert_eq!(again.status, 200, "{}", again.json);
    note("create-session", b, counts(&s));
    let bob = s.start_session("iam-bob").await;
    b = counts(&s);
    for a in s.finish_and_deliver(&bob, FinishOutcome::Failed).await {
        assert_eq!(a.status, 200, "{}", a.json);
    }
    note("webhook", b, counts(&s));
    b = counts(&s);
    let retried = s.call(ApiEvent::post_sessions().user("iam-bob")).await;
    assert_eq!(retried.status, 201, "{}", retried.json);
    note("create-session", b, counts(&s));
    let carol = s.start_session("iam-carol").await;
    s.finish_and_deliver(&carol, FinishOutcome::Failed).await;
    s.emulator
        .inject_fault(Fault {
            endpoint: IDV_RETRY.into(),
            // Any 4xx means Plaid made nothing, so the claim is given back.
            status: Some(429),
            count: 1,
            delay_ms: 0,
        })
        .unwrap();
    b = counts(&s);
    let refused = s.call(ApiEvent::post_sessions().user("iam-carol")).await;
    assert!(refused.status >= 400, "{}", refused.json);
    note("create-session", b, counts(&s));

    // webhook: the retry's webhooks, including RETRIED, for sessions we hold.
    b = counts(&s);
    for a in s.deliver_new_webhooks().await {
        assert_eq!(a.status, 200, "{}", a.json);
    }
    note("webhook", b, counts(&s));

    // get-session and link-token, fresh and then stale enough to refresh from Plaid.
    for stale in [false, true] {
        if stale {
            s.clock.advance(chrono::Duration::seconds(901));
        }
        // link-token first: once get-session has refreshed the session it is fresh again.
        b = counts(&s);
        let a = s.call(ApiEvent::link_token(&alice).user("iam-alice")).await;
        assert!(matches!(a.status, 200 | 201), "{}", a.json);
        note("link-token", b, counts(&s));
        // Past the per-session cool-down that link-token's Plaid calls started.
        s.clock
            .advance(shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1));
        b = counts(&s);
        for event in [
            ApiEvent::get_session(&alice).user("iam-alice"),
            ApiEvent::get_session(&alice)
                .user("iam-alice")
                .query("refresh", "true"),
            ApiEvent::list_sessions().user("iam-alice"),
            ApiEvent::list_sessions()
                .user("iam-bob")
                .query("template_id", testkit::stack::TEMPLATE),
        ] {
            let a = s.call(event).await;
            assert_eq!(a.status, 200, "{}", a.json);
        }
        note("get-session", b, counts(&s));
    }

    // reconcile: stale open sessions refreshed, then past the app window, expired.
    for advance in [901, 172_801] {
        s.clock.advance(chrono::Duration::seconds(advance));
        b = counts(&s);
        s.reconcile().await;
        note("reconcile", b, counts(&s));
    }

    let expected = expected_dynamo();
    let mut problems = Vec::new();
    for (function, ops) in &used {
        let granted = &expected[function];
        for op in ops {
            let requests = dynamo_requests(*op);
            // A listing queries one index, either of the two: one grant covers the calls seen.
            let missing: Vec<_> = if *op == Op::ListForUser {
                if requests.iter().any(|r| granted.contains(r)) {
                    vec![]
                } else {
                    requests
                }
            } else {
                requests
                    .into_iter()
                    .filter(|r| !granted.contains(r))
                    .collect()
            };
            for request in missing {
                problems.push(format!("{function}: {op:?} needs {request:?}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "code asks for more than granted: {problems:#?}"
    );
    // Not vacuous: every function was seen calling the store, with the calls that define it.
    let saw = |f: &str, op: Op| used.get(f).is_some_and(|o| o.contains(&op));
    assert!(saw("create-session", Op::Insert) && saw("create-session", Op::ClaimRetry));
    assert!(saw("create-session", Op::ReleaseRetry), "{used:?}");
    assert!(saw("get-session", Op::Get) && saw("get-session", Op::ListForUser));
    assert!(saw("get-session", Op::SaveSnapshot), "{used:?}");
    assert!(saw("link-token", Op::Get), "{used:?}");
    // A stale session is re-read from Plaid and recorded before a token is issued: the reason
    // link-token keeps dynamodb:UpdateItem.
    assert!(saw("link-token", Op::SaveSnapshot), "{used:?}");
    assert!(saw("webhook", Op::SaveSnapshot), "{used:?}");
    assert!(saw("reconcile", Op::OpenSessions) && saw("reconcile", Op::MarkAppExpired));
}
