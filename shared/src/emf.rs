//! CloudWatch metrics, written as Embedded Metric Format (EMF) lines on stdout: Lambda ships
//! them to CloudWatch Logs, which turns them into metrics in the namespace `PlaidIdv/<stack>`
//! (`STACK_NAME`, set from `AWS::StackName` in `infra/template.yaml`). No API call, no agent.
//!
//! **The crate.** `metrics_cloudwatch_embedded` (0.10) behind the `metrics` facade (metrics-rs,
//! the ecosystem's standard recording API). Measured in one scratch workspace with our release
//! profile (`opt-level = "s"`, LTO, stripped), each candidate recording the same counter and
//! latency in a bare `lambda_runtime` hello world and flushing one document (x86_64 host;
//! `tests/bench/notes.md` has the commands):
//!
//! | candidate | bootstrap | init instructions (callgrind) |
//! |---|---|---|
//! | hand-written EMF over `serde_json` (the baseline) | 1,020,848 B | 460,349 |
//! | `metrics` + `metrics_cloudwatch_embedded` | +106 KB | +15,374 (+3%) |
//! | `metrique` (awslabs, `emf` feature) | +28 KB | −23,418 |
//!
//! `metrique` is smaller (+28 KB against +106 KB; its Rust 1.91 floor is below the 1.94.1 the
//! locked AWS SDK needs). It was not chosen for its model: one wide-event struct per unit of
//! work, closed and written as one entry, with the EMF dimension sets given when the sink is
//! built. Our metrics need per-metric dimensions (an `Outcome` on starts, an `Endpoint` and an
//! `ErrorCode` on Plaid attempts, several endpoints in one invocation), and the facts are known
//! in different layers (the Plaid client, the flows' outcomes, reconcile), so the struct would
//! have to travel through all of them or sit in a task-local. With the facade, the one place
//! that knows a fact records it (`counter!` with labels, which this crate turns into
//! dimensions) and the serve loop flushes after each invocation; tests take the recorder one at
//! a time ([`Capture`]). Both crates are maintained (releases within months). The 78 KB
//! difference is the price of that fit: revisit if the bootstrap-size aim becomes binding.
//!
//! **One document per dimension set, flushed once per invocation** (in `bootstrap::serve_with`
//! and `serve_reconcile`, after the answer). EMF puts each dimension's value at the top level of
//! the document, so one document holds one value per dimension name: a webhook that calls two
//! Plaid endpoints needs two documents. A create writes two (its start; its Plaid endpoint's
//! calls and latency), three on a cold start (`ColdStarts`). They are not folded into the request's summary log line: that line goes
//! through the `tracing` subscriber, whose JSON formatter writes fields as strings or numbers,
//! while EMF needs the `_aws` object. Every document carries the invocation's
//! `aws_request_id`, `xray_trace_id`, `function` and `cold_start` as properties (searchable in
//! Logs Insights, never dimensions).
//!
//! **Dimensions are low-cardinality by construction:** every value is a `&'static str` from a
//! closed set (an outcome, an error code of our catalogue, a Plaid endpoint path, a status), a
//! Plaid error code that matches Plaid's `UPPER_SNAKE` shape (anything else is `OTHER`), or the
//! function's name. Never a user, session, template or request id.

use crate::logging::Invocation;
use crate::plaid::types::IdvStatus;
use metrics::{Unit, counter, gauge, histogram};
use metrics_cloudwatch_embedded::Collector;
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One metric the code emits. The dashboard and alarms in `infra/template.yaml` name these;
/// `tests/tests/it/template/metrics.rs` checks them against [`ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    /// CloudWatch's unit name, as EMF writes it.
    pub unit: &'static str,
    /// Every dimension the metric is written with.
    pub dimensions: &'static [&'static str],
}

/// How a metric is recorded: a counter's documents hold its sum over the invocation, a gauge's
/// its last value, a histogram's every value (EMF `Values`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

const fn count(name: &'static str, dimensions: &'static [&'static str]) -> Metric {
    Metric {
        name,
        kind: Kind::Counter,
        unit: "Count",
        dimensions,
    }
}

/// A per-run count set once per reconcile run: written even when 0 (an empty backlog is a data
/// point, not missing data).
const fn run_count(name: &'static str) -> Metric {
    Metric {
        name,
        kind: Kind::Gauge,
        unit: "Count",
        dimensions: &[],
    }
}

/// `POST /sessions`, by `flows::start::StartOutcome::as_str`, or `refused`.
pub const STARTS: Metric = count("Starts", &["Outcome"]);
/// Refused starts (also in [`STARTS`] as `refused`), by the answer's error code.
pub const STARTS_REFUSED: Metric = count("StartsRefused", &["Reason"]);
/// Sessions we saw reach a final status (success, failed, expired, canceled).
pub const VERIFICATIONS_FINISHED: Metric = count("VerificationsFinished", &["Status"]);
/// `POST /webhooks/plaid`, by [`WebhookOutcome`].
pub const WEBHOOKS: Metric = count("Webhooks", &["Outcome"]);
/// Refused webhooks (also in [`WEBHOOKS`] as `rejected`), by
/// `webhook_verify::VerifyError::reason_class`, or `source_address`.
pub const WEBHOOKS_REJECTED: Metric = count("WebhooksRejected", &["Reason"]);
/// Plaid HTTP attempts (a call retried is several), by endpoint.
pub const PLAID_CALLS: Metric = count("PlaidCalls", &["Endpoint"]);
/// Failed Plaid attempts, by endpoint and Plaid's `error_code` (or `TIMEOUT`, `TRANSPORT`…).
pub const PLAID_ERRORS: Metric = count("PlaidErrors", &["Endpoint", "ErrorCode"]);
/// Each Plaid attempt's latency, by endpoint.
pub const PLAID_LATENCY: Metric = Metric {
    name: "PlaidLatency",
    kind: Kind::Histogram,
    unit: "Milliseconds",
    dimensions: &["Endpoint"],
};
/// Reconcile: open sessions re-read from Plaid in a run.
pub const RECONCILE_REFRESHED: Metric = run_count("ReconcileRefreshed");
/// Reconcile: stale sessions a run looked at that are still open after it (the backlog; a run
/// looks at most `RECONCILE_MAX_PLAID_CALLS`, so a value pinned there means more are waiting).
pub const RECONCILE_STILL_OPEN: Metric = run_count("ReconcileStillOpen");
/// Reconcile: sessions a run took out of the open set by the app's expiry window.
pub const RECONCILE_EXPIRED: Metric = run_count("ReconcileExpired");
/// Outcome webhook messages, by how each ended (`outcome_webhook::handler::Outcome`): one per
/// message handled, so a message retried counts once per attempt.
pub const WEBHOOK_DELIVERIES: Metric = count("WebhookDeliveries", &["Outcome"]);
/// First invocation of an execution environment, by function name.
pub const COLD_STARTS: Metric = count("ColdStarts", &["Function"]);
/// publish-events: outcome events EventBridge accepted.
pub const EVENTS_PUBLISHED: Metric = count("EventsPublished", &[]);
/// publish-events: stream records answered as failures (retried; each retry counts again).
pub const EVENTS_FAILED: Metric = count("EventsFailed", &[]);

/// Every metric, the one list the template test reads.
pub const ALL: &[Metric] = &[
    STARTS,
    STARTS_REFUSED,
    VERIFICATIONS_FINISHED,
    WEBHOOKS,
    WEBHOOKS_REJECTED,
    PLAID_CALLS,
    PLAID_ERRORS,
    PLAID_LATENCY,
    RECONCILE_REFRESHED,
    RECONCILE_STILL_OPEN,
    RECONCILE_EXPIRED,
    WEBHOOK_DELIVERIES,
    COLD_STARTS,
    EVENTS_PUBLISHED,
    EVENTS_FAILED,
];

/// The `Outcome` of a refused start.
pub const REFUSED: &str = "refused";

/// How a webhook delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Verified, and the session re-read and recorded.
    Processed,
    /// Verified, nothing to do (another product, environment, or a session Plaid will not show).
    Ignored,
    /// Our side failed (a key or Plaid unreachable, the store): answered 5xx, Plaid delivers it
    /// again.
    Failed,
}

impl WebhookOutcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Processed => "processed",
            WebhookOutcome::Ignored => "ignored",
            WebhookOutcome::Failed => "failed",
        }
    }
}

/// The `Outcome` of a refused webhook.
pub const REJECTED: &str = "rejected";

/// A start that ended with `outcome` (`flows::start::StartOutcome::as_str`, a closed set).
pub fn start(outcome: &'static str) {
    counter!(STARTS.name, "Outcome" => outcome).increment(1);
}

/// A start refused with `reason`, the answer's error code (`http::ErrorCode::as_str`, a closed
/// catalogue).
pub fn start_refused(reason: &'static str) {
    counter!(STARTS.name, "Outcome" => REFUSED).increment(1);
    counter!(STARTS_REFUSED.name, "Reason" => reason).increment(1);
}

/// A session seen moving into `status` (counted only when final): by reconcile, which knows
/// the status it read before, and by Plaid's `STATUS_UPDATED` webhook, which Plaid sends when
/// the status changes. At least once: a delivery Plaid repeats after our 5xx counts again.
pub fn verification_finished(status: IdvStatus) {
    if status.is_final() {
        counter!(VERIFICATIONS_FINISHED.name, "Status" => status.as_str()).increment(1);
    }
}

pub fn webhook(outcome: WebhookOutcome) {
    counter!(WEBHOOKS.name, "Outcome" => outcome.as_str()).increment(1);
}

/// A webhook refused for `reason` (see `webhook_verify::VerifyError::reason_class`).
pub fn webhook_rejected(reason: &'static str) {
    counter!(WEBHOOKS.name, "Outcome" => REJECTED).increment(1);
    counter!(WEBHOOKS_REJECTED.name, "Reason" => reason).increment(1);
}

/// What a failed Plaid attempt tells the `PlaidErrors` metric (`plaid::PlaidError` answers it):
/// the metrics sit below the Plaid client and know nothing of its error type.
pub trait PlaidFailure {
    /// Plaid's `error_code`, when Plaid answered with an error body (not trusted to have
    /// Plaid's shape: see [`plaid_error_class`]).
    fn plaid_code(&self) -> Option<&str>;
    /// What failed on our side, for when Plaid gave no `error_code` (a closed set).
    fn local_code(&self) -> &'static str;
}

/// One Plaid HTTP attempt at `endpoint` (Plaid's path, a closed set).
pub fn plaid_attempt<E: PlaidFailure>(
    endpoint: &'static str,
    latency: Duration,
    error: Option<&E>,
) {
    counter!(PLAID_CALLS.name, "Endpoint" => endpoint).increment(1);
    // EMF takes at most 100 values per metric in a document, and the crate drops (and logs an
    // error for) each one past that; a reconcile run may make up to 1000 calls. The first 100
    // latencies of an invocation stand for the rest; the counts stay exact.
    if LATENCY_VALUES.fetch_add(1, Ordering::Relaxed) < MAX_VALUES {
        histogram!(PLAID_LATENCY.name, "Endpoint" => endpoint)
            .record(latency.as_secs_f64() * 1000.0);
    }
    if let Some(e) = error {
        counter!(PLAID_ERRORS.name, "Endpoint" => endpoint, "ErrorCode" => plaid_error_class(e))
            .increment(1);
    }
}

/// EMF's limit of values per metric in one document.
const MAX_VALUES: usize = 100;

/// Latency values recorded since the last flush.
static LATENCY_VALUES: AtomicUsize = AtomicUsize::new(0);

/// Plaid's own `error_code` when it has Plaid's shape, else what failed on our side.
pub fn plaid_error_class(e: &impl PlaidFailure) -> Cow<'static, str> {
    match e.plaid_code() {
        Some(code) if is_plaid_code(code) => Cow::Owned(code.to_owned()),
        // A body we could not trust to be a code: never let it become a dimension value.
        Some(_) => Cow::Borrowed("OTHER"),
        None => Cow::Borrowed(e.local_code()),
    }
}

/// Plaid's error codes are short `UPPER_SNAKE` words.
fn is_plaid_code(code: &str) -> bool {
    (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// One reconcile run's counts.
pub fn reconcile_run(refreshed: u32, still_open: u32, expired: u32) {
    gauge!(RECONCILE_REFRESHED.name).set(refreshed);
    gauge!(RECONCILE_STILL_OPEN.name).set(still_open);
    gauge!(RECONCILE_EXPIRED.name).set(expired);
}

/// One outcome webhook message handled, by `outcome` (a closed set,
/// `outcome_webhook::handler::OUTCOMES`).
pub fn webhook_delivery(outcome: &'static str) {
    counter!(WEBHOOK_DELIVERIES.name, "Outcome" => outcome).increment(1);
}

/// One stream batch of publish-events. Zeroes are not written (`emit_zeros(false)`).
pub fn events(published: u32, failed: u32) {
    counter!(EVENTS_PUBLISHED.name).increment(u64::from(published));
    counter!(EVENTS_FAILED.name).increment(u64::from(failed));
}

fn cold_start(function: &str) {
    counter!(COLD_STARTS.name, "Function" => function.to_owned()).increment(1);
}

/// The process's collector, installed as the global `metrics` recorder on first use. (The
/// crate exports no way to build a collector without installing it.)
/// The first caller's namespace wins (one process serves one function of one stack).
fn collector(namespace: &str) -> &'static Collector {
    static COLLECTOR: std::sync::OnceLock<&'static Collector> = std::sync::OnceLock::new();
    COLLECTOR.get_or_init(|| {
        // A counter not touched in an invocation is not written (the gauges are, see
        // `run_count`): a warm function does not repeat every outcome it ever saw as 0.
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(namespace.to_owned())
            .emit_zeros(false)
            .init()
            .expect("the metrics recorder is installed once, here");
        describe();
        collector
    })
}

/// The process's metrics: the serve loop flushes them after each invocation.
#[derive(Clone, Copy)]
pub struct Emitter {
    collector: &'static Collector,
}

impl Emitter {
    /// Install the process-wide recorder (once; later calls share it).
    pub fn install(namespace: &str) -> Emitter {
        Emitter {
            collector: collector(namespace),
        }
    }

    /// Write this invocation's documents to stdout in one write, so no log line lands inside
    /// one. Never fails the invocation: a lost metric is not worth a lost answer.
    pub fn flush(&self, invocation: &Invocation) {
        use std::io::Write;
        let out = documents(self.collector, invocation);
        if !out.is_empty() {
            let _ = std::io::stdout().lock().write_all(&out);
        }
    }
}

fn documents(collector: &Collector, invocation: &Invocation) -> Vec<u8> {
    if invocation.cold_start {
        cold_start(&invocation.function);
    }
    collector
        .set_property("aws_request_id", invocation.aws_request_id.as_str())
        .set_property("function", invocation.function.as_str())
        .set_property("cold_start", invocation.cold_start);
    match &invocation.xray_trace_id {
        Some(id) => collector.set_property("xray_trace_id", id.as_str()),
        None => collector.remove_property("xray_trace_id"),
    };
    let mut out = Vec::new();
    let _ = collector.flush(&mut out);
    LATENCY_VALUES.store(0, Ordering::Relaxed);
    out
}

/// For tests: the process's recorder, held by one test at a time. Metrics recorded by other
/// threads of the same test binary land here too, so keep tests that record metrics in a test
/// binary whose every test takes a `Capture`.
pub struct Capture {
    collector: &'static Collector,
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

impl Capture {
    /// Wait for the recorder, and drop what earlier tests left in it.
    pub fn start(namespace: &str) -> Capture {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let collector = collector(namespace);
        let _ = collector.flush(std::io::sink());
        Capture {
            collector,
            _one_at_a_time: guard,
        }
    }

    /// The EMF documents the serve loop would write now for `invocation`, one per line.
    pub fn flush(&self, invocation: &Invocation) -> String {
        String::from_utf8(documents(self.collector, invocation)).expect("EMF is JSON")
    }
}

/// Tell the recorder each metric's unit (EMF writes it beside the name).
fn describe() {
    for m in ALL {
        let unit = match m.unit {
            "Milliseconds" => Unit::Milliseconds,
            _ => Unit::Count,
        };
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, unit, ""),
            Kind::Gauge => metrics::describe_gauge!(m.name, unit, ""),
            Kind::Histogram => metrics::describe_histogram!(m.name, unit, ""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failure as the Plaid client reports one.
    struct Failure(Option<&'static str>);

    impl PlaidFailure for Failure {
        fn plaid_code(&self) -> Option<&str> {
            self.0
        }
        fn local_code(&self) -> &'static str {
            "TIMEOUT"
        }
    }

    #[test]
    fn plaid_error_codes_become_dimensions_only_in_plaids_shape() {
        let api = |code: &str| Failure(Some(code.to_owned().leak()));
        assert_eq!(
            plaid_error_class(&api("INVALID_API_KEYS")),
            "INVALID_API_KEYS"
        );
        for odd in [
            "",
            "user@example.org",
            "idv_52xR9LKo77r1Np",
            &"A".repeat(65),
        ] {
            assert_eq!(plaid_error_class(&api(odd)), "OTHER", "{odd:?}");
        }
        assert_eq!(plaid_error_class(&Failure(None)), "TIMEOUT");
    }

    #[test]
    fn every_metric_is_listed_once() {
        for (i, m) in ALL.iter().enumerate() {
            assert!(ALL[i + 1..].iter().all(|o| o.name != m.name), "{}", m.name);
        }
    }
}
