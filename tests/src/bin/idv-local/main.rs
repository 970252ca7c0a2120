//! The local stack's helper (`make run`, the browser tests):
//!
//! - `idv-local setup`: the sessions table, created from `infra/template.yaml` (the one
//!   definition), and the Plaid secret, in whatever endpoint the standard AWS variables name
//!   (moto on loopback under `make run`).
//! - `idv-local serve`: the one local origin a person opens. It serves the demo app
//!   (`tests/demo/`) at `/`, a small `/demo/config.json` (which Link script the page loads), and
//!   forwards the API's paths (`/sessions…`, `/webhooks/…`) as they are to `cargo lambda watch`,
//!   whose router (Cargo.toml, `workspace.metadata.lambda.watch.router`) hands each route to
//!   its function. Loopback only; any other path is a 404 in the API's error shape. It answers
//!   only requests whose `Host` is a loopback name (`localhost`, `127.0.0.1`, `[::1]`, any
//!   port): a page on another site whose name an attacker points at 127.0.0.1 (DNS rebinding)
//!   is the same origin as its attacker, not as this front, and gets 421.
//! - `idv-local expire`: moves one session's `expires_at` into the past in the local table, as
//!   if the app's expiry window had passed (the browser test of an expired session uses it).
//!   Refused unless the AWS endpoint is set (moto).
//! - `idv-local events`: `publish-events` over the local table's stream, in process (moto's
//!   stream is polled with the SDK; a moto Lambda trigger would clear it): creates the bus, a
//!   rule to an SQS queue, and prints each event the queue receives as it happens.

mod front;

use clap::{Parser, Subcommand};
use front::{Front, serve};
use std::io::Write as _;
use std::path::PathBuf;
use testkit::localstack::{
    LocalStackError, create_plaid_secret, create_sessions_table_from, template_path,
};

#[derive(Parser)]
#[command(about = "Local set-up for the Plaid IDV bundle")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the sessions table and the Plaid credentials secret (both skipped if present).
    Setup {
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        #[arg(long, env = "PLAID_SECRET_ID")]
        secret_id: String,
        #[arg(long, env = "PLAID_CLIENT_ID")]
        client_id: String,
        #[arg(long, env = "PLAID_SECRET", hide_env_values = true)]
        secret: String,
    },
    /// Serve the demo app and forward the API routes to `cargo lambda watch`, on one origin.
    /// Prints `listening on http://127.0.0.1:PORT` once it accepts connections.
    Serve {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Where `cargo lambda watch` listens (its router serves the API's paths).
        #[arg(long, default_value = "http://127.0.0.1:9000")]
        functions: String,
        /// The demo app's files.
        #[arg(long, default_value = "tests/demo")]
        demo_dir: PathBuf,
        /// The Link web SDK the page loads: the emulator's stand-in, or Plaid's own.
        #[arg(long)]
        link_script: String,
        /// `emulator` or `plaid`: shown on the page.
        #[arg(long, default_value = "emulator")]
        plaid_mode: String,
        /// The JSON-lines file `idv-local events` appends each outcome event to: its last
        /// events are served at `/demo/events` (the demo page's panel).
        #[arg(long, env = "IDV_EVENTS_JSON")]
        events_json: Option<PathBuf>,
    },
    /// Run publish-events over the local table's stream: creates the bus, a rule and its SQS
    /// queue in moto, and prints every outcome event the queue receives, as it happens.
    Events {
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        #[arg(long, env = "EVENT_BUS_NAME", default_value = "idv-events")]
        bus: String,
        /// Also deliver every event as a signed webhook: a second rule and queue on the bus, a
        /// `whsec_` secret, `tests/webhooks/receiver.py` (the `standardwebhooks` verifier) on a
        /// free loopback port, and the sender over that queue; prints each delivery's verdict.
        #[arg(long)]
        webhooks: bool,
        /// Also append each event, one JSON line, to this file (`idv-local serve` shows them).
        #[arg(long, env = "IDV_EVENTS_JSON")]
        events_json: Option<PathBuf>,
    },
    /// Move a session's `expires_at` (the app's expiry window) into the past, in the local table.
    Expire {
        #[arg(long, env = "TABLE_NAME")]
        table: String,
        /// The session's id (`idv_…`).
        id: String,
    },
}

fn local_endpoint() -> Result<String, Box<dyn std::error::Error>> {
    Ok(std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL_DYNAMODB"))
        .map_err(
            |_| "refusing to run without AWS_ENDPOINT_URL: this tool works on a local stack only",
        )?)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().command {
        Command::Setup {
            table,
            secret_id,
            client_id,
            secret,
        } => setup(table, secret_id, client_id, secret).await,
        Command::Serve {
            port,
            functions,
            demo_dir,
            link_script,
            plaid_mode,
            events_json,
        } => {
            serve(Front {
                port,
                functions: functions.trim_end_matches('/').to_owned(),
                demo_dir,
                config: serde_json::json!({ "link_script": link_script, "plaid": plaid_mode }),
                events_json,
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()?,
            })
            .await
        }
        Command::Expire { table, id } => expire(table, id).await,
        Command::Events {
            table,
            bus,
            webhooks,
            events_json,
        } => {
            local_endpoint()?;
            let sdk = testkit::localstack::aws_config().await;
            println!("outcome events: bus {bus}, rule -> SQS queue {bus}, stream of {table}");
            if webhooks {
                tokio::spawn(deliver_webhooks(sdk.clone(), bus.clone()));
            }
            let mut log = match &events_json {
                Some(path) => Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)?,
                ),
                None => None,
            };
            testkit::outcome_events::watch(&sdk, &table, &bus, |e| {
                if let Some(file) = log.as_mut()
                    && let Err(err) = writeln!(file, "{e}")
                {
                    eprintln!("idv-local events: could not append to the events file: {err}");
                }
                let d = &e["detail"];
                println!(
                    "event {} {} -> {} (sequence {}, {}) {}",
                    d["session_id"].as_str().unwrap_or("?"),
                    d["previous_status"].as_str().unwrap_or("(new)"),
                    d["status"].as_str().unwrap_or("?"),
                    d["sequence"],
                    d["event_id"].as_str().unwrap_or("?"),
                    e
                );
            })
            .await?;
            Ok(())
        }
    }
}

/// `idv-local events --webhooks`: once `watch` has created the bus, the signed-webhook path on
/// it (`testkit::webhook_walkthrough`), polled and printed until killed.
async fn deliver_webhooks(sdk: aws_config::SdkConfig, bus: String) {
    use testkit::webhook_walkthrough::LocalWebhooks;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    while events.describe_event_bus().name(&bus).send().await.is_err() {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let name = "idv-webhooks";
    let hooks = LocalWebhooks::start(sdk, &bus, name).await;
    println!(
        "outcome webhooks: bus {bus}, rule {name}-rule -> SQS queue {name} -> sender -> {} \
         (tests/webhooks/receiver.py, standardwebhooks; secret {name}/secret)",
        hooks.receiver.url
    );
    loop {
        for d in hooks.poll_once().await {
            let detail = &d.detail;
            println!(
                "webhook {} {} -> {} ({}): sender {}, receiver {}",
                detail["session_id"].as_str().unwrap_or("?"),
                detail["previous_status"].as_str().unwrap_or("(new)"),
                detail["status"].as_str().unwrap_or("?"),
                detail["event_id"].as_str().unwrap_or("?"),
                d.outcome.as_str(),
                d.verdict_word(),
            );
            if let Some(error) = d.verdict.as_ref().and_then(|v| v["error"].as_str()) {
                println!("  receiver: {error}");
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

async fn setup(
    table: String,
    secret_id: String,
    client_id: String,
    secret: String,
) -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = local_endpoint()?;
    let sdk = shared::bootstrap::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    match create_sessions_table_from(&dynamo, &table, &template_path()).await {
        Ok(()) => println!("created table {table} from infra/template.yaml at {endpoint}"),
        Err(LocalStackError::TableExists(_)) => println!("table {table} already exists"),
        Err(e) => return Err(e.into()),
    }
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    match create_plaid_secret(&sm, &secret_id, &client_id, &secret).await {
        Ok(arn) => println!("created secret {secret_id} ({arn})"),
        Err(e) if e.to_string().contains("ResourceExists") => {
            println!("secret {secret_id} already exists")
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn expire(table: String, id: String) -> Result<(), Box<dyn std::error::Error>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    local_endpoint()?;
    let sdk = shared::bootstrap::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let past = (chrono::Utc::now() - chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    dynamo
        .update_item()
        .table_name(&table)
        .key("id", AttributeValue::S(id.clone()))
        .update_expression("SET expires_at = :past")
        .condition_expression("attribute_exists(id)")
        .expression_attribute_values(":past", AttributeValue::S(past.clone()))
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot expire {id}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        })?;
    println!("{id}: expires_at is now {past}");
    Ok(())
}
