//! What to measure: the functions, their tables and the sessions they read.

use super::*;

/// A table per run, the sessions get-session and link-token read, and how to start each
/// function.
pub(crate) async fn plan(args: &Args, services: &Services) -> Result<Plan, BenchError> {
    let dynamo = &services.dynamo;
    let rust = |name: &str, extra: Vec<(String, String)>| Launch {
        name: name.into(),
        runtime: "rust",
        program: args.bin_dir.join(name),
        args: vec![],
        cwd: None,
        extra_env: extra,
    };
    let table = |name: &str| {
        let name = format!("{TABLE}-{name}");
        let dynamo = dynamo.clone();
        async move {
            localstack::create_sessions_table(&dynamo, &name)
                .await
                .map_err(|e| BenchError::Setup(e.to_string()))?;
            Ok::<_, BenchError>((DynamoStore::new(dynamo, &name), name))
        }
    };
    let owner = "bench-owner";
    let (create_store, create_table) = table("rust-create").await?;
    let (get_store, get_table) = table("rust-get").await?;
    let (link_store, link_table) = table("rust-link").await?;
    let (py_store, py_table) = table("python-create").await?;
    let seeded_get = vec![(
        seed_session(services, &get_table, owner).await?,
        format!("rt-seed-{owner}-0"),
    )];
    let mut seeded_link = Vec::new();
    for k in 0..args.cold_starts.max(1) + args.warm {
        let owner = format!("{owner}-link-{k}");
        let id = seed_session(services, &link_table, &owner).await?;
        seeded_link.push((id, format!("rt-seed-{owner}-0")));
    }
    // A read of a session synced within the freshness window is one GetItem; the window is
    // widened so that the whole run stays inside it and every read measures the same path.
    let table_env = |t: &str| ("TABLE_NAME".to_owned(), t.to_owned());
    let fresh = vec![
        ("SESSION_FRESHNESS_SECONDS".into(), "86400".into()),
        table_env(&get_table),
    ];
    let (events_store, _) = table("rust-events").await?;
    let bus = event_bus(services).await?;
    let batch = stream_batch(services, &events_store).await?;
    let webhook = outcome_webhook().await?;
    let hello = Launch {
        program: args.bin_dir.join(HELLO_BIN),
        ..rust("hello", vec![])
    };
    let plan: Vec<(Launch, Subject)> = vec![
        (
            hello,
            Subject {
                flow: Flow::Hello,
                store: DynamoStore::new(dynamo.clone(), TABLE),
                tag: "hello".into(),
                existing: Vec::new(),
                batch: None,
            },
        ),
        (
            rust("create-session", vec![table_env(&create_table)]),
            Subject {
                flow: Flow::CreateSession,
                store: create_store,
                tag: "rust".into(),
                existing: Vec::new(),
                batch: None,
            },
        ),
        (
            rust("get-session", fresh),
            Subject {
                flow: Flow::GetSession,
                store: get_store,
                tag: "rust-get".into(),
                existing: seeded_get,
                batch: None,
            },
        ),
        (
            rust("link-token", vec![table_env(&link_table)]),
            Subject {
                flow: Flow::LinkToken,
                store: link_store,
                tag: "rust-link".into(),
                existing: seeded_link,
                batch: None,
            },
        ),
        (
            rust(
                "publish-events",
                vec![
                    ("EVENT_BUS_NAME".into(), bus),
                    ("STACK_NAME".into(), "bench".into()),
                ],
            ),
            Subject {
                flow: Flow::PublishEvents,
                store: events_store,
                tag: "rust-events".into(),
                existing: Vec::new(),
                batch: Some(std::sync::Arc::new(batch)),
            },
        ),
        (
            Launch {
                program: args.bin_dir.join("publish-events"),
                ..rust("outcome-webhook", webhook.env)
            },
            Subject {
                flow: Flow::OutcomeWebhook,
                store: DynamoStore::new(dynamo.clone(), TABLE),
                tag: "rust-webhook".into(),
                existing: Vec::new(),
                batch: Some(std::sync::Arc::new(webhook.batch)),
            },
        ),
    ];
    Ok(Plan {
        functions: plan,
        python_store: py_store,
        python_table: py_table,
    })
}

/// publish-events' bus, its own on moto's EventBridge, with no rule: what is timed is the
/// function's work, not moto's deliveries. (Its table, from `table`, has the template's stream.)
async fn event_bus(services: &Services) -> Result<String, BenchError> {
    let bus = format!("{TABLE}-events-{}", std::process::id());
    aws_sdk_eventbridge::Client::new(&services.sdk)
        .create_event_bus()
        .name(&bus)
        .send()
        .await
        .map_err(|e| BenchError::Setup(format!("CreateEventBus: {e:?}")))?;
    Ok(bus)
}

/// A real stream batch of [`STREAM_BATCH`] records, read back from moto's stream the way the
/// event source mapping reads it: half new sessions (INSERT, `active`), half of them moving to
/// `success` (MODIFY), so every record is one event and each PutEvents call carries ten.
async fn stream_batch(services: &Services, store: &DynamoStore) -> Result<Value, BenchError> {
    use shared::plaid::types::IdvStatus;
    let setup = |e: String| BenchError::Setup(format!("publish-events batch: {e}"));
    let mut ids = Vec::new();
    for k in 0..STREAM_BATCH / 2 {
        ids.push(seed_session(services, store.table(), &format!("events-{k}")).await?);
    }
    for id in &ids {
        let id = IdvId::parse(id.clone()).map_err(|e| setup(e.to_string()))?;
        let mut record = store
            .get(&id)
            .await
            .map_err(|e| setup(e.to_string()))?
            .ok_or_else(|| setup("a seeded session is missing".into()))?;
        let now = chrono::Utc::now();
        record.status = IdvStatus::Success;
        record.completed_at = Some(now);
        record.synced_at = now;
        record.updated_at = now;
        store
            .save_snapshot(&record)
            .await
            .map_err(|e| setup(e.to_string()))?;
    }
    let mut reader = testkit::outcome_events::StreamReader::open(&services.sdk, store.table())
        .await
        .map_err(|e| setup(e.to_string()))?;
    let mut batch = reader.read_all().await.map_err(|e| setup(e.to_string()))?;
    if batch.records.len() < STREAM_BATCH {
        return Err(setup(format!(
            "moto's stream has {} records, wanted {STREAM_BATCH}",
            batch.records.len()
        )));
    }
    batch.records.truncate(STREAM_BATCH);
    serde_json::to_value(&batch).map_err(|e| setup(e.to_string()))
}

/// The outcome-webhook sender's set-up and its batch.
struct WebhookBench {
    env: Vec<(String, String)>,
    batch: Value,
}

/// A bus, rule, queue and signing secret on this process's moto (`WebhookStack`, which panics
/// if moto refuses its set-up), a receiver that answers 204, and one real message: an outcome
/// event published on the bus and received from the queue the way Lambda's poller hands it
/// over. The sender deletes nothing itself (Lambda does, on success), so the same batch can be
/// delivered on every invocation.
async fn outcome_webhook() -> Result<WebhookBench, BenchError> {
    use testkit::outcome_webhook::{ScriptedReceiver, WebhookStack, detail};
    let stack =
        WebhookStack::start(r#"{"current": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}"#).await;
    let receiver = ScriptedReceiver::start(&[]).await;
    stack
        .publish(&detail("idv_bench0000000000", 1, "success", Some("active")))
        .await;
    let batch = stack.receive(1).await;
    if batch.records.len() != 1 {
        return Err(BenchError::Setup(format!(
            "the outcome webhook queue held {} messages, wanted 1",
            batch.records.len()
        )));
    }
    Ok(WebhookBench {
        env: stack
            .env(&receiver.url, 300)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        batch: serde_json::to_value(&batch).map_err(|e| BenchError::Setup(e.to_string()))?,
    })
}
