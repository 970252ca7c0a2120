//! Plaid's request and response shapes for the IDV endpoints we call, after
//! `../shared/reference/plaid-idv-openapi.yml` (API version 2020-09-14).
//!
//! Rules that keep us compatible with how Plaid evolves its API: every enum is open
//! (`#[serde(other)] Unknown`), unknown fields are ignored, nullable fields are `Option`, and
//! unset optional request fields are omitted on the wire (Plaid rejects placeholder values).
//! The heavy per-step result objects churn often, so they stay `serde_json::Value`.

mod create;
mod error_body;
mod get;
mod identity_verification;
mod link_token;
mod list;
mod retry;
mod user;
mod webhook;
mod webhook_key;

pub use create::*;
pub use error_body::*;
pub use get::*;
pub use identity_verification::*;
pub use link_token::*;
pub use list::*;
pub use retry::*;
pub use user::*;
pub use webhook::*;
pub use webhook_key::*;

/// What `Debug` prints in place of personal data.
const REDACTED: &str = "[redacted]";

#[cfg(test)]
mod tests {
    //! The spec's own examples (copied into `shared/tests/fixtures/plaid/`) must parse, and
    //! what we send must match the spec's request schemas key for key.
    use super::*;
    use crate::ids::{ClientUserId, IdvId, TemplateId};
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../tests/fixtures/plaid/", $name))
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
