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

/// `level` for our own crates, at most [`DEPENDENCY_LEVEL_CAP`] for everything else.
pub fn filter(level: LevelFilter) -> Targets {
    OWN_TARGETS.iter().fold(
        Targets::new().with_default(level.min(DEPENDENCY_LEVEL_CAP)),
        |targets, own| targets.with_target(*own, level),
    )
}

/// Install the JSON subscriber on stdout. Safe to call twice (tests).
pub fn init() {
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_current_span(false)
                .with_span_list(false)
                .with_target(false)
                .with_ansi(false)
                .with_filter(filter(level())),
        )
        .try_init();
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
}
