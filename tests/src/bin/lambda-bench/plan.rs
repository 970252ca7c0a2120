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
            },
        ),
        (
            rust("create-session", vec![table_env(&create_table)]),
            Subject {
                flow: Flow::CreateSession,
                store: create_store,
                tag: "rust".into(),
                existing: Vec::new(),
            },
        ),
        (
            rust("get-session", fresh),
            Subject {
                flow: Flow::GetSession,
                store: get_store,
                tag: "rust-get".into(),
                existing: seeded_get,
            },
        ),
        (
            rust("link-token", vec![table_env(&link_table)]),
            Subject {
                flow: Flow::LinkToken,
                store: link_store,
                tag: "rust-link".into(),
                existing: seeded_link,
            },
        ),
    ];
    Ok(Plan {
        functions: plan,
        python_store: py_store,
        python_table: py_table,
    })
}
