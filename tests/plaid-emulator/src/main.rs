//! `plaid-emulator --port PORT`: the Plaid IDV emulator as a standalone server for any
//! language's tests. Prints `listening on http://127.0.0.1:PORT` as its first stdout line once
//! it accepts connections; logs go to stderr. See tests/plaid-emulator/EMULATOR.md.

use clap::Parser;
use plaid_emulator::{self as emulator, Emulator, Environment};
use std::io::Write as _;

#[derive(Debug, Parser)]
#[command(
    name = "plaid-emulator",
    about = "Plaid Identity Verification emulator",
    version
)]
struct Args {
    /// Port on 127.0.0.1 (0 picks a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where signed webhooks are POSTed.
    #[arg(long)]
    webhook_url: Option<String>,
    /// The `environment` field of webhooks (and the link token prefix).
    #[arg(long, default_value = "sandbox", value_parser = ["sandbox", "production"])]
    environment: String,
    /// Page size of /identity_verification/list.
    #[arg(long, default_value_t = emulator::DEFAULT_LIST_PAGE_SIZE)]
    list_page_size: usize,
    /// Accepted client id.
    #[arg(long, env = "PLAID_CLIENT_ID", default_value = emulator::DEFAULT_CLIENT_ID, hide_env_values = true)]
    client_id: String,
    /// Accepted secret.
    #[arg(long, env = "PLAID_SECRET", default_value = emulator::DEFAULT_SECRET, hide_env_values = true, hide_default_value = true)]
    secret: String,
    /// The default template id.
    #[arg(long, env = "IDV_TEMPLATE_ID")]
    template_id: Option<String>,
    /// More template ids, comma separated.
    #[arg(long, env = "IDV_TEMPLATE_IDS", value_delimiter = ',')]
    template_ids: Vec<String>,
}

fn templates(args: &Args) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for id in args.template_id.iter().chain(&args.template_ids) {
        let id = id.trim();
        if !id.is_empty() && !ids.iter().any(|x| x == id) {
            ids.push(id.to_string());
        }
    }
    if ids.is_empty() {
        ids.push(emulator::DEFAULT_TEMPLATE_ID.to_string());
    }
    ids
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let environment = if args.environment == "production" {
        Environment::Production
    } else {
        Environment::Sandbox
    };
    let template_ids = templates(&args);
    let mut builder = Emulator::builder()
        .client_id(&args.client_id)
        .secret(&args.secret)
        .template_ids(template_ids.clone())
        .environment(environment)
        .list_page_size(args.list_page_size)
        .port(args.port);
    if let Some(url) = &args.webhook_url {
        builder = builder.webhook_url(url);
    }
    let running = match builder.start().await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("plaid-emulator: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "listening on {}", running.url())
        .and_then(|_| out.flush())
        .is_err()
    {
        return std::process::ExitCode::FAILURE;
    }
    drop(out);
    tracing::info!(
        url = %running.url(),
        templates = ?template_ids,
        environment = environment.as_str(),
        webhook_url = ?args.webhook_url,
        "plaid emulator ready"
    );
    let stop = async {
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(t) => t,
                    Err(_) => return std::future::pending().await,
                };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    stop.await;
    running.shutdown().await;
    std::process::ExitCode::SUCCESS
}
