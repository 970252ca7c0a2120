//! Settings every AWS SDK client of the bundle shares (the functions' clients via
//! `bootstrap::sdk_config`, and the test kit's), kept apart from any one service's adapter.

use aws_config::stalled_stream_protection::StalledStreamProtectionConfig;
use aws_config::timeout::TimeoutConfig;
use std::time::Duration;

/// Timeouts for every AWS client the functions build (pass to
/// `aws_config::defaults(..).timeout_config(sdk_timeouts())`). The SDK sets none by default, so a
/// stalled connection would hold a Lambda until its own timeout. DynamoDB answers in
/// milliseconds in-region; these bounds leave room for a cold TLS handshake and the SDK's
/// standard retries while keeping a request that cannot succeed well inside an API Gateway
/// timeout.
pub fn sdk_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .read_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
}

/// Stalled-stream protection off, for every AWS client the functions build (pass to
/// `aws_config::defaults(..).stalled_stream_protection(..)`). It could never act: it cuts a
/// transfer only after a 20-second grace period (aws-smithy-runtime-api 1.20), and
/// [`sdk_timeouts`] ends every attempt after 2 seconds; yet it wraps every request and response
/// body in a throughput monitor.
pub fn sdk_stalled_stream_protection() -> StalledStreamProtectionConfig {
    StalledStreamProtectionConfig::disabled()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_are_bounded() {
        let t = sdk_timeouts();
        assert!(
            t.operation_timeout()
                .is_some_and(|d| d <= Duration::from_secs(10))
        );
        assert!(t.operation_attempt_timeout().is_some());
        assert!(t.connect_timeout().is_some());
    }
}
