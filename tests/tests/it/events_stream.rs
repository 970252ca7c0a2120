//! Outcome events (issue #20) against moto's DynamoDB stream, EventBridge and SQS with the real
//! SDK: sessions walked through the emulator, the table's stream read from `TRIM_HORIZON` and
//! handed to `publish-events`' handler, and the events read back from the queue a rule on the
//! bus feeds, as a customer would.

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use serde_json::{Value, json};
use shared::events::config::EventsConfig;
use shared::events::publish::Publisher;
use shared::events::serve::{handle, handle_checked};
use shared::ids::IdvId;
use shared::plaid::types::{IdvStatus, PlaidEnvironment};
use shared::store::SessionStore;
use testkit::emulator::details::leslie;
use testkit::emulator::{FinishOutcome, Outcome};
use testkit::localstack::aws_config;
use testkit::outcome_events::{BusWithQueue, StreamReader, create_bus_with_queue, drain_queue};
use testkit::stack::Stack;

const SOURCE: &str = "plaid-idv";
const CONTRACT_KEYS: [&str; 11] = [
    "schema_version",
    "event_id",
    "session_id",
    "client_user_id",
    "template_id",
    "status",
    "previous_status",
    "previous_attempt_id",
    "sequence",
    "occurred_at",
    "environment",
];

struct Events {
    bus: BusWithQueue,
    publisher: Publisher,
    stream: StreamReader,
}

async fn events_for(s: &Stack, prefix: &str) -> Events {
    events_with(s, prefix, |b| b).await
}

async fn events_with(
    s: &Stack,
    prefix: &str,
    client: impl FnOnce(aws_sdk_eventbridge::config::Builder) -> aws_sdk_eventbridge::config::Builder,
) -> Events {
    let sdk = aws_config().await;
    let name = format!("{prefix}-{}", fastrand::u32(..));
    let bus = create_bus_with_queue(&sdk, &name, SOURCE)
        .await
        .expect("bus, rule and queue in moto");
    let config = EventsConfig::from_lookup(|k| match k {
        "EVENT_BUS_NAME" => Some(bus.bus_name.clone()),
        "PLAID_ENV" => Some("sandbox".into()),
        _ => None,
    })
    .expect("events config");
    let eb = aws_sdk_eventbridge::Client::from_conf(
        client(aws_sdk_eventbridge::config::Builder::from(&sdk)).build(),
    );
    let publisher = Publisher::new(eb, &config);
    let stream = StreamReader::open(&sdk, &s.ctx.config.table_name)
        .await
        .expect("the table has a stream");
    Events {
        bus,
        publisher,
        stream,
    }
}

impl Events {
    /// Everything on the stream so far, through the handler; the failures it answered.
    async fn publish_all(&mut self) -> (DynamoDbEvent, Vec<String>) {
        let batch = self.stream.read_all().await.expect("stream read");
        let (logs, guard) = testkit::log_capture::capture_logs();
        let failures = failures(&handle(&self.publisher, &batch).await);
        drop(guard);
        if !failures.is_empty() {
            eprintln!("{}", String::from_utf8_lossy(&logs.lock().unwrap()));
        }
        (batch, failures)
    }

    async fn received(&self) -> Vec<Value> {
        drain_queue(&aws_config().await, &self.bus.queue_url)
            .await
            .expect("queue read")
    }
}

fn failures(r: &aws_lambda_events::event::streams::DynamoDbEventResponse) -> Vec<String> {
    r.batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap_or_default())
        .collect()
}

/// (session, status, previous_status, sequence) of each event, in the order received.
fn summary(events: &[Value]) -> Vec<(String, String, Value, u64)> {
    events
        .iter()
        .map(|e| {
            let d = &e["detail"];
            (
                d["session_id"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
                d["previous_status"].clone(),
                d["sequence"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn for_session(events: &[Value], id: &str) -> Vec<(String, Value, u64)> {
    let mut mine: Vec<_> = summary(events)
        .into_iter()
        .filter(|(s, ..)| s == id)
        .map(|(_, st, prev, seq)| (st, prev, seq))
        .collect();
    // EventBridge does not order deliveries; consumers order by `sequence`.
    mine.sort_by_key(|(_, _, seq)| *seq);
    mine
}

fn schema() -> jsonschema::Validator {
    let path =
        testkit::localstack::workspace_root().join("shared/events/status-changed.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).expect("a valid JSON schema")
}

/// The contract, on each event as the queue got it: source, detail-type, the schema, exactly
/// the contract's keys, the stable id, and nothing of the person.
fn assert_contract(events: &[Value]) {
    let validator = schema();
    let pii = [
        leslie::GIVEN_NAME,
        leslie::FAMILY_NAME,
        leslie::DATE_OF_BIRTH,
        leslie::PHONE,
        leslie::STREET,
        leslie::CITY,
        leslie::POSTAL_CODE,
        leslie::SSNS[1],
        leslie::SSN_LAST_4[1],
        "leslie@example.com",
    ];
    for e in events {
        assert_eq!(e["source"], SOURCE, "{e}");
        assert_eq!(e["detail-type"], "Identity Verification Status Changed");
        let d = &e["detail"];
        let errors: Vec<String> = validator.iter_errors(d).map(|x| x.to_string()).collect();
        assert!(errors.is_empty(), "{d} against the schema: {errors:?}");
        let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut want = CONTRACT_KEYS.to_vec();
        want.sort_unstable();
        assert_eq!(keys, want);
        assert_eq!(
            d["event_id"],
            format!("{}:{}", d["session_id"].as_str().unwrap(), d["sequence"])
        );
        assert_eq!(d["environment"], "sandbox");
        let text = e.to_string();
        for p in pii {
            assert!(
                !text.contains(p),
                "an event carries personal data {p:?}: {text}"
            );
        }
    }
}

/// Start a session for `user` whose Plaid record holds Leslie's identity data (so that "no
/// personal data" is checked against data that exists).
async fn start_with_identity(s: &Stack, user: &str) -> String {
    let id = s.start_session(user).await;
    s.emulator
        .submit_user(
            &id,
            json!({
                "email_address": "leslie@example.com",
                "phone_number": leslie::PHONE,
                "date_of_birth": leslie::DATE_OF_BIRTH,
                "name": {"given_name": leslie::GIVEN_NAME, "family_name": leslie::FAMILY_NAME},
                "address": {"street": leslie::STREET, "city": leslie::CITY, "region": leslie::REGION,
                            "postal_code": leslie::POSTAL_CODE, "country": leslie::COUNTRY},
                "id_number": {"type": "us_ssn", "value": leslie::SSNS[1]}
            }),
        )
        .expect("identity data submitted");
    id
}

#[tokio::test]
async fn each_outcome_yields_exactly_its_events_in_order() {
    let s = Stack::start().await;
    let mut ev = events_for(&s, "outcomes").await;
    let outcomes = [
        (FinishOutcome::Success, "success"),
        (FinishOutcome::Failed, "failed"),
        (FinishOutcome::Canceled, "canceled"),
        (FinishOutcome::Expired, "expired"),
        (FinishOutcome::PendingReview, "pending_review"),
    ];
    let mut ids = Vec::new();
    for (outcome, status) in outcomes {
        let id = start_with_identity(&s, &format!("walker-{status}")).await;
        let answers = s.finish_and_deliver(&id, outcome).await;
        assert!(answers.iter().all(|a| a.status == 200), "webhooks recorded");
        ids.push((id, status));
    }
    // The reviewer decides the one in review.
    let (review_id, _) = &ids[4];
    s.emulator
        .review(review_id, Outcome::Success)
        .await
        .expect("review");
    s.deliver_new_webhooks().await;

    let (batch, failed) = ev.publish_all().await;
    assert!(failed.is_empty(), "{failed:?}");
    let events = ev.received().await;
    assert_contract(&events);
    for (id, status) in &ids[..4] {
        assert_eq!(
            for_session(&events, id),
            [
                ("active".to_owned(), Value::Null, 1),
                (status.to_string(), json!("active"), 2)
            ],
            "{id}"
        );
    }
    assert_eq!(
        for_session(&events, review_id),
        [
            ("active".to_owned(), Value::Null, 1),
            ("pending_review".to_owned(), json!("active"), 2),
            ("success".to_owned(), json!("pending_review"), 3),
        ]
    );
    assert_eq!(events.len(), 11, "nothing else was published");
    assert!(
        batch.records.len() > events.len(),
        "the stream also held writes that are not status changes ({} records)",
        batch.records.len()
    );
}

#[tokio::test]
async fn the_same_batch_published_twice_carries_the_same_ids() {
    let s = Stack::start().await;
    let mut ev = events_for(&s, "twice").await;
    let id = s.start_session("twice").await;
    s.finish_and_deliver(&id, FinishOutcome::Success).await;
    let batch = ev.stream.read_all().await.unwrap();
    assert!(failures(&handle(&ev.publisher, &batch).await).is_empty());
    let first = ev.received().await;
    assert!(failures(&handle(&ev.publisher, &batch).await).is_empty());
    let second = ev.received().await;
    let ids = |events: &[Value]| {
        let mut v: Vec<String> = events
            .iter()
            .map(|e| e["detail"]["event_id"].as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ids(&first), [format!("{id}:1"), format!("{id}:2")]);
    assert_eq!(ids(&first), ids(&second));
    // The whole detail is the same, not only its id (occurred_at comes from the item).
    let details = |events: &[Value]| {
        let mut v: Vec<String> = events.iter().map(|e| e["detail"].to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(details(&first), details(&second));
}

/// Makes EventBridge refuse the entries whose detail holds one of `event_ids` (a malformed
/// detail, which moto refuses per entry like EventBridge does), leaving the others alone.
#[derive(Debug)]
struct RefuseEntries(Vec<String>);

impl aws_sdk_eventbridge::config::Intercept for RefuseEntries {
    fn name(&self) -> &'static str {
        "RefuseEntries"
    }

    fn modify_before_serialization(
        &self,
        context: &mut aws_sdk_eventbridge::config::interceptors::BeforeSerializationInterceptorContextMut<'_>,
        _: &aws_sdk_eventbridge::config::RuntimeComponents,
        _: &mut aws_sdk_eventbridge::config::ConfigBag,
    ) -> Result<(), aws_sdk_eventbridge::error::BoxError> {
        if let Some(input) = context
            .input_mut()
            .downcast_mut::<aws_sdk_eventbridge::operation::put_events::PutEventsInput>(
        ) {
            for entry in input.entries.iter_mut().flatten() {
                let hit = entry.detail.as_deref().is_some_and(|d| {
                    self.0
                        .iter()
                        .any(|id| d.contains(&format!("\"event_id\":\"{id}\"")))
                });
                if hit {
                    entry.detail = Some("{not json".into());
                }
            }
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_refused_entry_is_reported_with_the_later_records_of_its_session_only() {
    let s = Stack::start().await;
    let a = s.start_session("refused-a").await;
    let b = s.start_session("refused-b").await;
    s.finish_and_deliver(&a, FinishOutcome::Success).await;
    s.finish_and_deliver(&b, FinishOutcome::Failed).await;

    // Refuse A's last change: exactly that record comes back.
    let refuse = vec![format!("{a}:2")];
    let mut ev = events_with(&s, "refuse-one", |c| c.interceptor(RefuseEntries(refuse))).await;
    let batch = ev.stream.read_all().await.unwrap();
    let seq_of = |id: &str, status: &str| -> String {
        batch
            .records
            .iter()
            .find(|r| {
                let img = &r.change.new_image;
                matches!(img.get("id"), Some(serde_dynamo::AttributeValue::S(x)) if x == id)
                    && matches!(img.get("status"), Some(serde_dynamo::AttributeValue::S(x)) if x == status)
                    && (status != "active" || r.event_name == "INSERT")
            })
            .and_then(|r| r.change.sequence_number.clone())
            .unwrap_or_else(|| panic!("a record of {id} becoming {status}"))
    };
    let failed = failures(&handle(&ev.publisher, &batch).await);
    assert_eq!(failed, [seq_of(&a, "success")]);
    let got = summary(&ev.received().await);
    assert_eq!(
        got.len(),
        3,
        "the other three changes were published: {got:?}"
    );

    // Refuse A's first change: its later one is held back too (order per session), B is not.
    let refuse = vec![format!("{a}:1")];
    let ev = events_with(&s, "refuse-first", |c| c.interceptor(RefuseEntries(refuse))).await;
    let failed = failures(&handle(&ev.publisher, &batch).await);
    assert_eq!(failed, [seq_of(&a, "active"), seq_of(&a, "success")]);
    let got = summary(&ev.received().await);
    assert!(
        got.iter().all(|(s, ..)| s == &b),
        "nothing of A past its gap: {got:?}"
    );
    assert_eq!(got.len(), 2);
}

#[tokio::test]
async fn writes_that_change_no_status_publish_nothing() {
    let s = Stack::start().await;
    let mut ev = events_for(&s, "quiet").await;
    let id = s.start_session("quiet").await;
    let idv = IdvId::parse(&id).unwrap();
    // A step inside `active` (webhook, re-read, snapshot), a claim, a cool-down stamp, a sync
    // that keeps the status, a reconcile refresh.
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
        .expect("a step");
    assert!(!s.deliver_new_webhooks().await.is_empty());
    let now = s.clock_now();
    assert!(
        s.ctx
            .store
            .claim_retry(&idv, now + chrono::Duration::seconds(30), now)
            .await
            .unwrap()
    );
    assert!(
        s.ctx
            .store
            .claim_live_read(&idv, now, now - chrono::Duration::seconds(60))
            .await
            .unwrap()
    );
    let mut synced = s.stored(&id).await.unwrap();
    synced.synced_at = s.clock_now() + chrono::Duration::milliseconds(5);
    synced.updated_at = synced.synced_at;
    assert!(
        s.ctx
            .store
            .save_snapshot(&synced)
            .await
            .unwrap()
            .is_written()
    );
    s.clock.advance(chrono::Duration::seconds(1000));
    assert_eq!(s.reconcile().await.examined, 1);

    let (batch, failed) = ev.publish_all().await;
    assert!(failed.is_empty());
    assert!(batch.records.len() >= 5, "{} records", batch.records.len());
    let got = summary(&ev.received().await);
    assert_eq!(got, [(id, "active".to_owned(), Value::Null, 1)]);
}

#[tokio::test]
async fn the_app_expiry_publishes_expired() {
    let s = Stack::start().await;
    let mut ev = events_for(&s, "app-expiry").await;
    let id = s.start_session("late").await;
    s.clock.advance(chrono::Duration::seconds(172_801));
    assert_eq!(s.reconcile().await.app_expired, 1);
    // Plaid still says active, and a later sync says so again: still one expiry.
    s.clock.advance(chrono::Duration::seconds(901));
    let mut again = s.stored(&id).await.unwrap();
    again.synced_at = s.clock_now();
    again.updated_at = again.synced_at;
    assert!(
        s.ctx
            .store
            .save_snapshot(&again)
            .await
            .unwrap()
            .is_written()
    );

    let (_, failed) = ev.publish_all().await;
    assert!(failed.is_empty());
    let events = ev.received().await;
    assert_contract(&events);
    assert_eq!(
        for_session(&events, &id),
        [
            ("active".to_owned(), Value::Null, 1),
            ("expired".to_owned(), json!("active"), 2)
        ]
    );
}

/// The store's `sequence`: 1 on insert, +1 per stored status change (snapshot or app expiry),
/// unchanged by a snapshot that keeps the status and by a refused one.
#[tokio::test]
async fn the_store_counts_each_status_change_once() {
    let s = Stack::start().await;
    let id = s.start_session("counter").await;
    let idv = IdvId::parse(&id).unwrap();
    let sequence = || async {
        let item = s
            .ctx
            .store
            .client()
            .get_item()
            .table_name(&s.ctx.config.table_name)
            .key("id", aws_sdk_dynamodb::types::AttributeValue::S(id.clone()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        item["sequence"].as_n().unwrap().parse::<u64>().unwrap()
    };
    assert_eq!(sequence().await, 1);
    let base = s.stored(&id).await.unwrap();
    let snapshot = |status: IdvStatus, secs: i64| {
        let mut r = base.clone();
        r.status = status;
        r.synced_at = base.synced_at + chrono::Duration::seconds(secs);
        r.updated_at = r.synced_at;
        r
    };
    assert!(
        s.ctx
            .store
            .save_snapshot(&snapshot(IdvStatus::Active, 1))
            .await
            .unwrap()
            .is_written()
    );
    assert_eq!(sequence().await, 1, "same status: no change");
    let review = s
        .ctx
        .store
        .save_snapshot(&snapshot(IdvStatus::PendingReview, 2))
        .await
        .unwrap();
    assert!(review.is_written());
    assert_eq!(sequence().await, 2);
    // Stale, with another status: refused, not counted.
    assert!(
        !s.ctx
            .store
            .save_snapshot(&snapshot(IdvStatus::Failed, 1))
            .await
            .unwrap()
            .is_written()
    );
    assert_eq!(sequence().await, 2);
    assert!(
        s.ctx
            .store
            .save_snapshot(&snapshot(IdvStatus::Success, 3))
            .await
            .unwrap()
            .is_written()
    );
    assert_eq!(sequence().await, 3);
    // Final: a later non-final snapshot is refused and not counted.
    assert!(
        !s.ctx
            .store
            .save_snapshot(&snapshot(IdvStatus::Active, 4))
            .await
            .unwrap()
            .is_written()
    );
    assert_eq!(sequence().await, 3);
    assert_eq!(s.stored(&id).await.unwrap().status, IdvStatus::Success);
    let _ = idv;
}

/// The bus is checked with a process's first batch, beside its first `PutEvents` (not before
/// the first `/next`): a wrong bus fails that batch whole, so Lambda retries every record of it,
/// and a right one answers the batch as [`handle`] does.
#[tokio::test]
async fn a_missing_bus_fails_the_first_batch_whole_and_a_real_one_publishes_it() {
    let s = Stack::start().await;
    let mut ev = events_for(&s, "first-batch").await;
    let id = s.start_session("first-batch").await;
    let batch = ev.stream.read_all().await.unwrap();
    assert!(!batch.records.is_empty());

    let sdk = aws_config().await;
    let config = EventsConfig::from_lookup(|k| {
        (k == "EVENT_BUS_NAME").then(|| format!("no-such-bus-{}", fastrand::u32(..)))
    })
    .unwrap();
    assert_eq!(config.environment, PlaidEnvironment::Sandbox);
    let missing = Publisher::new(aws_sdk_eventbridge::Client::new(&sdk), &config);
    let err = missing.check_bus().await.expect_err("no such bus");
    assert!(err.to_string().contains("no-such-bus"), "{err}");
    let err = handle_checked(&missing, &batch)
        .await
        .expect_err("a batch for a missing bus fails whole");
    assert!(err.to_string().contains("no-such-bus"), "{err}");

    let answer = handle_checked(&ev.publisher, &batch)
        .await
        .expect("the bus exists");
    assert!(failures(&answer).is_empty());
    let events = ev.received().await;
    assert_eq!(
        summary(&events)
            .iter()
            .map(|(session, status, _, _)| (session.clone(), status.clone()))
            .collect::<Vec<_>>(),
        [(id, "active".to_owned())]
    );
}

/// `make run`'s webhook walk-through (`idv-local events --webhooks`, through
/// `testkit::webhook_walkthrough`): a new session's `active` event, published from the stream,
/// reaches `tests/webhooks/receiver.py` through a second rule's queue and the sender, and
/// verifies with the `standardwebhooks` package.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walkthrough_delivers_a_verified_webhook_for_a_new_session() {
    let s = Stack::start().await;
    let mut ev = events_for(&s, "walkthrough").await;
    let hooks = testkit::webhook_walkthrough::LocalWebhooks::start(
        aws_config().await,
        &ev.bus.bus_name,
        &format!("walkthrough-hooks-{}", fastrand::u32(..)),
    )
    .await;
    let id = s.start_session("walkthrough").await;
    let (_, failed) = ev.publish_all().await;
    assert!(failed.is_empty(), "{failed:?}");
    let mut deliveries = Vec::new();
    for _ in 0..50 {
        deliveries.extend(hooks.poll_once().await);
        if !deliveries.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    let d = &deliveries[0];
    assert_eq!(
        d.outcome,
        shared::outcome_webhook::handler::Outcome::Delivered
    );
    assert_eq!(d.verdict_word(), "verified", "{:?}", d.verdict);
    let verdict = d.verdict.as_ref().unwrap();
    assert_eq!(verdict["type"], "identity_verification.status_changed");
    assert_eq!(verdict["data"]["session_id"], id.as_str());
    assert_eq!(verdict["data"]["status"], "active");
    assert_eq!(verdict["data"]["previous_status"], Value::Null);
    assert_eq!(verdict["id"], verdict["data"]["event_id"]);
}
