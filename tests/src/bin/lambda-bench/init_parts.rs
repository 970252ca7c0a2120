//! What init is made of: the AWS part and the Runtime API hop timed from here, and the TLS
//! trust-store experiment (`--init-experiments`).

use super::*;

/// What the functions' init does for AWS, timed from this process with a fresh SDK config
/// each time (so a new connection, as in a new process): load the config from the environment,
/// then `GetSecretValue`. A lower bound for the same step inside a cold process, whose code and
/// allocator are not yet warm.
pub(crate) async fn aws_init_samples(s: &Services, n: usize) -> Result<Vec<f64>, BenchError> {
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
pub(crate) async fn runtime_hop_samples(n: usize) -> Result<Vec<f64>, BenchError> {
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

pub(crate) const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// create-session's init under trust stores of different sizes; see `--init-experiments`.
pub(crate) async fn init_experiments(
    s: &Services,
    base: &Launch,
    n: usize,
) -> Result<Value, BenchError> {
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
