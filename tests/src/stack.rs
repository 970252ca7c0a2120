//! The whole bundle in one test process: the real handlers over a real DynamoDB table (moto,
//! real SDK), a real Plaid client talking HTTP to the emulator, and the real webhook verifier
//! checking the emulator's ES256 signatures. Every API answer is checked against
//! `shared/openapi.yaml`.

use crate::apigw::{Answer, ApiEvent};
use crate::drop_proxy::DropProxy;
use crate::emulator::{Emulator, FinishOutcome, RunningEmulator, Template, WebhookRecord};
use crate::localstack::{aws_config, create_sessions_table};
use chrono::Utc;
use shared::clock::ShiftedClock;
use shared::config::Config;
use shared::context::AppContext;
use shared::credentials::{Credentials, CredentialsProvider};
use shared::handlers;
use shared::http::route::{HttpFunction, ROUTES};
use shared::ids::IdvId;
use shared::plaid::{ClientOptions, PlaidClient};
use shared::session::SessionRecord;
use shared::store::{DynamoStore, SessionStore};
use shared::webhook_verify::WebhookVerifier;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const TEMPLATE: &str = "idvtmp_stack_default";
pub const OTHER_TEMPLATE: &str = "idvtmp_stack_other";

/// Longer than any Lambda timeout in infra/template.yaml.
const HANDLER_LIMIT: Duration = Duration::from_secs(30);

/// `S` is the session store: the real `DynamoStore`, or a wrapper around it (the fault-injecting
/// `FaultyStore`, see [`StackBuilder::start_with_store`]).
pub struct Stack<S: SessionStore = DynamoStore> {
    pub ctx: AppContext<S>,
    pub verifier: WebhookVerifier<PlaidClient>,
    pub emulator: RunningEmulator,
    pub clock: Arc<ShiftedClock>,
    /// Between the Plaid client and the emulator, when asked for with
    /// [`StackBuilder::drop_proxy`].
    pub proxy: Option<DropProxy>,
    delivered: Mutex<usize>,
    /// Ends the run if the test holding this stack never ends.
    _watchdog: crate::watchdog::Watchdog,
}

/// Knobs a test may turn before the stack starts.
#[derive(Default)]
pub struct StackBuilder {
    vars: HashMap<&'static str, String>,
    plaid_options: Option<ClientOptions>,
    drop_proxy: bool,
    /// The Plaid credentials the functions hold, when not the emulator's own.
    credentials: Option<(String, String)>,
}

impl StackBuilder {
    /// Override a configuration variable (as the function would read it from its environment).
    pub fn var(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.vars.insert(name, value.into());
        self
    }

    /// Route Plaid calls through a [`DropProxy`] (as `Stack::proxy`), to drop answers.
    pub fn drop_proxy(mut self) -> Self {
        self.drop_proxy = true;
        self
    }

    /// Give the functions these Plaid credentials instead of the ones the emulator accepts
    /// (e.g. a wrong secret, as after a botched rotation).
    pub fn credentials(mut self, client_id: &str, secret: &str) -> Self {
        self.credentials = Some((client_id.to_owned(), secret.to_owned()));
        self
    }

    pub fn plaid_options(mut self, o: ClientOptions) -> Self {
        self.plaid_options = Some(o);
        self
    }

    pub async fn start(self) -> Stack {
        self.start_with_store(|s| s).await
    }

    /// Start with the real store wrapped by `wrap` (e.g. in a `FaultyStore`).
    pub async fn start_with_store<S: SessionStore>(
        self,
        wrap: impl FnOnce(DynamoStore) -> S,
    ) -> Stack<S> {
        // Plaid's clock agrees with ours: webhook tokens are issued on the stack's clock, so a
        // test moving time does not make Plaid's tokens look older or newer than they are.
        let clock = Arc::new(ShiftedClock::new());
        let signing = clock.clone();
        let emulator = Emulator::builder()
            .signing_clock(Arc::new(move || {
                use shared::clock::Clock;
                signing.now().timestamp()
            }))
            .client_id("stack-client")
            .secret("stack-secret")
            .templates([Template::new(TEMPLATE), Template::new(OTHER_TEMPLATE)])
            .start()
            .await
            .expect("emulator starts");
        let sdk = aws_config().await;
        let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
        let table = format!("stack-{}", fastrand::u64(..));
        create_sessions_table(&dynamo, &table)
            .await
            .expect("table from infra/template.yaml");

        let proxy = if self.drop_proxy {
            Some(
                DropProxy::start(emulator.addr())
                    .await
                    .expect("proxy starts"),
            )
        } else {
            None
        };
        let plaid_url = proxy
            .as_ref()
            .map_or_else(|| emulator.url(), DropProxy::url);
        let mut vars: HashMap<&'static str, String> = HashMap::from([
            ("TABLE_NAME", table.clone()),
            ("PLAID_ENV", "sandbox".to_owned()),
            ("PLAID_BASE_URL", plaid_url),
            ("PLAID_SECRET_ID", "unused-in-tests".to_owned()),
            ("IDV_TEMPLATE_ID", TEMPLATE.to_owned()),
            ("IDV_TEMPLATE_IDS", OTHER_TEMPLATE.to_owned()),
            (
                "PLAID_REDIRECT_URIS",
                "https://app.example.com/idv/oauth".to_owned(),
            ),
        ]);
        vars.extend(self.vars);
        let config = Config::from_lookup(|k| vars.get(k).cloned()).expect("test config");
        let (client_id, secret) = self
            .credentials
            .unwrap_or_else(|| ("stack-client".into(), "stack-secret".into()));
        let credentials = Arc::new(CredentialsProvider::fixed(Credentials::new(
            client_id, secret,
        )));
        let options = self.plaid_options.unwrap_or(ClientOptions {
            timeout: Duration::from_secs(2),
            max_attempts: 2,
            base_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            ..ClientOptions::default()
        });
        let plaid = PlaidClient::new(config.plaid_base_url.clone(), credentials, options)
            .expect("plaid client");
        let store = DynamoStore::new(dynamo, table).with_open_shards(config.open_session_shards);
        let ctx = AppContext {
            config,
            store: wrap(store),
            plaid: plaid.clone(),
            clock: clock.clone(),
        };
        Stack {
            ctx,
            verifier: WebhookVerifier::new(plaid),
            emulator,
            clock,
            proxy,
            delivered: Mutex::new(0),
            _watchdog: crate::watchdog::Watchdog::start(crate::watchdog::TEST_LIMIT),
        }
    }
}

impl Stack {
    pub fn builder() -> StackBuilder {
        StackBuilder::default()
    }

    pub async fn start() -> Stack {
        Self::builder().start().await
    }
}

impl<S: SessionStore> Stack<S> {
    /// Send an API Gateway event to the function its route belongs to, and check the answer
    /// against our OpenAPI description.
    pub async fn call(&self, event: ApiEvent) -> Answer {
        let route = event.event()["routeKey"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let answer = Answer::from_response(self.respond(&event).await);
        let (method, path) = route.split_once(' ').expect("route key");
        crate::openapi::check(method, path, answer.status, &answer.headers, &answer.json);
        answer
    }

    /// The function's raw response to an event, unchecked (the HTTP front `local-api` serves
    /// it as is, for Schemathesis to judge).
    pub async fn respond(&self, event: &ApiEvent) -> lambda_http::Response<lambda_http::Body> {
        let e = event.event();
        let route = e["routeKey"].as_str().unwrap_or_default().to_owned();
        let req = event.request();
        let answer = async {
            // The function API Gateway would invoke, from the one route table.
            let function = ROUTES
                .iter()
                .find(|r| r.key == route)
                .unwrap_or_else(|| panic!("no function serves {route}"))
                .function;
            match function {
                HttpFunction::CreateSession => {
                    handlers::create_session::handle(&self.ctx, req).await
                }
                HttpFunction::GetSession => handlers::get_session::handle(&self.ctx, req).await,
                HttpFunction::LinkToken => handlers::link_token::handle(&self.ctx, req).await,
                HttpFunction::Webhook => {
                    handlers::webhook::handle(&self.ctx, &self.verifier, req).await
                }
            }
        };
        // A Lambda would be killed at its timeout; a handler that never answers is a bug.
        tokio::time::timeout(HANDLER_LIMIT, answer)
            .await
            .unwrap_or_else(|_| panic!("{route} did not answer within {HANDLER_LIMIT:?}"))
    }

    /// Deliver one recorded webhook to the webhook function, exactly as signed.
    pub async fn deliver(&self, record: &WebhookRecord) -> Answer {
        self.call(ApiEvent::webhook(&record.headers, record.body.as_bytes()))
            .await
    }

    /// Deliver, in firing order, every webhook the emulator fired since the last call.
    pub async fn deliver_new_webhooks(&self) -> Vec<Answer> {
        let mut answers = Vec::new();
        for record in self.take_new_webhooks() {
            answers.push(self.deliver(&record).await);
        }
        answers
    }

    /// The user finishes session `id` in the emulator as `outcome`; the webhooks that fired are
    /// delivered, in order, and their answers returned. Among them is the session's
    /// STATUS_UPDATED (checked), so a test's claims over the answers are never vacuous.
    pub async fn finish_and_deliver(&self, id: &str, outcome: FinishOutcome) -> Vec<Answer> {
        self.emulator
            .finish(id, Some(outcome), None)
            .await
            .expect("the emulator finishes the session");
        let fired = self.take_new_webhooks();
        assert!(
            fired
                .iter()
                .any(|h| h.webhook_code == "STATUS_UPDATED" && h.identity_verification_id == id),
            "finishing {id} fired no STATUS_UPDATED: {fired:?}"
        );
        let mut answers = Vec::new();
        for record in fired {
            answers.push(self.deliver(&record).await);
        }
        answers
    }

    /// Webhooks fired since the last delivery, without delivering them.
    pub fn take_new_webhooks(&self) -> Vec<WebhookRecord> {
        let outbox = self.emulator.outbox();
        let mut d = self.delivered.lock().unwrap();
        let new = outbox[*d..].to_vec();
        *d = outbox.len();
        new
    }

    pub async fn stored(&self, id: &str) -> Option<SessionRecord> {
        self.ctx
            .store
            .get(&IdvId::parse(id).unwrap())
            .await
            .expect("store read")
    }

    pub fn clock_now(&self) -> chrono::DateTime<Utc> {
        use shared::clock::Clock;
        self.clock.now()
    }

    pub async fn reconcile(&self) -> shared::flows::reconcile::ReconcileReport {
        handlers::reconcile::reconcile(&self.ctx)
            .await
            .expect("reconcile run")
    }

    /// Start a session for `user` and return its id (asserting 201).
    pub async fn start_session(&self, user: &str) -> String {
        let a = self.call(ApiEvent::post_sessions().user(user)).await;
        assert_eq!(a.status, 201, "{}", a.json);
        a.json["id"].as_str().unwrap().to_owned()
    }
}
