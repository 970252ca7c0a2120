//! `lambda-bench`: runs function binaries (ours, and the Python baseline under `awslambdaric`)
//! behind the local Runtime API exactly as Lambda drives them, against moto and the Plaid
//! emulator on loopback, and writes what it measured as JSON. `tests/scripts/bench.sh` builds
//! the functions, runs this and renders `tests/bench/README.md`.
//!
//! Per function: init (process spawn until the first `/next`) over several cold starts, the
//! first invocation after each, warm latency over many invocations, peak RSS (`VmHWM`) of the
//! warm process, and for create-session and get-session the latency left once the Plaid and
//! DynamoDB round trips are taken away. Those round trips are timed from this process with bare
//! clients right after each warm invocation (same calls, same servers), and the difference is
//! taken pair by pair so that drift in moto's speed cancels out.

use clap::Parser;
use serde::Serialize;
use serde_json::{Value, json};
use shared::ids::{ClientUserId, IdvId, TemplateId};
use shared::plaid::types::IdentityVerification;
use shared::session::SessionRecord;
use shared::store::{DynamoStore, SessionStore};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use testkit::apigw::ApiEvent;
use testkit::dynamo_standin::DynamoStandIn;
use testkit::emulator::{Emulator, RunningEmulator};
use testkit::localstack;
use testkit::runtime_api::{Outcome, RuntimeApi};
use tokio::process::{Child, Command};

const TEMPLATE: &str = "idvtmp_bench";
const SECRET_NAME: &str = "bench/plaid";
const TABLE: &str = "bench-sessions";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);
const MEMORY_MB: &str = "128";
/// `tests/bench/hello`'s binary, in `--bin-dir` beside the functions.
const HELLO_BIN: &str = "bench-hello";

#[derive(Debug, Parser)]
#[command(about = "Cold start, latency and memory of Lambda functions on a local Runtime API")]
struct Args {
    /// Directory with the host builds of create-session, get-session, link-token and
    /// bench-hello (`tests/bench/hello`).
    #[arg(long)]
    bin_dir: PathBuf,
    /// The baseline's Python (a venv with tests/bench/requirements.txt); omit to skip it.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Directory of the baseline's handler.py.
    #[arg(long, default_value = "tests/bench/python")]
    python_dir: PathBuf,
    /// Cold starts per function (init is reported as their median).
    #[arg(long, default_value_t = 20)]
    cold_starts: usize,
    /// Warm invocations per function.
    #[arg(long, default_value_t = 200)]
    warm: usize,
    /// Where the results go (JSON).
    #[arg(long)]
    out: PathBuf,
    /// Function stdout/stderr are appended here (their logs, and why a start failed).
    #[arg(long)]
    log_dir: PathBuf,
    /// After measuring, start each Rust function once more under `strace -f -tt` and keep the
    /// trace here (not counted in any figure): what init spends its time on.
    #[arg(long)]
    trace_init: Option<PathBuf>,
    /// Also time create-session's init with the TLS trust store named by
    /// `SSL_CERT_FILE`/`SSL_CERT_DIR` (the system bundle, one root) beside its compiled-in
    /// default, to see what reading and parsing root certificates costs.
    #[arg(long)]
    init_experiments: bool,
    /// Measure only these functions (repeatable; default: all). The Python baseline runs only
    /// when create-session is among them.
    #[arg(long)]
    only: Vec<String>,
    /// Also measure handler overhead against stand-ins: DynamoDB answered by a local server
    /// replaying responses recorded from moto in this run (`testkit::dynamo_standin`), Plaid by
    /// the emulator. See `measure_overhead`.
    #[arg(long)]
    stand_ins: bool,
    /// Skip the moto-backed runs (with --stand-ins: only the overhead runs, e.g. under perf).
    #[arg(long)]
    skip_moto: bool,
}

#[derive(Debug, thiserror::Error)]
enum BenchError {
    #[error("{0}")]
    Setup(String),
    #[error("{function}: {detail} (see {log})")]
    Function {
        function: String,
        detail: String,
        log: String,
    },
}

/// Summary of a sample, in microseconds.
#[derive(Debug, Serialize, Clone, Copy)]
struct Stats {
    n: usize,
    median_us: f64,
    p99_us: f64,
    min_us: f64,
    max_us: f64,
}

fn stats(samples: &[f64]) -> Option<Stats> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    // Nearest rank: with 200 samples p99 is the second largest, never an interpolation.
    let rank = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
    Some(Stats {
        n: s.len(),
        median_us: rank(0.5),
        p99_us: rank(0.99),
        min_us: s[0],
        max_us: s[s.len() - 1],
    })
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[derive(Debug, Serialize, Default)]
struct FunctionResult {
    function: String,
    runtime: String,
    /// What answered the function's DynamoDB calls: "moto", or "stand-in" (recorded replies).
    dynamodb: String,
    init: Option<Stats>,
    first_invoke: Option<Stats>,
    warm: Option<Stats>,
    /// The bare round trips timed right after each warm invocation.
    round_trips: Option<Stats>,
    /// warm[i] - round_trips[i], pair by pair.
    beyond_round_trips: Option<Stats>,
    round_trip_calls: Vec<String>,
    peak_rss_kb: Option<u64>,
    /// CPU time (all threads, user + system, from /proc/<pid>/task/*/schedstat) the warm
    /// process used per warm invocation: the handler's own work, free of the servers' jitter.
    cpu_per_warm_invocation_us: Option<f64>,
    /// Stand-in runs: the DynamoDB operations replayed, and how many requests were answered
    /// from a recording during the whole run (function and bare clients).
    replayed_operations: Vec<String>,
    replayed_requests: Option<u64>,
    notes: Vec<String>,
}

/// Everything a function process needs: where the services are.
struct Services {
    moto: String,
    sdk: aws_config::SdkConfig,
    emulator: RunningEmulator,
    secret_arn: String,
    dynamo: aws_sdk_dynamodb::Client,
    http: reqwest::Client,
    log_dir: PathBuf,
}

/// How to start one function.
struct Launch {
    name: String,
    runtime: &'static str,
    program: PathBuf,
    args: Vec<String>,
    cwd: Option<PathBuf>,
    extra_env: Vec<(String, String)>,
}

struct Running {
    child: Child,
    api: RuntimeApi,
    init: Duration,
    log: PathBuf,
}

impl Launch {
    fn env(&self, s: &Services, runtime_api: &str) -> Vec<(String, String)> {
        let home = s.log_dir.join("home");
        let mut env: Vec<(String, String)> = [
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_owned()),
            ("AWS_LAMBDA_FUNCTION_NAME", self.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", MEMORY_MB.into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.name),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/26/[$LATEST]bench".into(),
            ),
            ("AWS_EXECUTION_ENV", format!("AWS_Lambda_{}", self.runtime)),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_ENDPOINT_URL", s.moto.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("TZ", ":UTC".into()),
            ("LANG", "en_US.UTF-8".into()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
            // No profile files, as in Lambda: the SDKs find nothing under this HOME.
            ("HOME", home.display().to_string()),
            ("TABLE_NAME", TABLE.into()),
            ("PLAID_SECRET_ID", s.secret_arn.clone()),
            ("PLAID_ENV", "sandbox".into()),
            ("PLAID_BASE_URL", s.emulator.url()),
            ("IDV_TEMPLATE_ID", TEMPLATE.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(self.extra_env.iter().cloned());
        env
    }

    async fn start(&self, s: &Services) -> Result<Running, BenchError> {
        let api = RuntimeApi::start(&self.name, INVOKE_TIMEOUT)
            .await
            .map_err(|e| BenchError::Setup(format!("runtime API: {e}")))?;
        let log = s
            .log_dir
            .join(format!("{}-{}.log", self.name, self.runtime));
        let open_log = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .map_err(|e| BenchError::Setup(format!("{}: {e}", log.display())))
        };
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args)
            .env_clear()
            .envs(self.env(s, &api.endpoint()))
            .stdin(Stdio::null())
            .stdout(open_log()?)
            .stderr(open_log()?)
            .kill_on_drop(true);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        let fail = |detail: String| BenchError::Function {
            function: format!("{} ({})", self.name, self.runtime),
            detail,
            log: log.display().to_string(),
        };
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("spawn {}: {e}", self.program.display())))?;
        let ready = tokio::select! {
            r = api.wait_ready() => r.map_err(|e| fail(e.to_string()))?,
            status = child.wait() => return Err(fail(format!("exited during init: {status:?}"))),
            _ = tokio::time::sleep(READY_TIMEOUT) => return Err(fail("no /next within 60 s".into())),
        };
        Ok(Running {
            init: ready.saturating_duration_since(spawned),
            child,
            api,
            log,
        })
    }
}

impl Running {
    /// One invocation; the answer must be an API Gateway response with `expect` status.
    async fn call(&mut self, event: &Value, expect: &[u16]) -> Result<(Duration, Value), String> {
        let pending = self.api.submit(event.to_string());
        let done = tokio::select! {
            d = pending.outcome() => d.map_err(|e| e.to_string())?,
            status = self.child.wait() => return Err(format!("the function exited: {status:?}")),
            _ = tokio::time::sleep(INVOKE_TIMEOUT) => return Err("no answer within 30 s".into()),
        };
        let body = match done.outcome {
            Outcome::Response(b) => b,
            Outcome::Error { error_type, body } => {
                return Err(format!(
                    "invocation error {error_type:?}: {}",
                    String::from_utf8_lossy(&body)
                ));
            }
        };
        let answer: Value =
            serde_json::from_slice(&body).map_err(|e| format!("response is not JSON: {e}"))?;
        let status = answer["statusCode"].as_u64().unwrap_or(0) as u16;
        if !expect.contains(&status) {
            return Err(format!("expected status {expect:?}, got {answer}"));
        }
        let inner: Value = answer["body"]
            .as_str()
            .and_then(|b| serde_json::from_str(b).ok())
            .unwrap_or(Value::Null);
        Ok((done.latency, inner))
    }

    /// Nanoseconds on CPU, summed over the process's threads.
    fn cpu_ns(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        let mut total = 0u64;
        for task in tasks.flatten() {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
            total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
        Some(total)
    }

    fn peak_rss_kb(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    fn fail(&self, function: &str, detail: String) -> BenchError {
        BenchError::Function {
            function: function.to_owned(),
            detail,
            log: self.log.display().to_string(),
        }
    }
}

/// What each warm invocation is, and the bare round trips to pair it with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    CreateSession,
    GetSession,
    LinkToken,
    /// The bare `lambda_runtime` hello world (`tests/bench/hello`): the floor for init.
    Hello,
}

impl Flow {
    /// Whether bare clients can repeat the invocation's calls (see `Services::round_trips`).
    fn has_round_trips(self) -> bool {
        matches!(self, Flow::CreateSession | Flow::GetSession)
    }
}

struct Subject {
    flow: Flow,
    /// A table of its own: moto's Query on an index reads every item, so a table shared across
    /// runs would slow each later run's round trips.
    store: DynamoStore,
    /// Distinguishes users across runs sharing one table.
    tag: String,
    /// The sessions (id, owner) that get-session and link-token read; invocation `n` reads the
    /// `n`-th (modulo). link-token gets one per invocation: a session read from Plaid moments
    /// ago is under the live-read cool-down, and would answer 429 or a reused token.
    existing: Vec<(String, String)>,
}

impl Subject {
    fn existing_for(&self, n: usize) -> Option<&(String, String)> {
        (!self.existing.is_empty()).then(|| &self.existing[n % self.existing.len()])
    }

    fn event(&self, i: usize) -> (Value, &'static [u16]) {
        match (self.flow, self.existing_for(i)) {
            (Flow::CreateSession, _) => (
                ApiEvent::post_sessions()
                    .user(&format!("bench-{}-{i}", self.tag))
                    .json(&json!({}))
                    .event(),
                &[201],
            ),
            (Flow::GetSession, Some((id, owner))) => {
                (ApiEvent::get_session(id).user(owner).event(), &[200])
            }
            (Flow::LinkToken, Some((id, owner))) => (
                ApiEvent::link_token(id)
                    .user(owner)
                    .json(&json!({}))
                    .event(),
                &[200, 201],
            ),
            (Flow::Hello, _) => (json!({ "name": format!("bench-{i}") }), &[200]),
            _ => (Value::Null, &[]),
        }
    }
}

impl Services {
    /// The same calls the handler makes for one warm invocation, with bare clients; returns
    /// their summed time. `i` picks a user no one has used, as the handler's event does.
    async fn round_trips(&self, subject: &Subject, i: usize) -> Result<Duration, String> {
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

fn round_trip_calls(flow: Flow) -> Vec<String> {
    match flow {
        Flow::CreateSession => vec![
            "DynamoDB Query (by_user_template, latest session)".into(),
            "Plaid POST /identity_verification/create".into(),
            "DynamoDB PutItem (attribute_not_exists)".into(),
        ],
        Flow::GetSession => vec!["DynamoDB GetItem (consistent)".into()],
        Flow::LinkToken | Flow::Hello => vec![],
    }
}

async fn measure(
    s: &Services,
    launch: &Launch,
    subject: &Subject,
    cold_starts: usize,
    warm: usize,
) -> Result<FunctionResult, BenchError> {
    let label = format!("{} ({})", launch.name, launch.runtime);
    eprintln!("lambda-bench: {label}: {cold_starts} cold starts, {warm} warm invocations");
    let mut inits = Vec::new();
    let mut firsts = Vec::new();
    let mut n = 0usize;
    let mut warm_process = None;
    for k in 0..cold_starts.max(1) {
        let mut running = launch.start(s).await?;
        inits.push(us(running.init));
        let (event, expect) = subject.event(n);
        n += 1;
        let (latency, _) = running
            .call(&event, expect)
            .await
            .map_err(|e| running.fail(&label, e))?;
        firsts.push(us(latency));
        if k + 1 == cold_starts.max(1) {
            warm_process = Some(running);
        } else {
            running.stop().await;
        }
    }
    let Some(mut running) = warm_process else {
        return Err(BenchError::Setup("no process".into()));
    };
    let mut lat = Vec::with_capacity(warm);
    let mut rts = Vec::new();
    let mut beyond = Vec::new();
    let pair = subject.flow.has_round_trips();
    let cpu_before = running.cpu_ns();
    for i in 0..warm {
        let (event, expect) = subject.event(n);
        n += 1;
        let (latency, _) = running
            .call(&event, expect)
            .await
            .map_err(|e| running.fail(&label, e))?;
        lat.push(us(latency));
        if pair {
            let rt = s
                .round_trips(subject, i)
                .await
                .map_err(|e| BenchError::Setup(format!("bare round trips: {e}")))?;
            rts.push(us(rt));
            beyond.push(us(latency) - us(rt));
        }
    }
    let cpu = match (cpu_before, running.cpu_ns()) {
        (Some(a), Some(b)) if warm > 0 => Some(b.saturating_sub(a) as f64 / 1e3 / warm as f64),
        _ => None,
    };
    let peak = running.peak_rss_kb();
    running.stop().await;
    Ok(FunctionResult {
        function: launch.name.clone(),
        runtime: launch.runtime.into(),
        dynamodb: "moto".into(),
        init: stats(&inits),
        first_invoke: stats(&firsts),
        warm: stats(&lat),
        round_trips: stats(&rts),
        beyond_round_trips: stats(&beyond),
        round_trip_calls: round_trip_calls(subject.flow),
        peak_rss_kb: peak,
        cpu_per_warm_invocation_us: cpu,
        replayed_operations: Vec::new(),
        replayed_requests: None,
        notes: Vec::new(),
    })
}

/// Invocation `n` of `subject`'s flow; its latency.
async fn invoke(
    running: &mut Running,
    subject: &Subject,
    n: usize,
    label: &str,
) -> Result<Duration, BenchError> {
    let (event, expect) = subject.event(n);
    running
        .call(&event, expect)
        .await
        .map(|(latency, _)| latency)
        .map_err(|e| running.fail(label, e))
}

/// Warm invocations discarded before a stand-in run's measured loop (connections, caches).
const OVERHEAD_WARMUP: usize = 20;

/// Handler overhead with the outbound services answering at a small, steady cost: DynamoDB by
/// a [`DynamoStandIn`] that replays what moto answered to the function's first invocation,
/// Plaid by the emulator. Each measured invocation is paired with the same calls made right
/// after it by bare clients against the same stand-ins, as in [`measure`]; the difference is the
/// function's own work plus the Runtime API hop.
async fn measure_overhead(
    s: &Services,
    launch: &Launch,
    subject: &Subject,
    warm: usize,
) -> Result<FunctionResult, BenchError> {
    let label = format!("{} ({}, stand-ins)", launch.name, launch.runtime);
    eprintln!("lambda-bench: {label}: {warm} warm invocations");
    let stand_in = DynamoStandIn::start(&s.moto)
        .await
        .map_err(|e| BenchError::Setup(format!("DynamoDB stand-in: {e}")))?;
    let launch = Launch {
        name: launch.name.clone(),
        runtime: launch.runtime,
        program: launch.program.clone(),
        args: launch.args.clone(),
        cwd: launch.cwd.clone(),
        // Only DynamoDB goes to the stand-in; the secret is still read from moto at init.
        extra_env: launch
            .extra_env
            .iter()
            .cloned()
            .chain([("AWS_ENDPOINT_URL_DYNAMODB".to_owned(), stand_in.url())])
            .collect(),
    };
    let conf = aws_sdk_dynamodb::config::Builder::from(&s.sdk)
        .endpoint_url(stand_in.url())
        .build();
    let bare = Subject {
        flow: subject.flow,
        store: DynamoStore::new(
            aws_sdk_dynamodb::Client::from_conf(conf),
            subject.store.table(),
        ),
        tag: format!("{}-stand-in", subject.tag),
        existing: subject.existing.clone(),
    };
    let mut running = launch.start(s).await?;
    // The first invocation goes through to moto and is what gets recorded.
    invoke(&mut running, &bare, 0, &label).await?;
    stand_in.replay();
    let bare_calls = |i: usize| {
        let bare = &bare;
        async move {
            s.round_trips(bare, i)
                .await
                .map_err(|e| BenchError::Setup(format!("bare round trips (stand-ins): {e}")))
        }
    };
    for i in 0..OVERHEAD_WARMUP {
        invoke(&mut running, &bare, 1 + i, &label).await?;
        bare_calls(i).await?;
    }
    let mut lat = Vec::with_capacity(warm);
    let mut rts = Vec::with_capacity(warm);
    let mut beyond = Vec::with_capacity(warm);
    let cpu_before = running.cpu_ns();
    for i in OVERHEAD_WARMUP..OVERHEAD_WARMUP + warm {
        let latency = invoke(&mut running, &bare, 1 + i, &label).await?;
        let rt = bare_calls(i).await?;
        lat.push(us(latency));
        rts.push(us(rt));
        beyond.push(us(latency) - us(rt));
    }
    let cpu = match (cpu_before, running.cpu_ns()) {
        (Some(a), Some(b)) if warm > 0 => Some(b.saturating_sub(a) as f64 / 1e3 / warm as f64),
        _ => None,
    };
    let peak = running.peak_rss_kb();
    running.stop().await;
    if stand_in.unrecorded() > 0 {
        return Err(BenchError::Setup(format!(
            "{label}: {} DynamoDB requests had no recording (recorded: {:?})",
            stand_in.unrecorded(),
            stand_in.recorded()
        )));
    }
    Ok(FunctionResult {
        function: launch.name.clone(),
        runtime: launch.runtime.into(),
        dynamodb: "stand-in".into(),
        init: None,
        first_invoke: None,
        warm: stats(&lat),
        round_trips: stats(&rts),
        beyond_round_trips: stats(&beyond),
        round_trip_calls: round_trip_calls(subject.flow),
        peak_rss_kb: peak,
        cpu_per_warm_invocation_us: cpu,
        replayed_operations: stand_in.recorded(),
        replayed_requests: Some(stand_in.replayed()),
        notes: Vec::new(),
    })
}

/// What the functions' init does for AWS, timed from this process with a fresh SDK config
/// each time (so a new connection, as in a new process): load the config from the environment,
/// then `GetSecretValue`. A lower bound for the same step inside a cold process, whose code and
/// allocator are not yet warm.
async fn aws_init_samples(s: &Services, n: usize) -> Result<Vec<f64>, BenchError> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let t = Instant::now();
        let sdk = localstack::try_aws_config()
            .await
            .map_err(|e| BenchError::Setup(e.to_string()))?;
        aws_sdk_secretsmanager::Client::new(&sdk)
            .get_secret_value()
            .secret_id(&s.secret_arn)
            .send()
            .await
            .map_err(|e| BenchError::Setup(format!("GetSecretValue: {e}")))?;
        samples.push(us(t.elapsed()));
    }
    Ok(samples)
}

/// The harness's own share of every invocation: an event through the Runtime API and an empty
/// answer back, with a minimal in-process loop (reqwest) in place of a function.
async fn runtime_hop_samples(n: usize) -> Result<Vec<f64>, BenchError> {
    let api = RuntimeApi::start("echo", INVOKE_TIMEOUT)
        .await
        .map_err(|e| BenchError::Setup(format!("runtime API: {e}")))?;
    let base = format!("http://{}/2018-06-01/runtime", api.endpoint());
    let echo = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let Ok(next) = http.get(format!("{base}/invocation/next")).send().await else {
                return;
            };
            let id = next
                .headers()
                .get("lambda-runtime-aws-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let (Some(id), Ok(_)) = (id, next.bytes().await) else {
                return;
            };
            let posted = http
                .post(format!("{base}/invocation/{id}/response"))
                .body("{}")
                .send()
                .await;
            if posted.is_err() {
                return;
            }
        }
    });
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let done = api
            .invoke("{}")
            .await
            .map_err(|e| BenchError::Setup(format!("runtime API hop: {e}")))?;
        samples.push(us(done.latency));
    }
    echo.abort();
    Ok(samples)
}

const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// create-session's init under trust stores of different sizes; see `--init-experiments`.
async fn init_experiments(s: &Services, base: &Launch, n: usize) -> Result<Value, BenchError> {
    let dir = s.log_dir.join("tls-experiment");
    let empty = dir.join("empty-dir");
    std::fs::create_dir_all(&empty).map_err(|e| BenchError::Setup(e.to_string()))?;
    let bundle = std::fs::read_to_string(SYSTEM_BUNDLE)
        .map_err(|e| BenchError::Setup(format!("{SYSTEM_BUNDLE}: {e}")))?;
    const END: &str = "-----END CERTIFICATE-----";
    let first = bundle
        .find(END)
        .map(|i| &bundle[..i + END.len()])
        .ok_or_else(|| BenchError::Setup(format!("{SYSTEM_BUNDLE} has no certificate")))?;
    let one = dir.join("one-root.pem");
    std::fs::write(&one, format!("{first}\n")).map_err(|e| BenchError::Setup(e.to_string()))?;
    let cases: [(&str, Vec<(String, String)>); 3] = [
        (
            "compiled-in roots (neither variable set: the default)",
            vec![],
        ),
        (
            "bundle file only (SSL_CERT_DIR empty)",
            vec![
                ("SSL_CERT_FILE".into(), SYSTEM_BUNDLE.into()),
                ("SSL_CERT_DIR".into(), empty.display().to_string()),
            ],
        ),
        (
            "one root certificate",
            vec![
                ("SSL_CERT_FILE".into(), one.display().to_string()),
                ("SSL_CERT_DIR".into(), empty.display().to_string()),
            ],
        ),
    ];
    let mut out = Vec::new();
    for (label, env) in cases {
        let launch = Launch {
            name: base.name.clone(),
            runtime: "rust",
            program: base.program.clone(),
            args: vec![],
            cwd: None,
            extra_env: base.extra_env.iter().cloned().chain(env).collect(),
        };
        let mut inits = Vec::new();
        for _ in 0..n.max(1) {
            let running = launch.start(s).await?;
            inits.push(us(running.init));
            running.stop().await;
        }
        out.push(json!({ "case": label, "init": stats(&inits) }));
    }
    Ok(Value::Array(out))
}

/// A session owned by `owner`, made through the store and the emulator the way create-session
/// makes one, for get-session and link-token to read.
async fn seed_session(s: &Services, table: &str, owner: &str) -> Result<String, BenchError> {
    let subject = Subject {
        flow: Flow::CreateSession,
        store: DynamoStore::new(s.dynamo.clone(), table),
        tag: format!("seed-{owner}"),
        existing: Vec::new(),
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

async fn run(args: Args) -> Result<Value, BenchError> {
    let services = start_services(&args).await?;
    let Plan {
        functions: plan,
        python_store: py_store,
        python_table: py_table,
    } = plan(&args, &services).await?;
    let aws_init = aws_init_samples(&services, args.cold_starts).await?;
    let hop = runtime_hop_samples(args.warm).await?;
    let mut results = Vec::new();
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    if !args.skip_moto {
        for (launch, subject) in plan.iter().filter(|(l, _)| wanted(&l.name)) {
            results.push(measure(&services, launch, subject, args.cold_starts, args.warm).await?);
        }
    }
    if args.stand_ins {
        for (launch, subject) in plan
            .iter()
            .filter(|(l, s)| wanted(&l.name) && s.flow.has_round_trips())
        {
            results.push(measure_overhead(&services, launch, subject, args.warm).await?);
        }
    }
    let python = args.python.as_ref().filter(|_| wanted("create-session"));
    if let Some(python) = python {
        let launch = python_launch(&args, python, &py_table)?;
        let subject = Subject {
            flow: Flow::CreateSession,
            store: py_store,
            tag: "python".into(),
            existing: Vec::new(),
        };
        if !args.skip_moto {
            results.push(measure(&services, &launch, &subject, args.cold_starts, args.warm).await?);
        }
        // The same stand-ins as Rust's run (boto3 honours AWS_ENDPOINT_URL_DYNAMODB too), so the
        // warm ratio compares the two implementations rather than moto's speed.
        if args.stand_ins {
            results.push(measure_overhead(&services, &launch, &subject, args.warm).await?);
        }
    }
    let experiments = if args.init_experiments {
        let create = plan
            .iter()
            .find(|(l, _)| l.name == "create-session")
            .map(|(l, _)| l)
            .ok_or_else(|| BenchError::Setup("no create-session in the plan".into()))?;
        init_experiments(&services, create, args.cold_starts).await?
    } else {
        Value::Null
    };
    if let Some(dir) = &args.trace_init {
        trace_inits(
            &services,
            plan.iter()
                .map(|(l, _)| l)
                .filter(|l| wanted(&l.name) && l.name != "hello"),
            dir,
        )
        .await?;
    }
    services.emulator.shutdown().await;
    Ok(json!({
        "aws_config_and_secret_fetch": stats(&aws_init),
        "runtime_api_hop": stats(&hop),
        "init_experiments": experiments,
        "cold_starts": args.cold_starts,
        "warm_invocations": args.warm,
        "memory_size_mb": MEMORY_MB,
        "moto": services.moto,
        "results": results,
    }))
}

/// moto with the sessions table and the Plaid secret, the emulator, and warmed-up servers.
async fn start_services(args: &Args) -> Result<Services, BenchError> {
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
        };
        services
            .round_trips(&warmup, i)
            .await
            .map_err(|e| BenchError::Setup(format!("warm-up: {e}")))?;
    }
    Ok(services)
}

/// The Rust functions to measure with their subjects, and the Python baseline's table.
struct Plan {
    functions: Vec<(Launch, Subject)>,
    python_store: DynamoStore,
    python_table: String,
}

/// A table per run, the sessions get-session and link-token read, and how to start each
/// function.
async fn plan(args: &Args, services: &Services) -> Result<Plan, BenchError> {
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

/// The Python baseline under AWS's runtime interface client, on its own table.
fn python_launch(args: &Args, python: &Path, py_table: &str) -> Result<Launch, BenchError> {
    let table_env = |t: &str| ("TABLE_NAME".to_owned(), t.to_owned());
    let dir = std::fs::canonicalize(&args.python_dir)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", args.python_dir.display())))?;
    Ok(Launch {
        name: "create-session".into(),
        runtime: "python",
        program: python.to_path_buf(),
        args: vec![
            "-m".into(),
            "awslambdaric".into(),
            "handler.lambda_handler".into(),
        ],
        cwd: Some(dir.clone()),
        extra_env: vec![
            ("LAMBDA_TASK_ROOT".into(), dir.display().to_string()),
            ("PYTHONPATH".into(), dir.display().to_string()),
            ("_HANDLER".into(), "handler.lambda_handler".into()),
            ("POWERTOOLS_SERVICE_NAME".into(), "create-session".into()),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
            table_env(py_table),
        ],
    })
}

/// Each function started once more under `strace -f -tt`; see `--trace-init`.
async fn trace_inits(
    services: &Services,
    launches: impl Iterator<Item = &Launch>,
    dir: &Path,
) -> Result<(), BenchError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| BenchError::Setup(format!("{}: {e}", dir.display())))?;
    for launch in launches {
        let out = dir.join(format!("{}.strace", launch.name));
        let traced = Launch {
            name: launch.name.clone(),
            runtime: "rust",
            program: PathBuf::from("strace"),
            args: vec![
                "-f".into(),
                "-tt".into(),
                "-o".into(),
                out.display().to_string(),
                launch.program.display().to_string(),
            ],
            cwd: None,
            extra_env: launch.extra_env.clone(),
        };
        traced.start(services).await?.stop().await;
    }
    Ok(())
}

// Single-threaded like the functions themselves: the bare round trips paired with each
// invocation then pay for the same kind of client path as the function's calls (no cross-thread
// wake-ups), and the servers here (Runtime API, DynamoDB stand-in, emulator) are only ever
// asked one thing at a time.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let out = args.out.clone();
    match run(args).await {
        Ok(v) => {
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            if let Err(e) = std::fs::write(&out, text) {
                eprintln!("lambda-bench: {}: {e}", out.display());
                return std::process::ExitCode::FAILURE;
            }
            eprintln!("lambda-bench: results in {}", out.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lambda-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
