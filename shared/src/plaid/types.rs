//! Plaid's request and response shapes for the IDV endpoints we call, after
//! `../shared/reference/plaid-idv-openapi.yml` (API version 2020-09-14).
//!
//! Rules that keep us compatible with how Plaid evolves its API: every enum is open
//! (`#[serde(other)] Unknown`), unknown fields are ignored, nullable fields are `Option`, and
//! unset optional request fields are omitted on the wire (Plaid rejects placeholder values).
//! The heavy per-step result objects churn often, so they stay `serde_json::Value`.

use crate::ids::{ClientUserId, IdvId, TemplateId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `IdentityVerificationStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdvStatus {
    Active,
    Success,
    Failed,
    Expired,
    Canceled,
    PendingReview,
    /// A value Plaid added after this code was written.
    #[serde(other)]
    Unknown,
}

impl IdvStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdvStatus::Active => "active",
            IdvStatus::Success => "success",
            IdvStatus::Failed => "failed",
            IdvStatus::Expired => "expired",
            IdvStatus::Canceled => "canceled",
            IdvStatus::PendingReview => "pending_review",
            IdvStatus::Unknown => "unknown",
        }
    }

    /// Final: Plaid will not move this session any further (a retry makes a new session).
    /// `pending_review` is not final: a reviewer still decides. An unknown status is treated as
    /// not final, so we keep re-reading it rather than freezing a value we do not understand.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            IdvStatus::Success | IdvStatus::Failed | IdvStatus::Expired | IdvStatus::Canceled
        )
    }
}

/// `IdentityVerificationStepStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Success,
    Active,
    Failed,
    WaitingForPrerequisite,
    NotApplicable,
    Skipped,
    Expired,
    Canceled,
    PendingReview,
    ManuallyApproved,
    ManuallyRejected,
    #[serde(other)]
    Unknown,
}

/// `IdentityVerificationStepSummary`: all seven keys are required in the spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Steps {
    pub accept_tos: StepStatus,
    pub verify_sms: StepStatus,
    pub kyc_check: StepStatus,
    pub documentary_verification: StepStatus,
    pub selfie_check: StepStatus,
    pub watchlist_screening: StepStatus,
    pub risk_check: StepStatus,
}

/// `IdentityVerificationTemplateReference`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub id: TemplateId,
    pub version: i64,
}

/// `IdentityVerification`: the object returned by create, get, retry and each list element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityVerification {
    pub id: IdvId,
    pub client_user_id: ClientUserId,
    #[serde(default)]
    pub user_id: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub previous_attempt_id: Option<IdvId>,
    #[serde(default)]
    pub shareable_url: Option<String>,
    pub template: TemplateRef,
    /// Identity data (PII): fetched live for `?view=full`, never stored or logged.
    #[serde(default)]
    pub user: Option<serde_json::Value>,
    pub status: IdvStatus,
    pub steps: Steps,
    #[serde(default)]
    pub documentary_verification: Option<serde_json::Value>,
    #[serde(default)]
    pub selfie_check: Option<serde_json::Value>,
    #[serde(default)]
    pub kyc_check: Option<serde_json::Value>,
    #[serde(default)]
    pub risk_check: Option<serde_json::Value>,
    #[serde(default)]
    pub verify_sms: Option<serde_json::Value>,
    #[serde(default)]
    pub watchlist_screening_id: Option<String>,
    #[serde(default)]
    pub beacon_user_id: Option<String>,
    #[serde(default)]
    pub redacted_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub latest_scored_protect_event: Option<serde_json::Value>,
    /// Present on create/get/retry responses, absent inside `/list` items.
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `IdentityVerificationRequestUserName`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserName {
    pub given_name: String,
    pub family_name: String,
}

/// `IdentityVerificationUserAddress` as sent in requests: keys a country does not accept are
/// omitted, never sent as `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAddress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    pub country: String,
}

/// `IDNumberType`: open, like every Plaid enum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct IdNumberType(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdNumber {
    pub value: String,
    #[serde(rename = "type")]
    pub kind: IdNumberType,
}

/// `IdentityVerificationRequestUser` / `IdentityVerificationCreateRequestUser`: data we already
/// hold about the user, to skip screens in Link. Every sub-object is all-or-nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestUser {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<UserName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<UserAddress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_number: Option<IdNumber>,
}

impl RequestUser {
    pub fn is_empty(&self) -> bool {
        *self == RequestUser::default()
    }
}

/// `IdentityVerificationCreateRequest` (credentials travel as headers, not in the body).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreateRequest {
    pub client_user_id: ClientUserId,
    pub template_id: TemplateId,
    pub gave_consent: bool,
    pub is_shareable: bool,
    pub is_idempotent: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<RequestUser>,
}

/// `IdentityVerificationGetRequest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GetRequest {
    pub identity_verification_id: IdvId,
}

/// `IdentityVerificationListRequest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListRequest {
    pub template_id: TemplateId,
    pub client_user_id: ClientUserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `IdentityVerificationListResponse`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ListResponse {
    pub identity_verifications: Vec<IdentityVerification>,
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// `strategy` of `IdentityVerificationRetryRequest`.
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

/// `IdentityVerificationRetryRequest`. `steps` is sent with `custom` only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryRequest {
    pub client_user_id: ClientUserId,
    pub template_id: TemplateId,
    pub strategy: RetryStrategy,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<RetrySteps>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<RequestUser>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_shareable: Option<bool>,
}

/// `LinkTokenCreateRequestUser` (only the parts IDV uses).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkTokenUser {
    pub client_user_id: ClientUserId,
}

/// `LinkTokenCreateRequestIdentityVerification`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkTokenIdentityVerification {
    pub template_id: TemplateId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gave_consent: Option<bool>,
}

/// `LinkTokenCreateRequest` for IDV: `products` is exactly `["identity_verification"]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinkTokenCreateRequest {
    pub client_name: String,
    pub language: String,
    pub country_codes: Vec<String>,
    pub user: LinkTokenUser,
    pub products: Vec<String>,
    pub identity_verification: LinkTokenIdentityVerification,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub android_package_name: Option<String>,
}

/// `LinkTokenCreateResponse`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct LinkTokenCreateResponse {
    pub link_token: String,
    pub expiration: DateTime<Utc>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub hosted_link_url: Option<String>,
}

/// `WebhookVerificationKeyGetRequest`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookVerificationKeyGetRequest {
    pub key_id: String,
}

/// `JWKPublicKey`: an EC P-256 public key; `x`/`y` are unpadded base64url coordinates and
/// `created_at`/`expired_at` Unix seconds (`expired_at` null while the key is current).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct JwkPublicKey {
    pub alg: String,
    pub kid: String,
    pub kty: String,
    pub crv: String,
    pub x: String,
    pub y: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub created_at: i64,
    #[serde(default)]
    pub expired_at: Option<i64>,
}

/// `WebhookVerificationKeyGetResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct WebhookVerificationKeyGetResponse {
    pub key: JwkPublicKey,
    #[serde(default)]
    pub request_id: Option<String>,
}

/// Plaid's `error_type`, open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ErrorType(pub String);

/// `PlaidError`: the body of every non-2xx response. Only the fields code may branch on and the
/// `request_id` support asks for; `error_message` is for developers and may change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaidErrorBody {
    pub error_type: ErrorType,
    pub error_code: String,
    #[serde(default)]
    pub error_message: String,
    #[serde(default)]
    pub display_message: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub error_code_reason: Option<String>,
    #[serde(default)]
    pub documentation_url: Option<String>,
    #[serde(default)]
    pub suggested_action: Option<String>,
}

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
