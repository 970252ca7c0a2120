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
/// `Debug` leaves out the personal data (`user`, the step details) and the `shareable_url`,
/// whose `key` opens the user's session.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
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
    /// The one key the spec does not require.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_scored_protect_event: Option<serde_json::Value>,
    /// Present on create/get/retry responses, absent inside `/list` items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl std::fmt::Debug for IdentityVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let present = |v: &Option<serde_json::Value>| v.as_ref().map(|_| REDACTED);
        f.debug_struct("IdentityVerification")
            .field("id", &self.id)
            .field("client_user_id", &self.client_user_id)
            .field("user_id", &self.user_id)
            .field("created_at", &self.created_at)
            .field("completed_at", &self.completed_at)
            .field("previous_attempt_id", &self.previous_attempt_id)
            .field(
                "shareable_url",
                &self.shareable_url.as_ref().map(|_| REDACTED),
            )
            .field("template", &self.template)
            .field("user", &present(&self.user))
            .field("status", &self.status)
            .field("steps", &self.steps)
            .field(
                "documentary_verification",
                &present(&self.documentary_verification),
            )
            .field("selfie_check", &present(&self.selfie_check))
            .field("kyc_check", &present(&self.kyc_check))
            .field("risk_check", &present(&self.risk_check))
            .field("verify_sms", &present(&self.verify_sms))
            .field("watchlist_screening_id", &self.watchlist_screening_id)
            .field("beacon_user_id", &self.beacon_user_id)
            .field("redacted_at", &self.redacted_at)
            .field(
                "latest_scored_protect_event",
                &present(&self.latest_scored_protect_event),
            )
            .field("request_id", &self.request_id)
            .finish()
    }
}

impl IdentityVerification {
    /// `user` as typed data (`IdentityVerificationUserData`). PII: never log or store it.
    /// `None` when Plaid sent no `user` or one this code cannot read; the raw value stays in
    /// `user` either way.
    pub fn user_data(&self) -> Option<UserData> {
        self.user
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

/// `IdentityVerificationUserData`: what the user entered or we prefilled. Every key is
/// nullable; `address` uses `IdentityVerificationUserAddress`, whose parts may be null
/// depending on the country (no region in the UK, no postal code in Hong Kong).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserData {
    #[serde(default)]
    pub phone_number: Option<String>,
    #[serde(default)]
    pub date_of_birth: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub email_address: Option<String>,
    #[serde(default)]
    pub name: Option<UserName>,
    #[serde(default)]
    pub address: Option<UserAddress>,
    #[serde(default)]
    pub id_number: Option<IdNumber>,
}

impl std::fmt::Debug for UserData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserData")
            .field(
                "phone_number",
                &self.phone_number.as_ref().map(|_| REDACTED),
            )
            .field(
                "date_of_birth",
                &self.date_of_birth.as_ref().map(|_| REDACTED),
            )
            .field("ip_address", &self.ip_address.as_ref().map(|_| REDACTED))
            .field(
                "email_address",
                &self.email_address.as_ref().map(|_| REDACTED),
            )
            .field("name", &self.name.as_ref().map(|_| REDACTED))
            .field("address", &self.address.as_ref().map(|_| REDACTED))
            .field("id_number", &self.id_number.as_ref().map(|_| REDACTED))
            .finish()
    }
}

/// What `Debug` prints in place of personal data.
const REDACTED: &str = "[redacted]";

/// `IdentityVerificationRequestUserName`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserName {
    pub given_name: String,
    pub family_name: String,
}

/// `UserAddress` (requests) and `IdentityVerificationUserAddress` (responses). In requests the
/// keys a country does not accept are omitted, never sent as `null`; in responses any part but
/// `country` may be `null`.
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
/// hold about the user, to skip screens in Link. Every sub-object is all-or-nothing. `Debug`
/// shows only which keys are set: the values are PII.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

impl std::fmt::Debug for RequestUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestUser")
            .field(
                "email_address",
                &self.email_address.as_ref().map(|_| REDACTED),
            )
            .field(
                "phone_number",
                &self.phone_number.as_ref().map(|_| REDACTED),
            )
            .field(
                "date_of_birth",
                &self.date_of_birth.as_ref().map(|_| REDACTED),
            )
            .field("name", &self.name.as_ref().map(|_| REDACTED))
            .field("address", &self.address.as_ref().map(|_| REDACTED))
            .field("id_number", &self.id_number.as_ref().map(|_| REDACTED))
            .finish()
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
    /// Required but nullable: `null` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

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

/// The only product of an IDV Link token: Plaid refuses to mix IDV with other products.
pub const PRODUCT_IDENTITY_VERIFICATION: &str = "identity_verification";

/// `LinkTokenCreateRequest` for IDV: `products` is exactly `["identity_verification"]`
/// (the client refuses anything else before sending). `redirect_uri` and
/// `android_package_name` are mutually exclusive.
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

impl LinkTokenCreateRequest {
    /// An IDV Link token request with `products: ["identity_verification"]` and no optional keys.
    pub fn identity_verification(
        client_name: impl Into<String>,
        language: impl Into<String>,
        country_codes: Vec<String>,
        client_user_id: ClientUserId,
        template_id: TemplateId,
    ) -> Self {
        LinkTokenCreateRequest {
            client_name: client_name.into(),
            language: language.into(),
            country_codes,
            user: LinkTokenUser { client_user_id },
            products: vec![PRODUCT_IDENTITY_VERIFICATION.to_owned()],
            identity_verification: LinkTokenIdentityVerification {
                template_id,
                gave_consent: None,
            },
            redirect_uri: None,
            android_package_name: None,
        }
    }
}

/// `LinkTokenCreateResponse`. The link token is a bearer credential for the user's session:
/// `Debug` hides it.
#[derive(Clone, PartialEq, Deserialize, Serialize)]
pub struct LinkTokenCreateResponse {
    pub link_token: String,
    pub expiration: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosted_link_url: Option<String>,
}

impl std::fmt::Debug for LinkTokenCreateResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkTokenCreateResponse")
            .field("link_token", &REDACTED)
            .field("expiration", &self.expiration)
            .field("request_id", &self.request_id)
            .field(
                "hosted_link_url",
                &self.hosted_link_url.as_ref().map(|_| REDACTED),
            )
            .finish()
    }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// Required but nullable.
    #[serde(default)]
    pub display_message: Option<String>,
    /// A string when present (never `null`); absent only in errors embedded in webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default)]
    pub error_code_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[cfg(test)]
mod tests {
    //! The spec's own examples (copied into `shared/tests/fixtures/plaid/`) must parse, and
    //! what we send must match the spec's request schemas key for key.
    use super::*;
    use serde_json::{Value, json};

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../tests/fixtures/plaid/", $name))
        };
    }

    fn check_example_session(iv: &IdentityVerification) {
        assert_eq!(iv.id.as_str(), "idv_52xR9LKo77r1Np");
        assert_eq!(iv.client_user_id.as_str(), "your-db-id-3b24110");
        assert_eq!(iv.status, IdvStatus::Success);
        assert_eq!(iv.steps.risk_check, StepStatus::Success);
        assert_eq!(iv.template.id.as_str(), "idvtmp_4FrXJvfQU3zGUR");
        assert_eq!(iv.template.version, 2);
        assert_eq!(
            iv.previous_attempt_id.as_ref().map(IdvId::as_str),
            Some("idv_42cF1MNo42r9Xj")
        );
        assert_eq!(
            iv.completed_at,
            Some("2020-07-24T03:26:02Z".parse().unwrap())
        );
        assert!(iv.kyc_check.is_some() && iv.documentary_verification.is_some());
        assert!(iv.latest_scored_protect_event.is_some());
        let user = iv.user_data().expect("typed user data");
        assert_eq!(user.name.unwrap().family_name, "Knope");
        let address = user.address.unwrap();
        assert_eq!(
            (address.region.as_deref(), address.country.as_str()),
            (Some("IN"), "US")
        );
        assert_eq!(user.id_number.unwrap().kind, IdNumberType("us_ssn".into()));
    }

    /// Plaid's API 2020-09-14_1.778.0 (plaid-python 46.0.0) adds required keys inside the step
    /// results (`kyc_check.id_number.ssa_verification`, `risk_check.email.name`) and new enum
    /// values (`IDNumberType` `in_epic`, `KYCCheckSSAMatchStatus`, `SelfieAgeCheckStatus`):
    /// they parse, and new values stay open.
    #[test]
    fn session_in_the_1_778_0_shape_parses() {
        let raw = fixture!("identity_verification_get_response_1.778.0.json");
        let iv: IdentityVerification = serde_json::from_str(raw).unwrap();
        check_example_session(&iv);
        let kyc = iv.kyc_check.as_ref().unwrap();
        assert_eq!(kyc["id_number"]["ssa_verification"]["match"], "match");
        assert_eq!(iv.risk_check.as_ref().unwrap()["email"]["name"], "match");

        let mut v: Value = serde_json::from_str(raw).unwrap();
        v["user"]["id_number"] = json!({"type": "in_epic", "value": "ABC1234567"});
        v["kyc_check"]["id_number"]["ssa_verification"] = Value::Null;
        v["steps"]["selfie_check"] = json!("age_review");
        let iv: IdentityVerification = serde_json::from_value(v).unwrap();
        assert_eq!(
            iv.user_data().unwrap().id_number.unwrap().kind,
            IdNumberType("in_epic".into())
        );
        assert_eq!(iv.steps.selfie_check, StepStatus::Unknown);
    }

    #[test]
    fn session_examples_parse() {
        for raw in [
            fixture!("identity_verification_create_response.json"),
            fixture!("identity_verification_get_response.json"),
            fixture!("identity_verification_retry_response.json"),
        ] {
            let iv: IdentityVerification = serde_json::from_str(raw).unwrap();
            check_example_session(&iv);
            assert_eq!(iv.request_id.as_deref(), Some("saKrIBuEB9qJZng"));
        }
    }

    #[test]
    fn debug_leaves_out_personal_data_and_the_shareable_key() {
        let iv: IdentityVerification =
            serde_json::from_str(fixture!("identity_verification_get_response.json")).unwrap();
        let list: ListResponse =
            serde_json::from_str(fixture!("identity_verification_list_response.json")).unwrap();
        let shown = format!("{iv:?} {list:?} {:?}", iv.user_data());
        for pii in [
            "Knope",
            "1990-05-29",
            "123456789",
            "192.0.2.42",
            "e004115db797",
            "AB123456",
        ] {
            assert!(!shown.contains(pii), "{pii} in {shown}");
        }
        assert!(shown.contains("idv_52xR9LKo77r1Np") && shown.contains("Success"));
    }

    #[test]
    fn list_example_parses() {
        let list: ListResponse =
            serde_json::from_str(fixture!("identity_verification_list_response.json")).unwrap();
        assert_eq!(list.identity_verifications.len(), 1);
        check_example_session(&list.identity_verifications[0]);
        assert_eq!(list.identity_verifications[0].request_id, None);
        assert_eq!(
            list.next_cursor.as_deref(),
            Some("eyJkaXJlY3Rpb24iOiJuZXh0Iiwib2Zmc2V0IjoiMTU5NDM")
        );
        // Last page: `next_cursor` is null.
        let mut v: Value =
            serde_json::from_str(fixture!("identity_verification_list_response.json")).unwrap();
        v["next_cursor"] = Value::Null;
        assert_eq!(
            serde_json::from_value::<ListResponse>(v)
                .unwrap()
                .next_cursor,
            None
        );
    }

    #[test]
    fn link_token_and_key_examples_parse() {
        let lt: LinkTokenCreateResponse =
            serde_json::from_str(fixture!("link_token_create_response.json")).unwrap();
        assert!(lt.link_token.starts_with("link-sandbox-"));
        assert_eq!(
            lt.expiration,
            "2020-03-27T12:56:34Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(
            !format!("{lt:?}").contains("link-sandbox"),
            "Debug shows the token"
        );

        let key: WebhookVerificationKeyGetResponse =
            serde_json::from_str(fixture!("webhook_verification_key_get_response.json")).unwrap();
        assert_eq!(key.key.kid, "bfbd5111-8e33-4643-8ced-b2e642a72f3c");
        assert_eq!(
            (key.key.alg.as_str(), key.key.crv.as_str()),
            ("ES256", "P-256")
        );
        assert_eq!(key.key.created_at, 1_560_466_150);
        assert_eq!(key.key.expired_at, None);
        assert_eq!(key.key.use_, "sig");
    }

    #[test]
    fn webhook_examples_parse() {
        for (raw, code) in [
            (
                fixture!("webhook_status_updated.json"),
                WebhookCode::StatusUpdated,
            ),
            (
                fixture!("webhook_step_updated.json"),
                WebhookCode::StepUpdated,
            ),
            (fixture!("webhook_retried.json"), WebhookCode::Retried),
        ] {
            let env: WebhookEnvelope = serde_json::from_str(raw).unwrap();
            assert_eq!(env.webhook_type, "IDENTITY_VERIFICATION");
            let wh: IdvWebhook = serde_json::from_str(raw).unwrap();
            assert_eq!(wh.webhook_code, code);
            assert_eq!(wh.environment, PlaidEnvironment::Production);
            assert_eq!(wh.identity_verification_id.as_str(), "idv_52xR9LKo77r1Np");
        }
    }

    #[test]
    fn error_example_parses() {
        let e: PlaidErrorBody = serde_json::from_str(fixture!("error_rate_limit.json")).unwrap();
        assert_eq!(e.error_type, ErrorType("RATE_LIMIT_EXCEEDED".into()));
        assert_eq!(e.error_code, "RATE_LIMIT");
        assert_eq!(e.display_message, None);
        assert_eq!(e.request_id.as_deref(), Some("HNTDNrA8F1shFEW"));
    }

    #[test]
    fn unknown_enum_values_and_extra_fields_parse() {
        let mut v: Value =
            serde_json::from_str(fixture!("identity_verification_get_response.json")).unwrap();
        v["status"] = json!("under_investigation");
        v["steps"]["kyc_check"] = json!("escalated");
        v["steps"]["liveness"] = json!("success");
        v["brand_new_field"] = json!({"nested": [1, 2]});
        v["template"]["name"] = json!("extra");
        v["user"]["id_number"]["type"] = json!("zz_new_id");
        v["user"]["address"]["region"] = Value::Null;
        v["user"]["phone_number"] = Value::Null;
        let iv: IdentityVerification = serde_json::from_value(v).unwrap();
        assert_eq!(iv.status, IdvStatus::Unknown);
        assert!(!iv.status.is_final());
        assert_eq!(iv.steps.kyc_check, StepStatus::Unknown);
        let user = iv.user_data().unwrap();
        assert_eq!(user.id_number.unwrap().kind.0, "zz_new_id");
        assert_eq!(user.address.unwrap().region, None);

        let wh: IdvWebhook = serde_json::from_value(json!({
            "webhook_type": "IDENTITY_VERIFICATION", "webhook_code": "SOMETHING_NEW",
            "identity_verification_id": "idv_1", "environment": "staging", "extra": true
        }))
        .unwrap();
        assert_eq!(
            (wh.webhook_code, wh.environment),
            (WebhookCode::Unknown, PlaidEnvironment::Unknown)
        );

        let e: PlaidErrorBody = serde_json::from_value(json!({
            "error_type": "NEW_ERROR_FAMILY", "error_code": "NEW_CODE", "error_message": "m",
            "display_message": null, "causes": [], "status": 400
        }))
        .unwrap();
        assert_eq!(e.error_type.0, "NEW_ERROR_FAMILY");

        let mut k: Value =
            serde_json::from_str(fixture!("webhook_verification_key_get_response.json")).unwrap();
        k["key"]["expired_at"] = json!(1_700_000_000);
        k["key"]["new_member"] = json!("x");
        let key: WebhookVerificationKeyGetResponse = serde_json::from_value(k).unwrap();
        assert_eq!(key.key.expired_at, Some(1_700_000_000));
    }

    #[test]
    fn null_step_details_parse() {
        // A fresh session: every step detail is null, nothing is completed.
        let mut v: Value =
            serde_json::from_str(fixture!("identity_verification_get_response.json")).unwrap();
        for k in [
            "completed_at",
            "previous_attempt_id",
            "shareable_url",
            "documentary_verification",
            "selfie_check",
            "kyc_check",
            "risk_check",
            "verify_sms",
            "watchlist_screening_id",
            "beacon_user_id",
            "user_id",
            "redacted_at",
            "latest_scored_protect_event",
        ] {
            v[k] = Value::Null;
        }
        v["status"] = json!("active");
        let iv: IdentityVerification = serde_json::from_value(v).unwrap();
        assert_eq!(iv.status, IdvStatus::Active);
        assert!(iv.completed_at.is_none() && iv.kyc_check.is_none());
    }

    fn ids() -> (ClientUserId, TemplateId) {
        (
            ClientUserId::parse("user-8f3a1c").unwrap(),
            TemplateId::parse("idvtmp_4FrXJvfQU3zGUR").unwrap(),
        )
    }

    fn leslie() -> RequestUser {
        RequestUser {
            email_address: Some("leslie@example.com".into()),
            phone_number: Some("+12345678909".into()),
            date_of_birth: Some("1975-01-18".into()),
            name: Some(UserName {
                given_name: "Leslie".into(),
                family_name: "Knope".into(),
            }),
            address: Some(UserAddress {
                street: Some("123 Main St.".into()),
                street2: None,
                city: Some("Pawnee".into()),
                region: Some("IN".into()),
                postal_code: Some("46001".into()),
                country: "US".into(),
            }),
            id_number: Some(IdNumber {
                value: "123456789".into(),
                kind: IdNumberType("us_ssn".into()),
            }),
        }
    }

    #[test]
    fn create_request_wire_shape() {
        let (client_user_id, template_id) = ids();
        let mut req = CreateRequest {
            client_user_id,
            template_id,
            gave_consent: false,
            is_shareable: true,
            is_idempotent: true,
            user: None,
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"client_user_id": "user-8f3a1c", "template_id": "idvtmp_4FrXJvfQU3zGUR",
                   "gave_consent": false, "is_shareable": true, "is_idempotent": true})
        );
        req.user = Some(RequestUser {
            address: Some(UserAddress {
                street: None,
                street2: None,
                city: None,
                region: None,
                postal_code: None,
                country: "GB".into(),
            }),
            ..RequestUser::default()
        });
        // Country-only address: the other keys are absent, not null.
        assert_eq!(
            serde_json::to_value(&req).unwrap()["user"],
            json!({"address": {"country": "GB"}})
        );
        req.user = Some(leslie());
        assert_eq!(
            serde_json::to_value(&req).unwrap()["user"],
            json!({"email_address": "leslie@example.com", "phone_number": "+12345678909",
                   "date_of_birth": "1975-01-18",
                   "name": {"given_name": "Leslie", "family_name": "Knope"},
                   "address": {"street": "123 Main St.", "city": "Pawnee", "region": "IN",
                               "postal_code": "46001", "country": "US"},
                   "id_number": {"value": "123456789", "type": "us_ssn"}})
        );
        let shown = format!("{req:?}");
        assert!(
            !shown.contains("Knope") && !shown.contains("123456789"),
            "{shown}"
        );
    }

    #[test]
    fn get_and_list_request_wire_shape() {
        let (client_user_id, template_id) = ids();
        let get = GetRequest {
            identity_verification_id: IdvId::parse("idv_1").unwrap(),
        };
        assert_eq!(
            serde_json::to_value(&get).unwrap(),
            json!({"identity_verification_id": "idv_1"})
        );
        let mut list = ListRequest {
            template_id,
            client_user_id,
            cursor: None,
        };
        assert_eq!(
            serde_json::to_value(&list).unwrap(),
            json!({"template_id": "idvtmp_4FrXJvfQU3zGUR", "client_user_id": "user-8f3a1c"})
        );
        list.cursor = Some("abc".into());
        assert_eq!(serde_json::to_value(&list).unwrap()["cursor"], json!("abc"));
    }

    #[test]
    fn retry_request_sends_steps_only_with_custom() {
        let (client_user_id, template_id) = ids();
        let steps = RetrySteps {
            verify_sms: false,
            kyc_check: true,
            documentary_verification: true,
            selfie_check: false,
        };
        for strategy in [
            RetryStrategy::Reset,
            RetryStrategy::Incomplete,
            RetryStrategy::Infer,
        ] {
            let req = RetryRequest {
                client_user_id: client_user_id.clone(),
                template_id: template_id.clone(),
                strategy,
                steps: Some(steps),
                user: None,
                is_shareable: None,
            };
            let v = serde_json::to_value(&req).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 3, "{v}");
            assert!(v.get("steps").is_none());
        }
        let req = RetryRequest {
            client_user_id,
            template_id,
            strategy: RetryStrategy::Custom,
            steps: Some(steps),
            user: None,
            is_shareable: Some(false),
        };
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"client_user_id": "user-8f3a1c", "template_id": "idvtmp_4FrXJvfQU3zGUR",
                   "strategy": "custom", "is_shareable": false,
                   "steps": {"verify_sms": false, "kyc_check": true,
                             "documentary_verification": true, "selfie_check": false}})
        );
    }

    #[test]
    fn link_token_request_wire_shape() {
        let (client_user_id, template_id) = ids();
        let mut req = LinkTokenCreateRequest::identity_verification(
            "Acme",
            "en",
            vec!["US".into()],
            client_user_id,
            template_id,
        );
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"client_name": "Acme", "language": "en", "country_codes": ["US"],
                   "user": {"client_user_id": "user-8f3a1c"},
                   "products": ["identity_verification"],
                   "identity_verification": {"template_id": "idvtmp_4FrXJvfQU3zGUR"}})
        );
        req.identity_verification.gave_consent = Some(true);
        req.redirect_uri = Some("https://app.example.com/idv".into());
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["identity_verification"]["gave_consent"], json!(true));
        assert_eq!(v["redirect_uri"], json!("https://app.example.com/idv"));
        assert!(v.get("android_package_name").is_none());
    }

    #[test]
    fn serialised_responses_omit_non_nullable_absent_keys() {
        // The emulator serialises these types: keys the spec types as plain strings must be
        // absent rather than null.
        let e = PlaidErrorBody {
            error_type: ErrorType("INVALID_INPUT".into()),
            error_code: "INVALID_API_KEYS".into(),
            error_message: "invalid client_id or secret provided".into(),
            display_message: None,
            request_id: None,
            error_code_reason: None,
            documentation_url: None,
            suggested_action: None,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert!(v.get("request_id").is_none() && v.get("documentation_url").is_none());
        assert_eq!(v["display_message"], Value::Null, "required and nullable");

        let mut iv: IdentityVerification =
            serde_json::from_str(fixture!("identity_verification_get_response.json")).unwrap();
        iv.request_id = None;
        iv.completed_at = None;
        let v = serde_json::to_value(&iv).unwrap();
        assert!(v.get("request_id").is_none());
        assert_eq!(v["completed_at"], Value::Null, "required and nullable");
    }
}
