//! `idv-local setup`: prepares the local AWS side for `make run` — the sessions table, created
//! from `infra/template.yaml` (the one definition), and the Plaid secret — in whatever endpoint
//! the standard AWS variables name (moto on loopback under `make run`).

use clap::{Parser, Subcommand};
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
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Command::Setup {
        table,
        secret_id,
        client_id,
        secret,
    } = Cli::parse().command;
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT_URL_DYNAMODB"))
        .map_err(
            |_| "refusing to run without AWS_ENDPOINT_URL: this tool sets up a local stack only",
        )?;
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
