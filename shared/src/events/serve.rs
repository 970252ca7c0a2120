//! `publish-events` as a Lambda function: the stream's batches in, partial batch responses out.

use super::config::EventsConfig;
use super::publish::Publisher;
use crate::logging::Invocation;
use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::event::streams::DynamoDbEventResponse;

/// Cold start: configuration, the EventBridge client, the bus check; then serve.
pub async fn serve() -> Result<(), lambda_runtime::Error> {
    use tracing::Instrument;
    crate::logging::init();
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
