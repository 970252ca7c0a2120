//! The services the functions talk to: started once, seeded, and called with bare clients
//! for the round trips each warm invocation is paired with.

use super::*;

/// moto with the sessions table and the Plaid secret, the emulator, and warmed-up servers.
pub(crate) async fn start_services(args: &Args) -> Result<Services, BenchError> {
    std::fs::create_dir_all(args.log_dir.join("home"))
        .map_err(|e| BenchError::Setup(format!("{}: {e}", args.log_dir.display())))?;
    let moto = localstack::dynamodb_endpoint().map_err(|e| BenchError::Setup(e.to_string()))?;
    let sdk = localstack::try_aws_config()
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    localstack::create_sessions_table(&dynamo, TABLE)
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let emulator = Emulator::builder()
        .template_ids([TEMPLATE])
        .start()
        .await
        .map_err(|e| BenchError::Setup(format!("emulator: {e}")))?;
    let secret_arn = localstack::create_plaid_secret(
        &aws_sdk_secretsmanager::Client::new(&sdk),
        SECRET_NAME,
        emulator.client_id(),
        emulator.secret(),
    )
    .await
    .map_err(|e| BenchError::Setup(e.to_string()))?;
    let services = Services {
        moto: moto.clone(),
        sdk: sdk.clone(),
        emulator,
        secret_arn,
        dynamo: dynamo.clone(),
        http: reqwest::Client::new(),
        log_dir: args.log_dir.clone(),
    };
    // Warm moto and the emulator (Python imports, first connections) before anything is timed.
    for i in 0..5 {
        let warmup = Subject {
            flow: Flow::CreateSession,
            store: DynamoStore::new(dynamo.clone(), TABLE),
            tag: "warmup".into(),
            existing: Vec::new(),
            batch: None,
        };
        services
            .round_trips(&warmup, i)
            .await
            .map_err(|e| BenchError::Setup(format!("warm-up: {e}")))?;
    }
    Ok(services)
}

/// A session owned by `owner`, made through the store and the emulator the way create-session
/// makes one, for get-session and link-token to read.
pub(crate) async fn seed_session(
    s: &Services,
    table: &str,
    owner: &str,
) -> Result<String, BenchError> {
    let subject = Subject {
        flow: Flow::CreateSession,
        store: DynamoStore::new(s.dynamo.clone(), table),
        tag: format!("seed-{owner}"),
        existing: Vec::new(),
        batch: None,
    };
    // Reuse the create round trip, then look the record up to learn its id.
    s.round_trips(&subject, 0)
        .await
        .map_err(|e| BenchError::Setup(format!("seeding a session: {e}")))?;
    let user = ClientUserId::parse(format!("rt-seed-{owner}-0"))
        .map_err(|e| BenchError::Setup(e.to_string()))?;
    let template = TemplateId::parse(TEMPLATE).map_err(|e| BenchError::Setup(e.to_string()))?;
    let record = subject
        .store
        .latest_for(&user, &template)
        .await
        .map_err(|e| BenchError::Setup(e.to_string()))?
        .ok_or_else(|| BenchError::Setup("the seeded session is missing".into()))?;
    Ok(record.id.to_string())
}

impl Services {
    /// The same calls the handler makes for one warm invocation, with bare clients; returns
    /// their summed time. `i` picks a user no one has used, as the handler's event does.
    pub(crate) async fn round_trips(
        &self,
        subject: &Subject,
        i: usize,
    ) -> Result<Duration, String> {
        match (subject.flow, subject.existing_for(i)) {
            (Flow::CreateSession, _) => {
                let user = ClientUserId::parse(format!("rt-{}-{i}", subject.tag))
                    .map_err(|e| e.to_string())?;
                let template = TemplateId::parse(TEMPLATE).map_err(|e| e.to_string())?;
                let t = Instant::now();
                let latest = subject
                    .store
                    .latest_for(&user, &template)
                    .await
                    .map_err(|e| e.to_string())?;
                let query = t.elapsed();
                if latest.is_some() {
                    return Err("round-trip user already has a session".into());
                }
                let body = json!({
                    "client_user_id": user.as_str(), "template_id": TEMPLATE,
                    "gave_consent": false, "is_shareable": false, "is_idempotent": true,
                });
                let t = Instant::now();
                let resp = self
                    .http
                    .post(format!(
                        "{}/identity_verification/create",
                        self.emulator.url()
                    ))
                    .header("PLAID-CLIENT-ID", self.emulator.client_id())
                    .header("PLAID-SECRET", self.emulator.secret())
                    .header("Plaid-Version", "2020-09-14")
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
                let plaid = t.elapsed();
                let iv: IdentityVerification =
                    serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
                let record =
                    SessionRecord::from_plaid(&iv, chrono::Utc::now(), chrono::Duration::days(2));
                let t = Instant::now();
                subject
                    .store
                    .insert(&record)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(query + plaid + t.elapsed())
            }
            (Flow::GetSession, Some((id, _))) => {
                let id = IdvId::parse(id.clone()).map_err(|e| e.to_string())?;
                let t = Instant::now();
                subject.store.get(&id).await.map_err(|e| e.to_string())?;
                Ok(t.elapsed())
            }
            _ => Err("no round trips defined".into()),
        }
    }
}
