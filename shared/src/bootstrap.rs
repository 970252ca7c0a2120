//! Cold start: configuration, AWS clients, Plaid credentials and client, built once and reused
//! by every warm invocation. Each function's `main.rs` calls [`app_context`] and runs.

use crate::clock::SystemClock;
use crate::config::{Config, ConfigError};
use crate::context::AppContext;
use crate::credentials::CredentialsProvider;
use crate::logging::Invocation;
use crate::plaid::{ClientOptions, PlaidClient, PlaidError};
use crate::store::DynamoStore;
use aws_config::BehaviorVersion;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("plaid client: {0}")]
    Plaid(#[from] PlaidError),
}

/// Credentials are re-read after this long, so a rotated secret is picked up without a
/// redeploy even before Plaid rejects the old one.
const CREDENTIALS_TTL: Duration = Duration::from_secs(15 * 60);

/// The AWS SDK's configuration for every client of a function.
///
/// In Lambda the runtime hands the role's credentials and the region to the process in its
/// environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
/// `AWS_REGION`). When they are there they are used directly, and aws-config's default chains
/// are not built: the credentials chain builds an STS client for web identity (endpoint rules
/// and all) and IMDS clients, the region chain IMDS again, none of which a Lambda ever asks.
/// That was 0.7 M of the 2.9 M instructions of create-session's init (callgrind,
/// `tests/bench/README.md`). Without them (a developer's machine with a profile or SSO) the
/// default chains run as before.
pub async fn sdk_config() -> aws_config::SdkConfig {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(crate::aws::sdk_timeouts())
        // Trusts the roots reqwest uses too, read once (see `tls`).
        .http_client(crate::tls::sdk_http_client())
        .stalled_stream_protection(crate::aws::sdk_stalled_stream_protection());
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        loader = loader.region(aws_config::Region::new(region));
    }
    if env("AWS_ACCESS_KEY_ID").is_some() && env("AWS_SECRET_ACCESS_KEY").is_some() {
        loader = loader.credentials_provider(
            aws_config::environment::EnvironmentVariableCredentialsProvider::new(),
        );
    }
    loader.load().await
}

/// How long a function may wait on Plaid. Each Plaid call may make up to three attempts, but a
/// new one only while a full attempt still fits in `budget` (and in the invocation's own
/// deadline, see `plaid::deadline`): fast failures (a 500 or a refused connection in
/// milliseconds) are retried, and a Plaid that hangs costs at most the budget. `/retry` is never
/// repeated, whatever the time left. The budgets sit below the functions' timeouts in
/// `infra/template.yaml`, which sit below API Gateway's 30-second integration limit and Plaid's
/// 10-second webhook limit; the scheduled reconciliation can afford the client's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// create-session and link-token (Lambda timeout 10 s): nearly every request calls Plaid.
    Api,
    /// get-session (Lambda timeout 10 s, as `Api`): most requests are answered from the table,
    /// and only a stale session is read from Plaid.
    ApiReads,
    /// The webhook must answer within Plaid's 10-second limit (Lambda timeout 6 s).
    Webhook,
    /// reconcile (Lambda timeout minutes).
    Background,
}

impl Budget {
    pub fn plaid_options(self) -> ClientOptions {
        let defaults = ClientOptions::default();
        match self {
            // Lambda timeout 10 s: two slow 4 s attempts at most, three fast ones, and a second
            // left for the DynamoDB write and the answer.
            Budget::Api | Budget::ApiReads => ClientOptions {
                timeout: Duration::from_secs(4),
                max_attempts: 3,
                max_backoff: Duration::from_millis(500),
                budget: Duration::from_secs(9),
                ..defaults
            },
            // Lambda timeout 6 s.
            Budget::Webhook => ClientOptions {
                timeout: Duration::from_secs(2),
                max_attempts: 3,
                max_backoff: Duration::from_millis(300),
                budget: Duration::from_secs(5),
                ..defaults
            },
            Budget::Background => defaults,
        }
    }

    /// Whether the cold start reads the Plaid secret ahead of need ([`prefetch`]): not where
    /// most requests never use it (get-session), since on a fractional vCPU the read's work
    /// (client, signing, TLS) competes with the first request's own.
    fn prefetches_credentials(self) -> bool {
        !matches!(self, Budget::ApiReads)
    }
}

/// Everything a handler needs, from the environment. Fails with a message that names what is
/// wrong, a missing variable say; the Plaid secret is read in the background (see
/// [`app_context_with`]).
pub async fn app_context(budget: Budget) -> Result<AppContext<DynamoStore>, StartupError> {
    let config = Config::from_env()?;
    let sdk = sdk_config().await;
    context(
        config,
        &sdk,
        budget.plaid_options(),
        budget.prefetches_credentials(),
    )
}

/// [`app_context`] from a parsed config and an AWS config (tests point these at moto), with the
/// secret read ahead of need.
pub async fn app_context_with(
    config: Config,
    sdk: &aws_config::SdkConfig,
    plaid_options: ClientOptions,
) -> Result<AppContext<DynamoStore>, StartupError> {
    context(config, sdk, plaid_options, true)
}

fn context(
    config: Config,
    sdk: &aws_config::SdkConfig,
    plaid_options: ClientOptions,
    read_secret_ahead: bool,
) -> Result<AppContext<DynamoStore>, StartupError> {
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        config.table_name.clone(),
    )
    .with_open_shards(config.open_session_shards);
    // The Secrets Manager client is built by the first read, in the task `prefetch` starts
    // with the first event: its endpoint rules alone were 0.4 M instructions of init, and there
    // they overlap the first request's wait on DynamoDB.
    let credentials = Arc::new(CredentialsProvider::secrets_manager_from(
        sdk,
        config.plaid_secret_id.clone(),
        CREDENTIALS_TTL,
    ));
    if read_secret_ahead {
        prefetch(&credentials);
    }
    let plaid = PlaidClient::new(config.plaid_base_url.clone(), credentials, plaid_options)?;
    Ok(AppContext {
        config,
        store,
        plaid,
        clock: Arc::new(SystemClock),
    })
}

/// Reads the Plaid secret in a task of its own once the first event has arrived, instead of
/// before the runtime's first `/next`: the fetch was about a third of init (a Secrets Manager
/// round trip, and the SDK client's first connection and TLS set-up). It then overlaps the first
/// invocation's own work (its DynamoDB call, on AWS a separate service); a request that needs
/// Plaid before it is done waits for the same fetch (the provider's cache lock), never starts
/// another. Started by the first event rather than at once: on the current-thread scheduler the
/// task's CPU work (the SDK's connector, signing) would otherwise run while the runtime client
/// connects, before `/next` is sent, and still count as init.
///
/// A secret that is missing, malformed or not readable no longer fails init. It is logged at
/// once, naming the secret, and every request that needs Plaid answers with the mapped error
/// (`plaid_credentials_invalid` 502, or `plaid_unavailable` 503 when transient) and retries
/// the read, so a fixed secret is picked up without a new cold start. A failed init would not
/// have been clearer to a caller: Lambda answers API Gateway's bare 502 and runs init again on
/// the next invocation anyway. Requests that do not need Plaid (a fresh `GET /sessions/{id}`)
/// keep working.
fn prefetch(credentials: &Arc<CredentialsProvider>) {
    let credentials = Arc::clone(credentials);
    tokio::spawn(async move {
        FIRST_EVENT.notified().await;
        if let Err(e) = credentials.get().await {
            tracing::error!(error = %e, "plaid credentials could not be read at cold start; requests that need Plaid will fail until they can");
        }
    });
}

/// Signalled by every event (`serve_with`, `serve_reconcile`); [`prefetch`] waits for the first.
/// A process serves one context, so one signal.
static FIRST_EVENT: tokio::sync::Notify = tokio::sync::Notify::const_new();

async fn leaked_context(
    budget: Budget,
) -> Result<&'static AppContext<DynamoStore>, lambda_http::Error> {
    crate::logging::init();
    match app_context(budget).await {
        // Lives as long as the process, which is what a Lambda execution environment reuses.
        Ok(ctx) => Ok(Box::leak(Box::new(ctx))),
        Err(e) => {
            tracing::error!(error = %e, "cold start failed");
            Err(e.into())
        }
    }
}

/// Run an HTTP handler as this process's Lambda function (`budget`: [`Budget::Api`] or
/// [`Budget::ApiReads`]).
pub async fn serve_http<F, Fut>(budget: Budget, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(&'static AppContext<DynamoStore>, lambda_http::Request) -> Fut,
    Fut: std::future::Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    let ctx = leaked_context(budget).await?;
    serve_with(&ctx.config, move |req| handler(ctx, req)).await
}

/// Run the webhook handler: the verifier and its key cache live as long as the process, so
/// warm invocations reuse fetched keys.
pub async fn serve_webhook() -> Result<(), lambda_http::Error> {
    let ctx = leaked_context(Budget::Webhook).await?;
    let verifier: &'static _ = Box::leak(Box::new(crate::webhook_verify::WebhookVerifier::new(
        ctx.plaid.clone(),
    )));
    serve_with(&ctx.config, move |req| {
        crate::handlers::webhook::handle(ctx, verifier, req)
    })
    .await
}

async fn serve_with<F, Fut>(config: &Config, handler: F) -> Result<(), lambda_http::Error>
where
    F: Fn(lambda_http::Request) -> Fut,
    Fut: std::future::Future<Output = lambda_http::Response<lambda_http::Body>> + Send,
{
    use tracing::Instrument;
    let metrics = crate::emf::Emitter::install(&config.metrics_namespace);
    lambda_http::run(lambda_http::service_fn(move |req: lambda_http::Request| {
        FIRST_EVENT.notify_one();
        let deadline = invocation_deadline(&req);
        let invocation = invocation(&req);
        let span = invocation.as_ref().map(Invocation::span);
        let answer = handler(req);
        async move {
            let answer = match deadline {
                Some(d) => crate::plaid::deadline::within(d, answer).await,
                None => answer.await,
            };
            if let Some(invocation) = &invocation {
                metrics.flush(invocation);
            }
            Ok::<_, std::convert::Infallible>(answer)
        }
        .instrument(span.unwrap_or_else(tracing::Span::none))
    }))
    .await
}

/// Who this invocation is, for its log lines and metrics (`None` only without a Lambda context).
fn invocation(req: &lambda_http::Request) -> Option<Invocation> {
    use lambda_http::RequestExt;
    req.lambda_context_ref().map(Invocation::from_context)
}

/// The invocation's deadline from its Lambda context, less a reserve to answer in.
fn invocation_deadline(req: &lambda_http::Request) -> Option<std::time::Instant> {
    use lambda_http::RequestExt;
    req.lambda_context_ref()
        .and_then(|c| crate::plaid::deadline::from_lambda_deadline_ms(c.deadline))
}

/// Run the scheduled reconciliation as this process's Lambda function. The event's content is
/// not used: every run does the same bounded work.
pub async fn serve_reconcile() -> Result<(), lambda_http::Error> {
    use tracing::Instrument;
    let ctx = leaked_context(Budget::Background).await?;
    let metrics = crate::emf::Emitter::install(&ctx.config.metrics_namespace);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            FIRST_EVENT.notify_one();
            let invocation = Invocation::from_context(&event.context);
            let span = invocation.span();
            async move {
                // Boxed: unboxed, the run's future nests deep enough inside `main`'s that rustc's
                // layout of it overflowed the query depth limit (a non-incremental build of the
                // reconcile binary failed once the store read every shard). One allocation a run.
                let run = Box::pin(crate::handlers::reconcile::reconcile(ctx));
                let report =
                    match crate::plaid::deadline::from_lambda_deadline_ms(event.context.deadline) {
                        Some(deadline) => crate::plaid::deadline::within(deadline, run).await,
                        None => run.await,
                    };
                metrics.flush(&invocation);
                report.map_err(lambda_runtime::Error::from)
            }
            .instrument(span)
        },
    ))
    .await
}
