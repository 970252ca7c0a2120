//! `publish-events` as a Lambda function. One binary, two deployed functions, told apart at cold
//! start by their environment: with `OUTCOME_WEBHOOK_URL` set it is the signed-webhook sender
//! (SQS batches in, `shared::outcome_webhook`), otherwise the publisher (the table's stream in,
//! EventBridge out). Each refuses the other's events, so a mapping wired to the wrong function
//! fails loudly instead of acknowledging records it did not handle.

use super::config::EventsConfig;
use super::publish::Publisher;
use crate::logging::Invocation;
use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;

/// Cold start: which of the two functions this is, then that one's set-up; then serve.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    crate::logging::init();
    match crate::outcome_webhook::Config::from_env() {
        Ok(Some(config)) => serve_sender(config).await,
        Ok(None) => serve_publisher().await,
        Err(e) => {
            tracing::error!(error = %e, "cold start failed");
            Err(e.into())
        }
    }
}

/// The sender: its configuration and clients, then the queue's batches. The signing secret is
/// read by the first message (see [`Sender`]), not before the first `/next`.
async fn serve_sender(config: crate::outcome_webhook::Config) -> Result<(), lambda_runtime::Error> {
    use crate::outcome_webhook::handler::{Sender, is_sqs_event};
    use tracing::Instrument;
    let namespace = crate::config::namespace(std::env::var("STACK_NAME").ok().as_deref());
    let sdk = crate::bootstrap::sdk_config().await;
    let sender = Sender::new(config, &sdk).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let sender: &'static Sender = Box::leak(Box::new(sender));
    let metrics = crate::emf::Emitter::install(&namespace);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
            let invocation = Invocation::from_context(&event.context);
            let span = invocation.span();
            async move {
                if !is_sqs_event(&event.payload) {
                    return Err(lambda_runtime::Error::from(
                        "the outcome webhook sender takes only SQS events",
                    ));
                }
                let sqs = serde_json::from_value(event.payload)?;
                // Boxed: the batch's future (the SDK's, nested per message) is deeper than
                // rustc's layout query allows inside the runtime's own future; one allocation a
                // batch.
                let answer = Box::pin(sender.handle(sqs)).await;
                metrics.flush(&invocation);
                Ok::<_, lambda_runtime::Error>(answer)
            }
            .instrument(span)
        },
    ))
    .await
}

/// The publisher: configuration and the EventBridge client; then the stream. The bus is checked
/// with the first batch ([`handle_checked`]), not before the first `/next`.
async fn serve_publisher() -> Result<(), lambda_runtime::Error> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tracing::Instrument;
    let config = EventsConfig::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let sdk = crate::bootstrap::sdk_config().await;
    let publisher = Publisher::new(aws_sdk_eventbridge::Client::new(&sdk), &config);
    let publisher: &'static Publisher = Box::leak(Box::new(publisher));
    let metrics = crate::emf::Emitter::install(&config.metrics_namespace);
    static BUS_CHECKED: AtomicBool = AtomicBool::new(false);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<DynamoDbEvent>| {
            let invocation = Invocation::from_context(&event.context);
            let span = invocation.span();
            async move {
                let answer = if BUS_CHECKED.load(Ordering::Relaxed) {
                    Ok(handle(publisher, &event.payload).await)
                } else {
                    let answer = handle_checked(publisher, &event.payload).await;
                    BUS_CHECKED.store(answer.is_ok(), Ordering::Relaxed);
                    answer
                };
                // Flushed either way: a failed check's batch still counted what it published.
                metrics.flush(&invocation);
                answer.map_err(lambda_runtime::Error::from)
            }
            .instrument(span)
        },
    ))
    .await
}

/// The first batch of a process: [`handle`], with the bus checked (`DescribeEventBus`) at the
/// same time as the batch's first `PutEvents`, so that a wrong `EVENT_BUS_NAME` cannot drop
/// events in silence (EventBridge has been seen to accept entries for a bus that does not exist),
/// and the check costs the cold start no round trip of its own (it was one before the first
/// `/next`: most of this function's init). When the check fails the whole batch fails: Lambda
/// retries it (bisecting, bounded, then the on-failure queue and its alarm), and the next batch
/// checks again. Entries the batch did publish before the answer may then be published twice,
/// which at-least-once allows (consumers deduplicate on `event_id`).
pub async fn handle_checked(
    publisher: &Publisher,
    event: &DynamoDbEvent,
) -> Result<DynamoDbEventResponse, super::publish::PublishError> {
    let (check, answer) = tokio::join!(publisher.check_bus(), handle(publisher, event));
    check.inspect_err(|e| {
        tracing::error!(error = %e, "the event bus check failed; the batch is failed whole");
    })?;
    Ok(answer)
}

/// One batch: publish, count, answer. Tests call this with records read from moto's stream.
pub async fn handle(publisher: &Publisher, event: &DynamoDbEvent) -> DynamoDbEventResponse {
    let (response, report) = publisher.publish(event).await;
    crate::emf::events(report.published, report.failed);
    tracing::info!(
        records = event.records.len(),
        published = report.published,
        failed = report.failed,
        "stream batch done"
    );
    response
}
