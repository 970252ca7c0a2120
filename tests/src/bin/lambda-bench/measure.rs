//! One function measured against moto: cold starts, first and warm invocations, round trips.

use super::*;

impl Flow {
    /// Whether bare clients can repeat the invocation's calls (see `Services::round_trips`).
    pub(crate) fn has_round_trips(self) -> bool {
        matches!(self, Flow::CreateSession | Flow::GetSession)
    }
}

impl Subject {
    pub(crate) fn existing_for(&self, n: usize) -> Option<&(String, String)> {
        (!self.existing.is_empty()).then(|| &self.existing[n % self.existing.len()])
    }

    pub(crate) fn event(&self, i: usize) -> (Value, Expect) {
        let status = Expect::Status;
        match (self.flow, self.existing_for(i)) {
            (Flow::PublishEvents | Flow::OutcomeWebhook, _) => (
                self.batch.as_deref().cloned().unwrap_or(Value::Null),
                Expect::NoBatchFailures,
            ),
            (Flow::CreateSession, _) => (
                ApiEvent::post_sessions()
                    .user(&format!("bench-{}-{i}", self.tag))
                    .json(&json!({}))
                    .event(),
                status(&[201]),
            ),
            (Flow::GetSession, Some((id, owner))) => (
                ApiEvent::get_session(id).user(owner).event(),
                status(&[200]),
            ),
            (Flow::LinkToken, Some((id, owner))) => (
                ApiEvent::link_token(id)
                    .user(owner)
                    .json(&json!({}))
                    .event(),
                status(&[200, 201]),
            ),
            (Flow::Hello, _) => (json!({ "name": format!("bench-{i}") }), status(&[200])),
            _ => (Value::Null, status(&[])),
        }
    }
}

pub(crate) fn round_trip_calls(flow: Flow) -> Vec<String> {
    match flow {
        Flow::CreateSession => vec![
            "DynamoDB Query (by_user_template, latest session)".into(),
            "Plaid POST /identity_verification/create".into(),
            "DynamoDB PutItem (attribute_not_exists)".into(),
        ],
        Flow::GetSession => vec!["DynamoDB GetItem (consistent)".into()],
        Flow::LinkToken | Flow::Hello | Flow::PublishEvents | Flow::OutcomeWebhook => vec![],
    }
}

pub(crate) async fn measure(
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
        run_queue_wait: None,
        beyond_net_of_run_queue: None,
        notes: Vec::new(),
    })
}

/// Invocation `n` of `subject`'s flow; its latency.
pub(crate) async fn invoke(
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
