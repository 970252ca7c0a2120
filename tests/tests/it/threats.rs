//! Defences from the threat model (shared/README.md) that need the whole stack, or the real function
//! binary under a local Lambda Runtime API, to show: who the caller is when a request says
//! otherwise (`x-local-user`), no PII in any log line at the most verbose level the template
//! offers, and Plaid retries that fit the API budget and the invocation's deadline.

use serde_json::{Value, json};
use shared::config::{LOCAL_IDENTITY_VALUE, LOCAL_IDENTITY_VAR};
use shared::handlers;
use testkit::apigw::{Answer, ApiEvent};
use testkit::emulator::endpoints::{IDV_CREATE as CREATE, IDV_RETRY as RETRY};
use testkit::emulator::{Fault, FinishOutcome};
use testkit::stack::Stack;

const LOCAL_USER: &str = "x-local-user";

/// `event` as API Gateway would deliver it after its JWT authorizer accepted a token carrying
/// exactly `claims` (which may lack `sub`).
fn with_claims(event: ApiEvent, claims: Value) -> lambda_http::Request {
    let mut e = event.event();
    e["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    lambda_http::request::from_str(&e.to_string()).expect("a valid API Gateway v2 event")
}

async fn create(s: &Stack, req: lambda_http::Request) -> Answer {
    let a = Answer::from_response(handlers::create_session::handle(&s.ctx, req).await);
    testkit::openapi::check("POST", "/sessions", a.status, &a.headers, &a.json);
    a
}

async fn owner(s: &Stack, a: &Answer) -> String {
    let id = a.json["id"].as_str().expect("a session id");
    s.stored(id)
        .await
        .expect("the session is stored")
        .client_user_id
        .to_string()
}

/// Deployed configuration (the switch is off): the header names nobody.
#[tokio::test]
async fn x_local_user_is_ignored_when_the_switch_is_off() {
    let s = Stack::start().await;
    let a = s
        .call(ApiEvent::post_sessions().header(LOCAL_USER, "mallory"))
        .await;
    assert_eq!(
        (a.status, a.error_code()),
        (401, "unauthorized"),
        "{}",
        a.json
    );

    // Claims win: the session is the claim's user's, whatever the header says.
    let a = s
        .call(
            ApiEvent::post_sessions()
                .user("alice")
                .header(LOCAL_USER, "mallory"),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(owner(&s, &a).await, "alice");
    let read = s
        .call(
            ApiEvent::get_session(a.json["id"].as_str().unwrap())
                .user("mallory")
                .header(LOCAL_USER, "alice"),
        )
        .await;
    assert_eq!(
        read.status, 404,
        "mallory reads alice's session: {}",
        read.json
    );

    // Claims without `sub`, plus the header: still nobody.
    let a = create(
        &s,
        with_claims(
            ApiEvent::post_sessions().header(LOCAL_USER, "mallory"),
            json!({"iss": "https://issuer.example", "scope": "openid"}),
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.error_code()),
        (401, "unauthorized"),
        "{}",
        a.json
    );
    assert_eq!(
        s.emulator.requests().len(),
        1,
        "only alice's create reached Plaid"
    );
}

/// Local configuration (the switch is on): the header counts only where no authorizer ran.
/// Any authorizer context means the request came through API Gateway, where a caller could add
/// any header: then only the claims count.
#[tokio::test]
async fn x_local_user_is_ignored_behind_an_authorizer_even_when_the_switch_is_on() {
    let s = Stack::builder()
        .var(LOCAL_IDENTITY_VAR, LOCAL_IDENTITY_VALUE)
        .var("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
        .start()
        .await;

    // No authorizer at all (cargo lambda watch): the header names the caller.
    let a = s
        .call(ApiEvent::post_sessions().header(LOCAL_USER, "dev-bob"))
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(owner(&s, &a).await, "dev-bob");

    // An authorizer whose claims lack `sub`: 401, the header does not stand in for it.
    let a = create(
        &s,
        with_claims(
            ApiEvent::post_sessions().header(LOCAL_USER, "mallory"),
            json!({"iss": "https://issuer.example", "client_id": "machine"}),
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.error_code()),
        (401, "unauthorized"),
        "{}",
        a.json
    );

    // An authorizer with `sub`: that user, not the header's.
    let a = create(
        &s,
        with_claims(
            ApiEvent::post_sessions().header(LOCAL_USER, "mallory"),
            json!({"sub": "carol", "iss": "https://issuer.example"}),
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(owner(&s, &a).await, "carol");
    let plaid_users: Vec<_> = s
        .emulator
        .requests()
        .into_iter()
        .filter_map(|r| r.client_user_id)
        .collect();
    assert!(
        !plaid_users.iter().any(|u| u == "mallory"),
        "{plaid_users:?}"
    );
}

/// The most verbose `ApplicationLogLevel` the deployed template lets an operator pick.
fn most_verbose_offered_log_level() -> String {
    let template = testkit::cfn::workspace_template();
    let offered: Vec<String> = template["Parameters"]["LogLevel"]["AllowedValues"]
        .as_array()
        .expect("LogLevel.AllowedValues")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
        .into_iter()
        .find(|l| offered.iter().any(|o| o == l))
        .expect("a known level")
        .to_owned()
}

/// `cargo build -p <package>` in this workspace (nothing to do when it is up to date) and the
/// path of its binary, read from cargo's JSON messages.
fn build_function(package: &str) -> std::path::PathBuf {
    let out = std::process::Command::new(env!("CARGO"))
        .current_dir(testkit::localstack::workspace_root())
        .args(["build", "--quiet", "--message-format=json", "-p", package])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("cargo runs");
    assert!(out.status.success(), "cargo build -p {package} failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == package)
        .find_map(|m| m["executable"].as_str().map(std::path::PathBuf::from))
        .unwrap_or_else(|| panic!("no executable for {package}"))
}

/// A function binary running under the local Runtime API, against moto and the emulator.
struct Function {
    child: tokio::process::Child,
    api: testkit::runtime_api::RuntimeApi,
    emulator: testkit::emulator::RunningEmulator,
    stdout: tokio::task::JoinHandle<Vec<u8>>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
}

impl Function {
    /// `package` at log `level`; each invocation's deadline is `timeout` after it is handed over.
    async fn start(package: &str, level: &str, timeout: std::time::Duration) -> Function {
        use testkit::emulator::{Emulator, Template};
        use tokio::process::Command;

        let binary = build_function(package);
        let sdk = testkit::localstack::aws_config().await;
        let (_, table) = testkit::localstack::fresh_table("threats").await;
        let secret_arn = testkit::localstack::create_plaid_secret(
            &aws_sdk_secretsmanager::Client::new(&sdk),
            &format!("threats/{}", fastrand::u64(..)),
            "fn-client",
            FN_PLAID_SECRET,
        )
        .await
        .unwrap();
        let emulator = Emulator::builder()
            .client_id("fn-client")
            .secret(FN_PLAID_SECRET)
            .templates([Template::new(FN_TEMPLATE)])
            .start()
            .await
            .unwrap();
        let api = testkit::runtime_api::RuntimeApi::start(package, timeout)
            .await
            .unwrap();
        let endpoint = testkit::localstack::dynamodb_endpoint().unwrap();
        let mut child = Command::new(&binary)
            .env_clear()
            .envs([
                ("AWS_LAMBDA_RUNTIME_API", api.endpoint()),
                ("AWS_LAMBDA_FUNCTION_NAME", package.to_owned()),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
                (
                    "AWS_LAMBDA_LOG_GROUP_NAME",
                    format!("/aws/lambda/{package}"),
                ),
                (
                    "AWS_LAMBDA_LOG_STREAM_NAME",
                    "2026/11/30/[$LATEST]threats".into(),
                ),
                // What Lambda sets from the function's LoggingConfig.ApplicationLogLevel, and
                // the variable a developer would reach for.
                ("AWS_LAMBDA_LOG_LEVEL", level.to_owned()),
                ("RUST_LOG", level.to_lowercase()),
                ("AWS_REGION", "us-east-1".into()),
                ("AWS_ACCESS_KEY_ID", "test".into()),
                ("AWS_SECRET_ACCESS_KEY", "test".into()),
                ("AWS_ENDPOINT_URL", endpoint),
                ("AWS_EC2_METADATA_DISABLED", "true".into()),
                ("HOME", std::env::temp_dir().display().to_string()),
                ("TABLE_NAME", table),
                ("PLAID_SECRET_ID", secret_arn),
                ("PLAID_ENV", "sandbox".into()),
                ("PLAID_BASE_URL", emulator.url()),
                ("IDV_TEMPLATE_ID", FN_TEMPLATE.into()),
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the function binary starts");
        // Drained while it runs: at TRACE a pipe's buffer fills within one invocation.
        let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>| {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = tokio::io::AsyncReadExt::read_to_end(&mut p, &mut buf).await;
                }
                buf
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        Function {
            child,
            api,
            emulator,
            stdout,
            stderr,
        }
    }

    /// One invocation: the API Gateway response (or `None` after 60 s) and how long it took.
    async fn invoke(&self, event: &Value) -> Option<(Value, std::time::Duration)> {
        use testkit::runtime_api::Outcome;
        let done = tokio::time::timeout(std::time::Duration::from_secs(60), async {
            self.api.wait_ready().await.expect("init");
            self.api.invoke(event.to_string()).await.expect("an answer")
        })
        .await
        .ok()?;
        match done.outcome {
            Outcome::Response(body) => Some((serde_json::from_slice(&body).unwrap(), done.latency)),
            other => panic!("invocation error {other:?}"),
        }
    }

    /// Stop the process; everything it wrote to stdout and stderr.
    async fn stop(mut self) -> String {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&self.stdout.await.unwrap()),
            String::from_utf8_lossy(&self.stderr.await.unwrap())
        )
    }
}

const FN_TEMPLATE: &str = "idvtmp_threats";
const FN_PLAID_SECRET: &str = "fn-plaid-secret-value";

/// No token, SSN, date of birth, name, e-mail, phone or street in any log line of the real
/// create-session binary, run exactly as Lambda runs it (Runtime API, environment, the
/// subscriber its bootstrap installs) at the most verbose level the template offers.
#[tokio::test]
async fn a_create_with_full_user_data_logs_no_pii_at_the_most_verbose_offered_level() {
    const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJwaWktdXNlciJ9.\
                         c2lnbmF0dXJlLW9mLWEtcmVhbC1iZWFyZXItdG9rZW4";
    let level = most_verbose_offered_log_level();
    let f = Function::start("create-session", &level, std::time::Duration::from_secs(10)).await;
    let user = json!({
        "email_address": "perdita.quaintance@example.org",
        "phone_number": "+12345678909",
        "date_of_birth": "1981-07-23",
        "name": {"given_name": "Perdita", "family_name": "Quaintance"},
        "address": {"street": "742 Evergreen Ter", "city": "Pawnee", "region": "IN",
                    "postal_code": "46001", "country": "US"},
        "id_number": {"value": "524718963", "type": "us_ssn"},
    });
    let event = ApiEvent::post_sessions()
        .user("pii-user")
        .header("authorization", &format!("Bearer {TOKEN}"))
        .json(&json!({"user": user, "gave_consent": true}))
        .event();
    let answer = f.invoke(&event).await;
    let logs = f.stop().await;
    let (response, _) = answer.unwrap_or_else(|| panic!("no answer within 60 s; logs:\n{logs}"));
    assert_eq!(response["statusCode"], 201, "{response}\n{logs}");

    // The capture works: the request's own line is there, at the level asked for.
    let lines: Vec<&str> = logs.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.contains(r#""message":"request""#) && l.contains("201")),
        "no request line captured:\n{logs}"
    );
    if level == "TRACE" || level == "DEBUG" {
        // The verbose level really was in effect: our own per-attempt debug line is there.
        assert!(
            lines
                .iter()
                .any(|l| l.contains(r#""level":"DEBUG""#) && l.contains("plaid call")),
            "no debug line at {level}:\n{logs}"
        );
    }
    assert_lines_name_their_invocation(&lines, "create-session");
    for forbidden in [
        TOKEN,
        "c2lnbmF0dXJlLW9mLWEtcmVhbC1iZWFyZXItdG9rZW4",
        "524718963",
        "1981-07-23",
        "Perdita",
        "Quaintance",
        "perdita.quaintance@example.org",
        "2345678909",
        "742 Evergreen",
        FN_PLAID_SECRET,
    ] {
        let leaks: Vec<_> = lines.iter().filter(|l| l.contains(forbidden)).collect();
        assert!(
            leaks.is_empty(),
            "{forbidden:?} logged at {level} in {} of {} lines, e.g.:\n{}",
            leaks.len(),
            lines.len(),
            leaks[0]
        );
    }
}

/// Every line the invocation logged, at every level, carries its request (issue #13): the
/// Lambda request id the request's summary line names, the X-Ray trace id the Runtime API sent,
/// the function and `cold_start`; and its EMF metric lines carry the same request id.
fn assert_lines_name_their_invocation(lines: &[&str], function: &str) {
    let json: Vec<Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect();
    let request = json
        .iter()
        .find(|l| l["message"] == "request")
        .expect("the request line");
    let id = request["aws_request_id"].as_str().unwrap_or("");
    assert!(!id.is_empty(), "{request}");
    // The cold start logs before any invocation; from the first line in a span on, every
    // line belongs to the one invocation.
    let in_invocation: Vec<&Value> = json
        .iter()
        .filter(|l| l.get("level").is_some())
        .skip_while(|l| l.get("span").is_none())
        .collect();
    assert!(in_invocation.len() >= 2, "{lines:#?}");
    for l in &in_invocation {
        let span = &l["span"];
        assert_eq!(span["aws_request_id"], id, "{l}");
        assert!(
            span["xray_trace_id"]
                .as_str()
                .is_some_and(|t| t.starts_with("Root=1-")),
            "{l}"
        );
        assert_eq!(span["function"], function, "{l}");
        assert_eq!(span["cold_start"], true, "{l}");
    }
    let metrics: Vec<&Value> = json.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert!(!metrics.is_empty(), "no EMF line:\n{lines:#?}");
    for m in metrics {
        assert_eq!(m["aws_request_id"], id, "{m}");
        assert_eq!(m["cold_start"], true, "{m}");
    }
}

/// The stack with the Plaid client the API functions really get.
async fn api_stack() -> Stack {
    Stack::builder()
        .plaid_options(shared::bootstrap::Budget::Api.plaid_options())
        .start()
        .await
}

fn fault(endpoint: &str, status: Option<u16>, count: u32, delay_ms: u64) -> Fault {
    Fault {
        endpoint: endpoint.to_owned(),
        status,
        count,
        delay_ms,
    }
}

/// Plaid failing fast twice is not the caller's problem: the third attempt fits easily.
#[tokio::test]
async fn two_fast_plaid_failures_on_create_still_answer_201() {
    let s = api_stack().await;
    for status in [500u16, 503] {
        let user = format!("fast-fail-{status}");
        let before = s.emulator.request_count(CREATE);
        s.emulator
            .inject_fault(fault(CREATE, Some(status), 2, 0))
            .unwrap();
        let a = s.call(ApiEvent::post_sessions().user(&user)).await;
        assert_eq!(a.status, 201, "{status}: {}", a.json);
        assert_eq!(s.emulator.request_count(CREATE), before + 3, "{status}");
    }
}

/// Slow failures: as many attempts as fit, and an answer before the function's timeout.
#[tokio::test]
async fn slow_plaid_failures_answer_within_the_api_budget() {
    let s = api_stack().await;
    let opts = shared::bootstrap::Budget::Api.plaid_options();
    s.emulator
        .inject_fault(fault(CREATE, None, 3, 20_000))
        .unwrap();
    let started = std::time::Instant::now();
    let a = s.call(ApiEvent::post_sessions().user("slow-fail")).await;
    let took = started.elapsed();
    assert_eq!(
        (a.status, a.error_code()),
        (503, "plaid_unavailable"),
        "{}",
        a.json
    );
    // What the client decides, not how long a busy machine took around it (a wall-clock
    // bound of 9 s on a call that needs 8.1 s failed under load): each attempt it starts gets
    // its full timeout inside the budget, so it starts exactly as many as fit.
    let fit = (1..=opts.max_attempts)
        .take_while(|n| opts.timeout * *n + opts.max_backoff * (*n - 1) <= opts.budget)
        .count();
    assert_eq!(fit, 2, "the Api budget fits two slow attempts");
    // Attempts the client gave up on are never answered, so Plaid's request log has none:
    // count them by the delay faults they used up (3 armed, one left).
    let faults: Value = reqwest::get(format!("{}/emulator/faults", s.emulator.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let left = faults
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["endpoint"] == CREATE)
        .map(|f| f["count"].as_u64().unwrap() as usize)
        .sum::<usize>();
    assert_eq!(3 - left, fit, "{faults}");
    // Each attempt waited out its timeout (a lower bound no load can break), and no attempt
    // waited for Plaid's 20 s: the answer came with the timeouts, not with Plaid.
    assert!(took >= opts.timeout * fit as u32, "{took:?}");
    assert!(took < opts.timeout * (fit as u32 + 1), "{took:?}");
    // The budget is under the function's own timeout in the template (10 s; API Gateway's
    // 30 s exceeds it), which is what bounds the answer in AWS.
    assert!(opts.budget < std::time::Duration::from_secs(10));
}

/// A `/retry` Plaid may have acted on is never sent again by the client, however much time is
/// left: the next start finds the attempt instead (see `create_session::retry_after`).
#[tokio::test]
async fn identity_verification_retry_is_sent_once_under_the_api_budget() {
    let s = api_stack().await;
    let first = s.start_session("retry-once").await;
    s.finish_and_deliver(&first, FinishOutcome::Failed).await;
    let before = s.emulator.request_count(RETRY);
    s.emulator
        .inject_fault(fault(RETRY, Some(500), 3, 0))
        .unwrap();
    let a = s.call(ApiEvent::post_sessions().user("retry-once")).await;
    assert_eq!(a.status, 502, "{}", a.json);
    assert_eq!(s.emulator.request_count(RETRY), before + 1);
}

/// The Lambda invocation's own deadline bounds Plaid calls: with 3 s left, a Plaid that never
/// answers costs at most those 3 s (less a reserve to answer), not two 4 s attempts.
#[tokio::test]
async fn the_invocation_deadline_bounds_plaid_calls_in_the_real_binary() {
    let invocation = std::time::Duration::from_secs(3);
    let f = Function::start("create-session", "INFO", invocation).await;
    f.emulator
        .inject_fault(fault(CREATE, None, 3, 20_000))
        .unwrap();
    let event = ApiEvent::post_sessions().user("deadline-user").event();
    let answer = f.invoke(&event).await;
    let logs = f.stop().await;
    let (response, latency) =
        answer.unwrap_or_else(|| panic!("no answer within 60 s; logs:\n{logs}"));
    assert_eq!(response["statusCode"], 503, "{response}\n{logs}");
    assert!(latency < invocation, "answered after {latency:?}:\n{logs}");
}
