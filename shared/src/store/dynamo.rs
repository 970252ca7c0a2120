//! The DynamoDB adapter of [`SessionStore`](super::SessionStore).
//! OWNER: helper "store" fills this in; the signatures are the contract.

#[derive(Clone)]
pub struct DynamoStore {
    _client: aws_sdk_dynamodb::Client,
    _table: String,
}

impl DynamoStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        DynamoStore {
            _client: client,
            _table: table.into(),
        }
    }
}
