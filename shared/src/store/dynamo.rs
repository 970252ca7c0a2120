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

// Placeholder until the adapter lands (helper "store"): lets the rest of the crate build.
#[allow(unused)]
impl super::SessionStore for DynamoStore {
    async fn get(
        &self,
        id: &crate::ids::IdvId,
    ) -> Result<Option<crate::session::SessionRecord>, super::StoreError> {
        todo!()
    }
    async fn latest_for(
        &self,
        user: &crate::ids::ClientUserId,
        template: &crate::ids::TemplateId,
    ) -> Result<Option<crate::session::SessionRecord>, super::StoreError> {
        todo!()
    }
    async fn list_for_user(
        &self,
        user: &crate::ids::ClientUserId,
        template: Option<&crate::ids::TemplateId>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<super::Page<crate::session::SessionRecord>, super::StoreError> {
        todo!()
    }
    async fn insert(
        &self,
        record: &crate::session::SessionRecord,
    ) -> Result<super::InsertOutcome, super::StoreError> {
        todo!()
    }
    async fn save_snapshot(
        &self,
        record: &crate::session::SessionRecord,
    ) -> Result<super::UpdateOutcome, super::StoreError> {
        todo!()
    }
    async fn open_sessions(
        &self,
        synced_before: chrono::DateTime<chrono::Utc>,
        limit: u32,
    ) -> Result<Vec<crate::session::SessionRecord>, super::StoreError> {
        todo!()
    }
    async fn mark_app_expired(
        &self,
        id: &crate::ids::IdvId,
        ttl: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<super::UpdateOutcome, super::StoreError> {
        todo!()
    }
    async fn claim_retry(
        &self,
        id: &crate::ids::IdvId,
        until: chrono::DateTime<chrono::Utc>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, super::StoreError> {
        todo!()
    }
}
