//! Retry claims and the sparse `retry_claims` index that lets reconcile find the ones whose
//! outcome was never recorded (see the `store` module docs for the choice and its cost).
//!
//! The claim writes `retry_claim_until` and the marker `retry_claimed` in one conditional
//! update; a release removes both, a settle only the marker. Both are conditioned on the claim
//! being the caller's own (`retry_claim_until` as taken), so a holder whose claim lapsed and was
//! taken by another start never touches the new holder's claim.

use super::DynamoStore;
use super::sdk_error::sdk_error;
use crate::ids::IdvId;
use crate::store::item::{self, attr};
use crate::store::{LapsedClaim, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

pub const INDEX_RETRY_CLAIMS: &str = "retry_claims";

impl DynamoStore {
    /// See [`SessionStore::claim_retry`](crate::store::SessionStore::claim_retry).
    pub(super) async fn take_retry_claim(
        &self,
        id: &IdvId,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // Free again once the previous claim has run out; the marker puts the item in the
        // `retry_claims` index.
        self.claim(
            id,
            attr::RETRY_CLAIM_UNTIL,
            until,
            "<",
            now,
            Some((attr::RETRY_CLAIMED, attr::RETRY_CLAIMED_VALUE)),
        )
        .await
    }

    /// Remove the caller's own claim: the whole claim (`release`), or only its index marker.
    pub(super) async fn end_retry_claim(
        &self,
        id: &IdvId,
        until: DateTime<Utc>,
        release: bool,
    ) -> Result<(), StoreError> {
        let update = if release {
            "REMOVE #rc, #rm"
        } else {
            "REMOVE #rm"
        };
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::key(id)))
            .update_expression(update)
            .condition_expression("#rc = :until")
            .expression_attribute_names("#rc", attr::RETRY_CLAIM_UNTIL)
            .expression_attribute_names("#rm", attr::RETRY_CLAIMED)
            .expression_attribute_values(":until", item::timestamp_value(until)?);
        // Rejected: the claim lapsed and another start holds it now; leave theirs alone.
        self.conditional_update(req).await.map(drop)
    }

    /// See [`SessionStore::lapsed_retry_claims`](crate::store::SessionStore::lapsed_retry_claims).
    pub(super) async fn lapsed_claims(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<LapsedClaim>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(INDEX_RETRY_CLAIMS)
            .key_condition_expression("#rm = :marker AND #rc < :before")
            .expression_attribute_names("#rm", attr::RETRY_CLAIMED)
            .expression_attribute_names("#rc", attr::RETRY_CLAIM_UNTIL)
            .expression_attribute_values(
                ":marker",
                AttributeValue::S(attr::RETRY_CLAIMED_VALUE.into()),
            )
            .expression_attribute_values(":before", item::timestamp_value(before)?)
            .scan_index_forward(true)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let mut claims = Vec::new();
        for raw in out.items.unwrap_or_default() {
            let id = item::string_attr(&raw, attr::ID).map(str::to_owned);
            let until = item::string_attr(&raw, attr::RETRY_CLAIM_UNTIL)
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc));
            match (until, item::decode(raw)) {
                (Some(until), Ok(record)) => claims.push(LapsedClaim { record, until }),
                // One bad item must not keep reconcile from the others; reported by id only.
                (_, Err(e)) => tracing::error!(
                    idv_id = id.as_deref().unwrap_or("<none>"),
                    error = %e,
                    "skipping a retry claim whose session does not decode"
                ),
                (None, Ok(_)) => tracing::error!(
                    idv_id = id.as_deref().unwrap_or("<none>"),
                    "skipping a retry claim without a readable retry_claim_until"
                ),
            }
        }
        Ok(claims)
    }
}
