//! JSON logs, one object per line, as CloudWatch Logs Insights and metric filters read them.
//!
//! **No PII at any level.** The template offers `LogLevel` values down to `TRACE`, and an
//! operator debugging an incident will pick them. At `TRACE` the Lambda runtime
//! (`lambda_runtime`) logs every raw event it receives: the caller's bearer token and any
//! identity data in the body (name, e-mail, date of birth, SSN). The AWS SDK, hyper and rustls
//! log request details at `DEBUG`/`TRACE` too. So the level applies in full only to our own
//! crates (`shared` and the five functions), whose every log line is written to carry ids and
//! outcomes, never personal data or secrets; every dependency's target is capped at `INFO`,
//! whatever the level. We keep the verbose levels rather than drop `TRACE` and `DEBUG` from the
//! template: our own debug lines (one per Plaid attempt with its latency and `request_id`, the
//! TLS roots loaded) are what an operator needs, and capping by target keeps a future
//! dependency's verbose logging out without anyone having to remember which level is safe.
//! `tests/tests/it/threats.rs` runs the real create-session binary at the most verbose level the
//! template offers and checks every line.
//!
//! **Every line names its invocation.** The serve loop (`bootstrap::serve_with`,
//! `serve_reconcile`) runs each invocation inside [`Invocation::span`], and the JSON formatter
//! writes the current span's fields on every line as `"span": {"aws_request_id", "xray_trace_id",
//! "function", "cold_start", "name": "invocation"}`. Ids and a flag only: nothing the caller sent.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Targets that may log below `INFO`: the module paths of our own crates.
pub const OWN_TARGETS: [&str; 6] = [
    "shared",
    "create_session",
    "link_token",
    "get_session",
    "webhook",
    "reconcile",
];

/// The target of the audit trail (reviewer reads): always written at `INFO`, whatever level
/// `AWS_LAMBDA_LOG_LEVEL` / `RUST_LOG` name, `WARN`, `ERROR` and `OFF` included. An operator who
/// turns the logs down to save cost must not lose the record of who read which session.
pub const AUDIT_TARGET: &str = "audit";

/// The most verbose level any other crate may log at.
pub const DEPENDENCY_LEVEL_CAP: LevelFilter = LevelFilter::INFO;

/// The level named by `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's logging config) or `RUST_LOG`,
/// default `info`. A plain level, not an `EnvFilter` directive: per-target directives would pull
/// a regex engine into every bootstrap and would let a variable lift the dependency cap.
fn level() -> LevelFilter {
    ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok()?.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// `level` for our own crates, at most [`DEPENDENCY_LEVEL_CAP`] for everything else, and the
/// audit trail ([`AUDIT_TARGET`]) at `INFO` always.
pub fn filter(level: LevelFilter) -> Targets {
    OWN_TARGETS
        .iter()
        .fold(
            Targets::new().with_default(level.min(DEPENDENCY_LEVEL_CAP)),
            |targets, own| targets.with_target(*own, level),
        )
        .with_target(AUDIT_TARGET, LevelFilter::INFO)
}

/// Install the JSON subscriber on stdout. Safe to call twice (tests).
pub fn init() {
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_target(false)
                .with_ansi(false)
                .with_filter(filter(level())),
        )
        .try_init();
}

/// Which invocation a log line or metric belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The Lambda request id (the one error bodies carry as `request_id`).
    pub aws_request_id: String,
    /// The X-Ray trace header's value, when Lambda sent one (`Lambda-Runtime-Trace-Id`, also
    /// in `_X_AMZN_TRACE_ID`); with `TracingMode=PassThrough` only when a caller did.
    pub xray_trace_id: Option<String>,
    /// The Lambda function's name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub function: String,
    /// The first invocation of this execution environment.
    pub cold_start: bool,
}

/// Set on the first invocation the process serves.
static SERVED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

impl Invocation {
    /// From the runtime's context; the first call in a process is the cold start.
    pub fn from_context(ctx: &lambda_runtime::Context) -> Invocation {
        Invocation {
            aws_request_id: ctx.request_id.clone(),
            xray_trace_id: ctx.xray_trace_id.clone().filter(|t| !t.is_empty()),
            function: ctx.env_config.function_name.clone(),
            cold_start: !SERVED.swap(true, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The span every line of the invocation is written in. At `ERROR` level so that it is on
    /// whatever `LogLevel` is chosen: a span's level only decides whether it exists, and a `WARN`
    /// line needs its request as much as an `INFO` one.
    pub fn span(&self) -> tracing::Span {
        tracing::error_span!(
            "invocation",
            aws_request_id = %self.aws_request_id,
            xray_trace_id = self.xray_trace_id.as_deref().unwrap_or(""),
            function = %self.function,
            cold_start = self.cold_start,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn dependencies_are_capped_at_info_whatever_the_level() {
        let trace = filter(LevelFilter::TRACE);
        for dep in [
            "lambda_runtime::layers::api_response",
            "lambda_http",
            "aws_smithy_runtime::client::orchestrator",
            "hyper_util::client::legacy::pool",
            "reqwest::connect",
            "rustls::client::hs",
        ] {
            assert!(!trace.would_enable(dep, &Level::TRACE), "{dep} at TRACE");
            assert!(!trace.would_enable(dep, &Level::DEBUG), "{dep} at DEBUG");
            assert!(trace.would_enable(dep, &Level::INFO), "{dep} at INFO");
        }
        for own in [
            "shared::plaid::client",
            "shared",
            "create_session",
            "webhook",
        ] {
            assert!(trace.would_enable(own, &Level::TRACE), "{own}");
        }
        // A quieter level is quieter for everyone.
        let warn = filter(LevelFilter::WARN);
        assert!(!warn.would_enable("lambda_runtime", &Level::INFO));
        assert!(!warn.would_enable("shared::handlers", &Level::INFO));
        assert!(warn.would_enable("shared::handlers", &Level::WARN));
    }

    #[test]
    fn the_audit_trail_is_on_at_every_level() {
        for level in [
            LevelFilter::OFF,
            LevelFilter::ERROR,
            LevelFilter::WARN,
            LevelFilter::INFO,
            LevelFilter::TRACE,
        ] {
            let f = filter(level);
            assert!(f.would_enable(AUDIT_TARGET, &Level::INFO), "{level}");
            // Only the audit line: the rest of our INFO lines follow the level.
            assert_eq!(
                f.would_enable("shared::flows::read", &Level::INFO),
                level >= LevelFilter::INFO,
                "{level}"
            );
        }
    }
}
