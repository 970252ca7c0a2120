//! One stream batch to EventBridge: `PutEvents` in calls of 10 entries, failures answered as
//! partial batch failures.
//!
//! Order per session: records are handled in stream order (a session's records arrive in the
//! order its writes happened: one shard per key, and parallelization factor 1). A call carries
//! at most one change per session, so a session's later change is sent only after the call
//! with its earlier one came back; once one of a session's changes fails, its later records in
//! the batch are not sent and are reported failed too. So no change is published past a failed
//! earlier one. Lambda retries from the lowest failed sequence number, so a record after a
//! failure of *another* session may be published twice: at least once, deduplicated by
//! consumers on `event_id`.

use super::config::EventsConfig;
use super::detail::DETAIL_TYPE;
use super::stream::{Change, change_of, session_of};
use crate::plaid::types::PlaidEnvironment;
use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::primitives::DateTime as SdkDateTime;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use std::collections::{HashSet, VecDeque};

/// EventBridge's limit of entries per `PutEvents` call.
pub const MAX_ENTRIES_PER_CALL: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// `DescribeEventBus` failed: the bus does not exist, or the role may not see it.
    #[error("event bus {bus:?} is not usable: {reason}")]
    Bus { bus: String, reason: String },
}

/// The EventBridge side of `publish-events`. Build once per cold start.
#[derive(Debug, Clone)]
pub struct Publisher {
    client: Client,
    bus: String,
    source: String,
    environment: PlaidEnvironment,
}

/// What one batch came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Entries EventBridge accepted.
    pub published: u32,
    /// Records answered as failures (each retry counts again).
    pub failed: u32,
}

impl Publisher {
    pub fn new(client: Client, config: &EventsConfig) -> Self {
        Publisher {
            client,
            bus: config.bus.clone(),
            source: config.source.clone(),
            environment: config.environment,
        }
    }

    /// Fails unless the bus exists and this role can see it (cold start: a wrong
    /// `EVENT_BUS_NAME` must not drop events in silence).
    pub async fn check_bus(&self) -> Result<(), PublishError> {
        self.client
            .describe_event_bus()
            .name(&self.bus)
            .send()
            .await
            .map(drop)
            .map_err(|e| PublishError::Bus {
                bus: self.bus.clone(),
                reason: aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string(),
            })
    }

    /// Publish every status change of `event`; the answer lists the records to retry.
    pub async fn publish(&self, event: &DynamoDbEvent) -> (DynamoDbEventResponse, BatchReport) {
        // (record index, stream sequence number) of each failure, answered in stream order.
        let mut failed: Vec<(usize, String)> = Vec::new();
        let mut failed_sessions: HashSet<String> = HashSet::new();
        let mut pending: Vec<(usize, Change)> = Vec::new();
        for (i, record) in event.records.iter().enumerate() {
            match change_of(record, self.environment) {
                Ok(Some(change)) => pending.push((i, change)),
                Ok(None) => {}
                Err(e) => {
                    // A record that cannot be published goes back to the stream: it is retried
                    // (bounded) and then parked on the on-failure queue, where an alarm sees it.
                    tracing::error!(error = %e, record = i, "a stream record could not be turned into an event");
                    if let Some(session) = session_of(record) {
                        failed_sessions.insert(session);
                    }
                    match &record.change.sequence_number {
                        Some(n) => failed.push((i, n.clone())),
                        None => tracing::error!(
                            record = i,
                            "a record without a sequence number cannot be retried alone"
                        ),
                    }
                }
            }
        }
        let mut report = BatchReport::default();
        let mut queue: VecDeque<(usize, Change)> = pending.into();
        while !queue.is_empty() {
            // One call holds at most one change per session: a session's later change waits for
            // the next call, so it is never published past an earlier one that failed.
            let mut call: Vec<(usize, Change)> = Vec::with_capacity(MAX_ENTRIES_PER_CALL);
            let mut in_call: HashSet<String> = HashSet::new();
            while call.len() < MAX_ENTRIES_PER_CALL {
                let Some((_, next)) = queue.front() else {
                    break;
                };
                let session = next.detail.session_id.as_str();
                if in_call.contains(session) {
                    break;
                }
                let held_back = failed_sessions.contains(session);
                let session = session.to_owned();
                let Some((i, change)) = queue.pop_front() else {
                    break;
                };
                if held_back {
                    failed.push((i, change.sequence_number));
                } else {
                    in_call.insert(session);
                    call.push((i, change));
                }
            }
            if call.is_empty() {
                continue;
            }
            let accepted = self.put(&call).await;
            for ((i, change), ok) in call.into_iter().zip(accepted) {
                if ok {
                    report.published += 1;
                } else {
                    failed_sessions.insert(change.detail.session_id.as_str().to_owned());
                    failed.push((i, change.sequence_number));
                }
            }
        }
        failed.sort_by_key(|(i, _)| *i);
        report.failed = failed.len() as u32;
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = failed
            .into_iter()
            .map(|(_, n)| {
                let mut f = DynamoDbBatchItemFailure::default();
                f.item_identifier = Some(n);
                f
            })
            .collect();
        (response, report)
    }

    /// One `PutEvents` call; for each entry, whether EventBridge accepted it.
    async fn put(&self, call: &[(usize, Change)]) -> Vec<bool> {
        let mut entries = Vec::with_capacity(call.len());
        for (_, change) in call {
            entries.push(self.entry(change));
        }
        let result = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await;
        match result {
            Ok(out) => {
                let results = out.entries.unwrap_or_default();
                if results.len() != call.len() {
                    tracing::error!(
                        sent = call.len(),
                        answered = results.len(),
                        "PutEvents answered a different number of entries; retrying them all"
                    );
                    return vec![false; call.len()];
                }
                results
                    .iter()
                    .map(|r| match &r.error_code {
                        None => true,
                        Some(code) => {
                            // Codes and messages are EventBridge's, about the entry, never its detail.
                            tracing::warn!(
                                error_code = %code,
                                error_message = r.error_message.as_deref().unwrap_or(""),
                                "EventBridge refused an entry"
                            );
                            false
                        }
                    })
                    .collect()
            }
            Err(e) => {
                tracing::error!(
                    error = %aws_sdk_eventbridge::error::DisplayErrorContext(&e),
                    "PutEvents failed; the batch's entries will be retried"
                );
                vec![false; call.len()]
            }
        }
    }

    fn entry(&self, change: &Change) -> PutEventsRequestEntry {
        // The detail is plain strings and numbers: serialising cannot fail.
        let detail = serde_json::to_string(&change.detail).unwrap_or_default();
        let time = chrono::DateTime::parse_from_rfc3339(&change.detail.occurred_at)
            .ok()
            .map(|t| SdkDateTime::from_millis(t.timestamp_millis()));
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(&self.source)
            .detail_type(DETAIL_TYPE)
            .detail(detail)
            .set_time(time)
            .build()
    }
}
