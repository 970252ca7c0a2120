//! The IDV webhooks' bodies.

use crate::ids::IdvId;
use serde::{Deserialize, Serialize};

/// `webhook_code` of IDV webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WebhookCode {
    StatusUpdated,
    StepUpdated,
    Retried,
    #[serde(other)]
    Unknown,
}

/// `WebhookEnvironmentValues`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlaidEnvironment {
    Sandbox,
    Production,
    #[serde(other)]
    Unknown,
}

impl PlaidEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            PlaidEnvironment::Sandbox => "sandbox",
            PlaidEnvironment::Production => "production",
            PlaidEnvironment::Unknown => "unknown",
        }
    }
}

/// The envelope every Plaid webhook shares; parsed first, after verification, to decide whether
/// the webhook is ours.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WebhookEnvelope {
    pub webhook_type: String,
    pub webhook_code: String,
    #[serde(default)]
    pub environment: Option<PlaidEnvironment>,
}

/// `IdentityVerificationStatusUpdatedWebhook`, `…StepUpdatedWebhook`, `…RetriedWebhook`: the
/// same four fields. No status and no user: the session must be re-read with `/get`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct IdvWebhook {
    pub webhook_type: String,
    pub webhook_code: WebhookCode,
    pub identity_verification_id: IdvId,
    pub environment: PlaidEnvironment,
}
