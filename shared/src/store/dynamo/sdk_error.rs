//! Classifying AWS SDK errors into [`StoreError`]: throttling, unavailability, and codes only
//! (never messages, which can quote attribute values).

use crate::store::StoreError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// Throttling error codes DynamoDB uses; the SDK retries them itself first.
const THROTTLING_CODES: [&str; 3] = [
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
];

/// An error the service returned (after the SDK's own retries). `ValidationException` and
/// friends are not modelled by the SDK, so the code is read through `ProvideErrorMetadata`.
pub(super) fn service_error(op: &'static str, err: &impl ProvideErrorMetadata) -> StoreError {
    match err.code() {
        Some(code) if THROTTLING_CODES.contains(&code) => StoreError::Throttled,
        // The code only: DynamoDB's messages can quote attribute values.
        Some(code) => StoreError::Unavailable(format!("{op}: DynamoDB error {}", clean(code))),
        None => StoreError::Unavailable(format!("{op}: DynamoDB error without a code")),
    }
}

pub(super) fn sdk_error<E, R>(op: &'static str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(e) => service_error(op, e.err()),
        SdkError::TimeoutError(_) => StoreError::Unavailable(format!("{op}: timed out")),
        SdkError::DispatchFailure(d) => {
            let why = if d.is_timeout() {
                "timed out"
            } else if d.is_io() {
                "could not connect"
            } else {
                "request not sent"
            };
            StoreError::Unavailable(format!("{op}: {why}"))
        }
        SdkError::ResponseError(_) => StoreError::Unavailable(format!("{op}: unreadable response")),
        SdkError::ConstructionFailure(_) => {
            StoreError::Unavailable(format!("{op}: request could not be built"))
        }
        _ => StoreError::Unavailable(format!("{op}: request failed")),
    }
}

/// Error codes come from the wire; keep them printable and short before they reach a log.
fn clean(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '#' | ':' | '_'))
        .take(64)
        .collect()
}
