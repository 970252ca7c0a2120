//! The bench's DynamoDB stand-in: records moto's answers through the real SDK, then replays
//! them without asking moto, and refuses what it never recorded.

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::AttributeValue;
use testkit::dynamo_standin::DynamoStandIn;
use testkit::localstack;

#[tokio::test]
async fn replays_recorded_answers_and_refuses_the_rest() {
    let (moto, table) = localstack::fresh_table("standin").await;
    let item = |status: &str| {
        [
            ("id", AttributeValue::S("idv_standin".into())),
            ("status", AttributeValue::S(status.into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect::<std::collections::HashMap<_, _>>()
    };
    moto.put_item()
        .table_name(&table)
        .set_item(Some(item("active")))
        .send()
        .await
        .unwrap();

    let stand_in = DynamoStandIn::start(&localstack::dynamodb_endpoint().unwrap())
        .await
        .unwrap();
    let conf = aws_sdk_dynamodb::config::Builder::from(&localstack::aws_config().await)
        .endpoint_url(stand_in.url())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let get = || {
        client
            .get_item()
            .table_name(&table)
            .key("id", AttributeValue::S("idv_standin".into()))
            .consistent_read(true)
            .send()
    };
    let recorded = get().await.unwrap().item.unwrap();
    assert_eq!(recorded, item("active"));
    assert_eq!(stand_in.recorded(), ["DynamoDB_20120810.GetItem"]);

    // Once replaying, moto's later state is not seen: the answer is the recording.
    moto.put_item()
        .table_name(&table)
        .set_item(Some(item("success")))
        .send()
        .await
        .unwrap();
    stand_in.replay();
    for _ in 0..3 {
        assert_eq!(get().await.unwrap().item.unwrap(), item("active"));
    }
    assert_eq!(stand_in.replayed(), 3);

    let err = client
        .delete_item()
        .table_name(&table)
        .key("id", AttributeValue::S("idv_standin".into()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(stand_in.unrecorded(), 1);
    // The refused delete never reached moto.
    let stored = moto
        .get_item()
        .table_name(&table)
        .key("id", AttributeValue::S("idv_standin".into()))
        .send()
        .await
        .unwrap()
        .item;
    assert_eq!(stored, Some(item("success")));
}
