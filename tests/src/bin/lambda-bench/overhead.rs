//! Handler overhead against stand-ins (`--stand-ins`).

use super::*;

/// Warm invocations discarded before a stand-in run's measured loop (connections, caches).
pub(crate) const OVERHEAD_WARMUP: usize = 20;

/// Handler overhead with the outbound services answering at a small, steady cost: DynamoDB by
/// a [`DynamoStandIn`] that replays what moto answered to the function's first invocation,
/// Plaid by the emulator. Each measured invocation is paired with the same calls made right
/// after it by bare clients against the same stand-ins, as in [`measure`]; the difference is the
/// function's own work plus the Runtime API hop.
pub(crate) async fn measure_overhead(
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
        batch: subject.batch.clone(),
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
    // The time the function's threads spent runnable but off a CPU during each invocation: what
    // a loaded machine adds that no code of the function's can, told apart from the rest of the
    // overhead. (The harness's own waits stay in the figure: taken out too, a moment when both
    // wait would be taken out twice.)
    let mut waited = Vec::with_capacity(warm);
    let mut beyond_net = Vec::with_capacity(warm);
    let cpu_before = running.cpu_ns();
    for i in OVERHEAD_WARMUP..OVERHEAD_WARMUP + warm {
        let queued_before = running.run_queue_ns();
        let latency = invoke(&mut running, &bare, 1 + i, &label).await?;
        let queued_after = running.run_queue_ns();
        let rt = bare_calls(i).await?;
        lat.push(us(latency));
        rts.push(us(rt));
        beyond.push(us(latency) - us(rt));
        if let (Some(a), Some(b)) = (queued_before, queued_after) {
            let w = b.saturating_sub(a) as f64 / 1e3;
            waited.push(w);
            beyond_net.push(us(latency) - us(rt) - w);
        }
    }
    // Of the invocations above the overhead's p99, how many waited for a CPU for longer than
    // the aim (0.5 ms): the share of the tail that is the machine's, not the function's.
    let mut notes = Vec::new();
    if let (Some(b), true) = (stats(&beyond), waited.len() == beyond.len()) {
        let tail: Vec<usize> = (0..beyond.len())
            .filter(|&i| beyond[i] >= b.p99_us)
            .collect();
        let queued_tail = tail.iter().filter(|&&i| waited[i] >= 500.0).count();
        notes.push(format!(
            "{queued_tail} of the {} invocations at or above the overhead p99 waited >= 0.5 ms for a CPU",
            tail.len()
        ));
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
        run_queue_wait: stats(&waited),
        beyond_net_of_run_queue: stats(&beyond_net),
        notes,
    })
}
