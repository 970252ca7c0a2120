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

/// The sender: the signing secret read at cold start, then the queue's batches.
async fn serve_sender(config: crate::outcome_webhook::Config) -> Result<(), lambda_runtime::Error> {
    use crate::outcome_webhook::handler::{Sender, is_sqs_event};
    use tracing::Instrument;
    let namespace = crate::config::namespace(std::env::var("STACK_NAME").ok().as_deref());
    let sdk = crate::bootstrap::sdk_config().await;
    let sender = Sender::new(config, &sdk).inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    sender.prefetch_secret().await;
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
                let answer = sender.handle(sqs).await;
                metrics.flush(&invocation);
                Ok::<_, lambda_runtime::Error>(answer)
            }
            .instrument(span)
        },
    ))
    .await
}

/// The publisher: configuration, the EventBridge client, the bus check; then the stream.
async fn serve_publisher() -> Result<(), lambda_runtime::Error> {
    use tracing::Instrument;
    let config = EventsConfig::from_env().inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let sdk = crate::bootstrap::sdk_config().await;
    let publisher = Publisher::new(aws_sdk_eventbridge::Client::new(&sdk), &config);
    // A failed init is retried by Lambda, and the stream keeps the records meanwhile.
    publisher.check_bus().await.inspect_err(|e| {
        tracing::error!(error = %e, "cold start failed");
    })?;
    let publisher: &'static Publisher = Box::leak(Box::new(publisher));
    let metrics = crate::emf::Emitter::install(&config.metrics_namespace);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: lambda_runtime::LambdaEvent<DynamoDbEvent>| {
            let invocation = Invocation::from_context(&event.context);
            let span = invocation.span();
            async move {
                let answer = handle(publisher, &event.payload).await;
                metrics.flush(&invocation);
                Ok::<_, lambda_runtime::Error>(answer)
            }
            .instrument(span)
        },
    ))
    .await
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
