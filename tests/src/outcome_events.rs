//! The outcome events' local pieces (issue #20), in moto: an EventBridge bus with a rule that
//! sends every event to an SQS queue (a customer's rule, read back as the customer would), and
//! a reader of the sessions table's DynamoDB stream that hands records to `publish-events` in
//! process. (Attaching a moto Lambda trigger would clear moto's stream buffer, so the stream is
//! read with the SDK from `TRIM_HORIZON`, as Lambda's event source mapping reads it.)

use crate::localstack::LocalStackError;
use aws_config::SdkConfig;
use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use std::time::Duration;

fn aws_err(op: &'static str, e: impl std::error::Error) -> LocalStackError {
    LocalStackError::Aws {
        op,
        detail: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
    }
}

/// A bus whose rule delivers every event with `source` to `queue_url`.
#[derive(Debug, Clone)]
pub struct BusWithQueue {
    pub bus_name: String,
    pub bus_arn: String,
    pub queue_url: String,
}

/// Creates bus `name`, queue `name`, and rule `name` on the bus matching `source`, targeting
/// the queue (moto's PutEvents delivers to SQS targets, whole event JSON as the body).
pub async fn create_bus_with_queue(
    sdk: &SdkConfig,
    name: &str,
    source: &str,
) -> Result<BusWithQueue, LocalStackError> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let bus_arn = events
        .create_event_bus()
        .name(name)
        .send()
        .await
        .map_err(|e| aws_err("CreateEventBus", e))?
        .event_bus_arn
        .unwrap_or_default();
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| aws_err("CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| aws_err("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap_or_default();
    // The pattern a customer writes (README): this source and detail-type.
    let pattern = serde_json::json!({
        "source": [source],
        "detail-type": [shared::events::detail::DETAIL_TYPE],
    });
    events
        .put_rule()
        .name(name)
        .event_bus_name(name)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(|e| aws_err("PutRule", e))?;
    events
        .put_targets()
        .rule(name)
        .event_bus_name(name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(queue_arn)
                .build()
                .map_err(|e| aws_err("Target", e))?,
        )
        .send()
        .await
        .map_err(|e| aws_err("PutTargets", e))?;
    Ok(BusWithQueue {
        bus_name: name.to_owned(),
        bus_arn,
        queue_url,
    })
}

/// Every message waiting on the queue, as JSON (the EventBridge events), deleted once read.
pub async fn drain_queue(
    sdk: &SdkConfig,
    queue_url: &str,
) -> Result<Vec<serde_json::Value>, LocalStackError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .map_err(|e| aws_err("ReceiveMessage", e))?;
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(out);
        }
        for m in messages {
            let body = m.body.unwrap_or_default();
            out.push(serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)));
            if let Some(handle) = m.receipt_handle {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(|e| aws_err("DeleteMessage", e))?;
            }
        }
    }
}

/// Reads a table's stream (one shard in moto) from `TRIM_HORIZON`, batch by batch.
pub struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    iterator: Option<String>,
}

impl StreamReader {
    /// From the start of `table`'s latest stream.
    pub async fn open(sdk: &SdkConfig, table: &str) -> Result<StreamReader, LocalStackError> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk);
        let stream_arn = dynamo
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| aws_err("DescribeTable", e))?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| LocalStackError::Aws {
                op: "DescribeTable",
                detail: format!("table {table} has no stream"),
            })?;
        let client = aws_sdk_dynamodbstreams::Client::new(sdk);
        let shard = client
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await
            .map_err(|e| aws_err("DescribeStream", e))?
            .stream_description
            .and_then(|d| d.shards)
            .and_then(|s| s.into_iter().next())
            .and_then(|s| s.shard_id)
            .ok_or_else(|| LocalStackError::Aws {
                op: "DescribeStream",
                detail: "no shard".into(),
            })?;
        let iterator = client
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .map_err(|e| aws_err("GetShardIterator", e))?
            .shard_iterator;
        Ok(StreamReader { client, iterator })
    }

    /// The records written since the last call, in the shape Lambda hands to the function.
    pub async fn next_batch(&mut self) -> Result<DynamoDbEvent, LocalStackError> {
        let mut event = DynamoDbEvent::default();
        let Some(iterator) = self.iterator.take() else {
            return Ok(event);
        };
        let out = self
            .client
            .get_records()
            .shard_iterator(&iterator)
            .limit(1000)
            .send()
            .await
            .map_err(|e| aws_err("GetRecords", e))?;
        // moto hands out no next iterator when nothing is new: keep the old one then.
        self.iterator = out.next_shard_iterator.or(Some(iterator));
        event.records = out
            .records
            .unwrap_or_default()
            .into_iter()
            .map(lambda_record)
            .collect();
        Ok(event)
    }

    /// Everything in the stream now (polls until a read comes back empty).
    pub async fn read_all(&mut self) -> Result<DynamoDbEvent, LocalStackError> {
        let mut all = DynamoDbEvent::default();
        loop {
            let batch = self.next_batch().await?;
            if batch.records.is_empty() {
                return Ok(all);
            }
            all.records.extend(batch.records);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// An SDK stream record as Lambda delivers it (`aws_lambda_events`' type).
pub fn lambda_record(r: aws_sdk_dynamodbstreams::types::Record) -> EventRecord {
    let mut out = EventRecord::default();
    out.event_id = r.event_id.unwrap_or_default();
    out.event_name = r
        .event_name
        .map(|n| n.as_str().to_owned())
        .unwrap_or_default();
    out.event_source = r.event_source;
    out.event_version = r.event_version;
    out.aws_region = r.aws_region.unwrap_or_default();
    if let Some(d) = r.dynamodb {
        out.change.keys = d.keys.map(serde_dynamo::Item::from).unwrap_or_default();
        out.change.new_image = d
            .new_image
            .map(serde_dynamo::Item::from)
            .unwrap_or_default();
        out.change.old_image = d
            .old_image
            .map(serde_dynamo::Item::from)
            .unwrap_or_default();
        out.change.sequence_number = d.sequence_number;
        out.change.size_bytes = d.size_bytes.unwrap_or_default();
    }
    out
}

/// `make run`'s `publish-events`: polls the table's stream, hands each batch to the handler in
/// process (as Lambda's mapping would), and prints every event the rule's queue receives, one
/// line each, as it happens. Runs until killed.
pub async fn watch(
    sdk: &SdkConfig,
    table: &str,
    bus_name: &str,
    mut print: impl FnMut(&serde_json::Value),
) -> Result<(), LocalStackError> {
    use shared::events::config::EventsConfig;
    use shared::events::publish::Publisher;
    let source = shared::events::detail::DEFAULT_SOURCE;
    let bus = create_bus_with_queue(sdk, bus_name, source).await?;
    let config = EventsConfig::from_lookup(|k| match k {
        "EVENT_BUS_NAME" => Some(bus.bus_name.clone()),
        other => std::env::var(other).ok().filter(|v| !v.is_empty()),
    })
    .map_err(|e| LocalStackError::Aws {
        op: "EventsConfig",
        detail: e.to_string(),
    })?;
    let publisher = Publisher::new(aws_sdk_eventbridge::Client::new(sdk), &config);
    publisher
        .check_bus()
        .await
        .map_err(|e| LocalStackError::Aws {
            op: "DescribeEventBus",
            detail: e.to_string(),
        })?;
    let mut stream = StreamReader::open(sdk, table).await?;
    loop {
        let batch = stream.next_batch().await?;
        if !batch.records.is_empty() {
            let answer = shared::events::serve::handle(&publisher, &batch).await;
            if !answer.batch_item_failures.is_empty() {
                eprintln!(
                    "publish-events: {} record(s) failed; a deployed mapping would retry them",
                    answer.batch_item_failures.len()
                );
            }
            for event in drain_queue(sdk, &bus.queue_url).await? {
                print(&event);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
