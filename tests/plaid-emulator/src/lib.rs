//! A Plaid Identity Verification emulator: Plaid's IDV endpoints with Plaid's shapes, rules and
//! error bodies, really signed webhooks, and a control API under `/emulator/` that walks
//! sessions through their steps, and a stand-in for Plaid Link's web SDK (`link`). See
//! `tests/plaid-emulator/EMULATOR.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use plaid_emulator::{Emulator, Template};
//! let emu = Emulator::builder()
//!     .client_id("id")
//!     .secret("secret")
//!     .templates([Template::new("idvtmp_test")])
//!     .start()
//!     .await?;
//! println!("{}", emu.url());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```

mod control;
pub mod details;
pub mod endpoints;
pub mod errors;
mod hosted;
mod ids;
pub mod link;
mod routes;
pub mod signing;
pub mod state;
pub mod validate;
pub mod webhooks;

pub use control::{FinishOutcome, StepRequest};
pub use errors::{ControlError, PlaidApiError};
pub use signing::Jwk;
pub use state::{
    DeliveryAttempt, Fault, LinkTokenRecord, Outcome, RequestLogEntry, Step, StepStatus, Template,
    TemplateSteps, UserData, WebhookRecord,
};
pub use webhooks::{WebhookRequest, WebhookSink};

use state::State;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

pub const DEFAULT_CLIENT_ID: &str = "emulator-client-id";
pub const DEFAULT_SECRET: &str = "emulator-secret";
pub const DEFAULT_TEMPLATE_ID: &str = "idvtmp_emulator_default";
pub const DEFAULT_LIST_PAGE_SIZE: usize = 2;
/// The only API version the emulator speaks (`Plaid-Version` header).
pub const PLAID_VERSION: &str = "2020-09-14";

/// The `environment` written into webhooks and link tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environment {
    #[default]
    Sandbox,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Sandbox => "sandbox",
            Environment::Production => "production",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment must be sandbox or production")]
pub struct BadEnvironment;

impl std::str::FromStr for Environment {
    type Err = BadEnvironment;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sandbox" => Ok(Environment::Sandbox),
            "production" => Ok(Environment::Production),
            _ => Err(BadEnvironment),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("could not bind 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error(transparent)]
    KeyGen(#[from] signing::KeyGenError),
    #[error("the emulator needs at least one template")]
    NoTemplates,
    #[error("list page size must be at least 1")]
    BadPageSize,
}

/// Immutable settings plus the shared state behind every request.
pub(crate) struct Inner {
    client_id: String,
    secret: String,
    environment: Environment,
    list_page_size: usize,
    initial_templates: Vec<Template>,
    state: Mutex<State>,
    sink: Option<WebhookSink>,
    http: reqwest::Client,
    delivery_lock: tokio::sync::Mutex<()>,
    /// Plaid API calls being handled now, including delayed ones whose caller may have hung up.
    in_flight: std::sync::atomic::AtomicUsize,
    /// `http://127.0.0.1:PORT`: the origin of the hosted flow that `shareable_url`s open.
    base_url: String,
}

impl Inner {
    /// The state lock. A panic while it was held cannot leave a half-written session (every
    /// mutation is computed before it is stored), so a poisoned lock is simply taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
pub struct EmulatorBuilder {
    client_id: Option<String>,
    secret: Option<String>,
    templates: Vec<Template>,
    webhook_url: Option<String>,
    sink: Option<WebhookSink>,
    environment: Environment,
    list_page_size: Option<usize>,
    port: u16,
    signing_clock: Option<state::SigningClock>,
}

pub struct Emulator;

impl Emulator {
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }
}

impl EmulatorBuilder {
    pub fn client_id(mut self, v: impl Into<String>) -> Self {
        self.client_id = Some(v.into());
        self
    }

    pub fn secret(mut self, v: impl Into<String>) -> Self {
        self.secret = Some(v.into());
        self
    }

    /// Templates the emulator knows (default: one, `idvtmp_emulator_default`, every step on).
    pub fn templates(mut self, templates: impl IntoIterator<Item = Template>) -> Self {
        self.templates.extend(templates);
        self
    }

    /// Template ids with every step on.
    pub fn template_ids<S: Into<String>>(self, ids: impl IntoIterator<Item = S>) -> Self {
        self.templates(ids.into_iter().map(Template::new))
    }

    pub fn webhook_url(mut self, url: impl Into<String>) -> Self {
        self.webhook_url = Some(url.into());
        self
    }

    /// An in-process receiver: called for each delivery with the headers and exact body bytes;
    /// the returned status is recorded in the outbox.
    pub fn webhook_sink<F, Fut>(mut self, sink: F) -> Self
    where
        F: Fn(WebhookRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = u16> + Send + 'static,
    {
        self.sink = Some(Arc::new(move |req| Box::pin(sink(req))));
        self
    }

    pub fn environment(mut self, env: Environment) -> Self {
        self.environment = env;
        self
    }

    /// Page size of `/identity_verification/list` (default 2, small so paging gets exercised).
    pub fn list_page_size(mut self, n: usize) -> Self {
        self.list_page_size = Some(n);
        self
    }

    /// Port on 127.0.0.1 (default 0: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Where webhook tokens get their `iat` (Unix seconds): the wall clock unless set. A test
    /// that moves its receiver's clock moves this one with it, as Plaid's and the receiver's
    /// clocks agree in production.
    pub fn signing_clock(mut self, clock: state::SigningClock) -> Self {
        self.signing_clock = Some(clock);
        self
    }

    pub async fn start(self) -> Result<RunningEmulator, StartError> {
        let templates = if self.templates.is_empty() {
            vec![Template::new(DEFAULT_TEMPLATE_ID)]
        } else {
            self.templates
        };
        let list_page_size = self.list_page_size.unwrap_or(DEFAULT_LIST_PAGE_SIZE);
        if list_page_size == 0 {
            return Err(StartError::BadPageSize);
        }
        let keys = signing::KeyRing::new(chrono::Utc::now().timestamp())?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .map_err(|source| StartError::Bind {
                port: self.port,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            port: self.port,
            source,
        })?;
        let inner = Arc::new(Inner {
            client_id: self.client_id.unwrap_or_else(|| DEFAULT_CLIENT_ID.into()),
            secret: self.secret.unwrap_or_else(|| DEFAULT_SECRET.into()),
            environment: self.environment,
            list_page_size,
            initial_templates: templates.clone(),
            state: Mutex::new({
                let mut state = State::new(templates, keys, self.webhook_url);
                if let Some(clock) = self.signing_clock {
                    state.signing_clock = clock;
                }
                state
            }),
            sink: self.sink,
            http: reqwest::Client::new(),
            delivery_lock: tokio::sync::Mutex::new(()),
            in_flight: std::sync::atomic::AtomicUsize::new(0),
            base_url: format!("http://{addr}"),
        });
        let app = routes::router(inner.clone())
            .merge(control::router(inner.clone()))
            .merge(link::router(inner.clone()))
            .merge(hosted::router(inner.clone()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let shutdown = async {
                let _ = stop_rx.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(error = %e, "emulator server stopped");
            }
        });
        Ok(RunningEmulator {
            addr,
            inner,
            stop: Some(stop_tx),
            server: Some(server),
        })
    }
}

/// A started emulator. Dropping it stops the server too; `shutdown` waits for it.
pub struct RunningEmulator {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl RunningEmulator {
    /// `http://127.0.0.1:PORT` (no trailing slash): the Plaid base URL for clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Link stand-in's SDK, to put where a page loads
    /// `https://cdn.plaid.com/link/v2/stable/link-initialize.js`.
    pub fn link_initialize_url(&self) -> String {
        format!("{}/link/v2/stable/link-initialize.js", self.url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    pub fn secret(&self) -> &str {
        &self.inner.secret
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    /// The session as `/identity_verification/get` would return it (without `request_id`).
    pub fn session(&self, id: &str) -> Result<serde_json::Value, ControlError> {
        control::session(&self.inner, id)
    }

    pub async fn complete_step(
        &self,
        id: &str,
        req: StepRequest,
    ) -> Result<serde_json::Value, ControlError> {
        control::complete_step(&self.inner, id, req).await
    }

    pub async fn finish(
        &self,
        id: &str,
        outcome: Option<FinishOutcome>,
        failed_step: Option<Step>,
    ) -> Result<serde_json::Value, ControlError> {
        control::finish(&self.inner, id, outcome, failed_step).await
    }

    pub async fn review(
        &self,
        id: &str,
        outcome: Outcome,
    ) -> Result<serde_json::Value, ControlError> {
        control::review(&self.inner, id, outcome).await
    }

    /// Identity data as if the user typed it in Link (validated like `/create`'s `user`).
    pub fn submit_user(
        &self,
        id: &str,
        user: serde_json::Value,
    ) -> Result<serde_json::Value, ControlError> {
        control::submit_user(&self.inner, id, user)
    }

    pub fn link_token(&self, token: &str) -> Option<LinkTokenRecord> {
        self.inner.lock().link_tokens.get(token).cloned()
    }

    /// Makes Link refuse the token (`INVALID_LINK_TOKEN`), as Plaid does when a person takes
    /// too long or fails too often.
    pub fn invalidate_link_token(&self, token: &str) -> Result<LinkTokenRecord, ControlError> {
        control::invalidate_link_token(&self.inner, token)
    }

    /// Every signed delivery so far, in firing order.
    pub fn outbox(&self) -> Vec<WebhookRecord> {
        self.inner.lock().outbox.clone()
    }

    pub async fn redeliver(&self, id: &str, resign: bool) -> Result<WebhookRecord, ControlError> {
        control::redeliver(&self.inner, id, resign).await
    }

    pub fn set_webhook_url(&self, url: Option<String>) {
        self.inner.lock().webhook_url = url;
    }

    /// A `Plaid-Verification` token over `body` by the key that signs webhooks now, issued at
    /// `iat`: what Plaid's key would sign for those bytes, for tests of deliveries no session
    /// event makes (a body Plaid signed but that makes no sense, a token delivered late).
    pub fn sign(&self, body: &[u8], iat: i64) -> String {
        self.inner.lock().keys.current().sign_webhook(body, iat)
    }

    /// The key that signs webhooks now.
    pub fn current_key(&self) -> Jwk {
        self.inner.lock().keys.current().jwk()
    }

    pub fn rotate_key(&self) -> Result<Jwk, ControlError> {
        control::rotate_key(&self.inner)
    }

    pub fn expire_key(&self, kid: &str) -> Result<Jwk, ControlError> {
        control::expire_key(&self.inner, kid)
    }

    pub fn inject_fault(&self, fault: Fault) -> Result<(), ControlError> {
        control::inject_fault(&self.inner, fault)
    }

    /// Plaid API calls received so far (no secrets, no identity data).
    pub fn requests(&self) -> Vec<RequestLogEntry> {
        self.inner.lock().requests.clone()
    }

    /// Plaid API calls being handled right now. A call delayed by a fault stays in flight until
    /// it is answered, or dropped when its caller hangs up: tests wait for 0 before reading what
    /// Plaid did, instead of sleeping for the delay.
    pub fn in_flight(&self) -> usize {
        self.inner
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many calls were made to one Plaid endpoint, e.g. `/identity_verification/get`.
    pub fn request_count(&self, endpoint: &str) -> usize {
        self.inner
            .lock()
            .requests
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .count()
    }

    pub fn add_template(&self, template: Template) {
        self.inner
            .lock()
            .templates
            .insert(template.id.clone(), template);
    }

    pub fn reset(&self) {
        control::reset(&self.inner)
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
