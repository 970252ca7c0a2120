//! Starting a function process behind its own Runtime API, invoking it, and stopping it.

use super::*;

impl Launch {
    pub(crate) fn env(&self, s: &Services, runtime_api: &str) -> Vec<(String, String)> {
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

    pub(crate) async fn start(&self, s: &Services) -> Result<Running, BenchError> {
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

/// Field `field` of `schedstat` (0: time on CPU, 1: time waiting on a run queue, in ns), summed
/// over the threads under `tasks` (`/proc/<pid>/task`).
fn schedstat(tasks: &str, field: usize) -> Option<u64> {
    let mut total = 0u64;
    for task in std::fs::read_dir(tasks).ok()?.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().nth(field)?.parse::<u64>().ok()?;
    }
    Some(total)
}

impl Running {
    /// One invocation; the answer must be what `expect` says (an API Gateway response with one
    /// of its statuses, or a stream batch answer with no failed record).
    pub(crate) async fn call(
        &mut self,
        event: &Value,
        expect: Expect,
    ) -> Result<(Duration, Value), String> {
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
        let expect = match expect {
            Expect::Status(statuses) => statuses,
            Expect::NoBatchFailures => {
                return match answer["batchItemFailures"].as_array() {
                    Some(failed) if failed.is_empty() => Ok((done.latency, answer)),
                    _ => Err(format!("expected no failed record, got {answer}")),
                };
            }
        };
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
    pub(crate) fn cpu_ns(&self) -> Option<u64> {
        schedstat(&format!("/proc/{}/task", self.child.id()?), 0)
    }

    /// Nanoseconds the process's threads spent runnable but waiting for a CPU (the run queue).
    pub(crate) fn run_queue_ns(&self) -> Option<u64> {
        schedstat(&format!("/proc/{}/task", self.child.id()?), 1)
    }

    pub(crate) fn peak_rss_kb(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub(crate) async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    pub(crate) fn fail(&self, function: &str, detail: String) -> BenchError {
        BenchError::Function {
            function: function.to_owned(),
            detail,
            log: self.log.display().to_string(),
        }
    }
}
