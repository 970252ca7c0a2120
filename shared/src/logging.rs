//! JSON logs, one object per line, as CloudWatch Logs Insights and metric filters read them.

use tracing_subscriber::filter::LevelFilter;

/// The level named by `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's logging config) or `RUST_LOG`,
/// default `info`. A plain level, not an `EnvFilter` directive: per-target filtering would pull
/// a regex engine into every bootstrap for no use here.
fn level() -> LevelFilter {
    ["AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .iter()
        .find_map(|var| std::env::var(var).ok()?.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO)
}

/// Install the JSON subscriber. Safe to call twice (tests).
pub fn init() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_max_level(level())
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .try_init();
}
