//! `/identity_verification/retry`.

use super::RequestUser;
use crate::ids::{ClientUserId, TemplateId};
use serde::{Deserialize, Serialize};

/// `strategy` of `IdentityVerificationRetryRequest`. Closed on purpose: we only ever send it,
/// and a value outside Plaid's four would be rejected anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryStrategy {
    Reset,
    Incomplete,
    Infer,
    Custom,
}

/// `IdentityVerificationRetryRequestStepsObject`: all four booleans are required with `custom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrySteps {
    pub verify_sms: bool,
    pub kyc_check: bool,
    pub documentary_verification: bool,
    pub selfie_check: bool,
}

/// `IdentityVerificationRetryRequest`. The spec says `steps` "must be provided when the retry
/// strategy is `custom` and must be omitted otherwise": serialisation drops `steps` for any
/// other strategy, and the client refuses `custom` without `steps` before sending.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryRequest {
    pub client_user_id: ClientUserId,
    pub template_id: TemplateId,
    pub strategy: RetryStrategy,
    pub steps: Option<RetrySteps>,
    pub user: Option<RequestUser>,
    pub is_shareable: Option<bool>,
}

impl Serialize for RetryRequest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire<'a> {
            client_user_id: &'a ClientUserId,
            template_id: &'a TemplateId,
            strategy: RetryStrategy,
            #[serde(skip_serializing_if = "Option::is_none")]
            steps: Option<&'a RetrySteps>,
            #[serde(skip_serializing_if = "Option::is_none")]
            user: Option<&'a RequestUser>,
            #[serde(skip_serializing_if = "Option::is_none")]
            is_shareable: Option<bool>,
        }
        Wire {
            client_user_id: &self.client_user_id,
            template_id: &self.template_id,
            strategy: self.strategy,
            steps: self
                .steps
                .as_ref()
                .filter(|_| self.strategy == RetryStrategy::Custom),
            user: self.user.as_ref(),
            is_shareable: self.is_shareable,
        }
        .serialize(s)
    }
}
