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

mod init_parts;
mod measure;
mod overhead;
mod plan;
mod process;
mod python;
mod services;
mod trace_inits;

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

use init_parts::{aws_init_samples, init_experiments, runtime_hop_samples};
use measure::{invoke, measure, round_trip_calls};
use overhead::measure_overhead;
use plan::plan;
use python::python_launch;
use services::{seed_session, start_services};
use trace_inits::trace_inits;

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
    /// Stand-in runs: per invocation, the time the function's threads were runnable but waiting
    /// for a CPU (`schedstat`'s run-queue time), and the overhead less that time.
    run_queue_wait: Option<Stats>,
    beyond_net_of_run_queue: Option<Stats>,
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

/// What each warm invocation is, and the bare round trips to pair it with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    CreateSession,
    GetSession,
    LinkToken,
    /// The bare `lambda_runtime` hello world (`tests/bench/hello`): the floor for init.
    Hello,
    /// `publish-events`: the same stream batch of [`STREAM_BATCH`] records each time (issue #20:
    /// init and CPU per batch of 100).
    PublishEvents,
    /// `publish-events` as the outcome-webhook sender: the same SQS batch of one outcome event
    /// each time, delivered as a signed POST to a receiver on 127.0.0.1 that answers 204.
    OutcomeWebhook,
}

/// What an invocation must answer.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// An API Gateway response with one of these statuses.
    Status(&'static [u16]),
    /// A stream batch answer (`batchItemFailures`) that reports no record.
    NoBatchFailures,
}

/// Records in publish-events' batch: the mapping's `BatchSize` in `infra/template.yaml`.
const STREAM_BATCH: usize = 100;

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
    /// publish-events: the stream batch every invocation carries (Lambda's JSON shape).
    batch: Option<std::sync::Arc<Value>>,
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
            batch: None,
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

/// The Rust functions to measure with their subjects, and the Python baseline's table.
struct Plan {
    functions: Vec<(Launch, Subject)>,
    python_store: DynamoStore,
    python_table: String,
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
