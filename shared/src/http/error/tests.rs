use super::*;
use crate::plaid::types::{ErrorType, PlaidErrorBody};

fn plaid(status: u16, code: &str, retry_after: Option<Duration>) -> PlaidError {
    PlaidError::Api {
        status,
        body: Box::new(PlaidErrorBody {
            error_type: ErrorType("INVALID_REQUEST".into()),
            error_code: code.into(),
            error_message: "phone_number must be in E.164 format".into(),
            display_message: None,
            request_id: Some("req-1".into()),
            error_code_reason: None,
            documentation_url: None,
            suggested_action: None,
        }),
        retry_after,
    }
}

#[test]
fn plaid_errors_map_to_statuses() {
    let e: ApiError = plaid(429, "RATE_LIMIT", Some(Duration::from_secs(7))).into();
    assert_eq!(
        (e.status(), e.retry_after()),
        (429, Some(Duration::from_secs(7)))
    );
    let e: ApiError = plaid(400, "INVALID_FIELD", None).into();
    assert_eq!(e.status(), 422);
    assert_eq!(e.to_string(), "phone_number must be in E.164 format");
    assert_eq!(
        ApiError::from(plaid(400, "INVALID_API_KEYS", None)).status(),
        502
    );
    assert_eq!(
        ApiError::from(plaid(500, "INTERNAL_SERVER_ERROR", None)).status(),
        502
    );
    assert_eq!(
        ApiError::from(plaid(503, "PLANNED_MAINTENANCE", None)).status(),
        503
    );
    assert_eq!(ApiError::from(PlaidError::Timeout).status(), 503);
}

#[test]
fn our_own_limits_are_429_with_retry_after() {
    for (e, code, after) in [
        (
            ApiError::AttemptLimit {
                retry_after: Duration::from_secs(3600),
            },
            "attempt_limit_reached",
            "3600",
        ),
        (
            ApiError::ReadCooldown {
                retry_after: Duration::from_secs(5),
            },
            "rate_limited",
            "5",
        ),
    ] {
        assert_eq!(e.code(), code);
        let r = e.into_response("");
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()["retry-after"], after);
    }
    let r = ApiError::Forbidden { message: "no" }.into_response("");
    assert_eq!(r.status(), 403);
}

#[test]
fn store_errors_are_retryable_503() {
    let r = ApiError::from(StoreError::Throttled).into_response("");
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
}

#[test]
fn error_body_shape() {
    let r = ApiError::Gone.into_response("8f6a2c1e-req");
    let Body::Text(t) = r.body() else {
        panic!("text body")
    };
    let v: serde_json::Value = serde_json::from_str(t).unwrap();
    assert_eq!(v["error"]["code"], "session_expired");
    assert!(v["error"]["message"].is_string());
    assert_eq!(v["error"]["request_id"], "8f6a2c1e-req");
    assert_eq!(r.headers()["content-type"], "application/json");
}

#[test]
fn operator_problems_at_plaid_have_their_own_codes() {
    for (status, code, message, want) in [
        (
            400,
            "INVALID_API_KEYS",
            "invalid client_id or secret provided",
            "plaid_credentials_invalid",
        ),
        (
            400,
            "INVALID_PRODUCT",
            r#"client is not authorized to access the following products: ["identity_verification"]"#,
            "plaid_product_not_enabled",
        ),
        (
            400,
            "UNAUTHORIZED_ROUTE_ACCESS",
            "not authorized",
            "plaid_product_not_enabled",
        ),
        (
            400,
            "UNAUTHORIZED_ENVIRONMENT",
            "not authorized",
            "plaid_environment_not_allowed",
        ),
        (
            400,
            "INVALID_FIELD",
            "template_id does not match a template of this client",
            "plaid_template_invalid",
        ),
        (
            400,
            "INVALID_FIELD",
            "identity_verification.template_id does not match a template of this client",
            "plaid_template_invalid",
        ),
        // The caller's own data stays 422, and an unknown refusal the bare plaid_error.
        (
            400,
            "INVALID_FIELD",
            "user.phone_number must be in E.164 format",
            "plaid_rejected_data",
        ),
        (400, "SOMETHING_NEW", "new", "plaid_error"),
        // A 5xx with one of these codes is Plaid's problem, not the operator's.
        (500, "INVALID_API_KEYS", "?", "plaid_error"),
    ] {
        let mut e = plaid(status, code, None);
        if let PlaidError::Api { body, .. } = &mut e {
            body.error_message = message.into();
        }
        let e = ApiError::from(e);
        assert_eq!(e.code(), want, "{code}: {message}");
        assert_eq!(
            e.status(),
            if want == "plaid_rejected_data" {
                422
            } else {
                502
            }
        );
        if want.starts_with("plaid_") && want != "plaid_error" && want != "plaid_rejected_data" {
            assert!(e.to_string().contains("operator"), "{e}");
            assert!(!e.to_string().contains(message), "never Plaid's words: {e}");
        }
    }
}

#[test]
fn the_catalogue_is_unique_and_snake_case() {
    let mut seen = std::collections::HashSet::new();
    for c in ApiError::ALL_CODES {
        assert!(seen.insert(c.as_str()), "{c} twice");
        let s = c.as_str();
        assert!(
            s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{s} is not snake_case"
        );
        assert!((400..600).contains(&c.status()), "{s}");
    }
    // Complete by construction: `ApiError::code` returns an `ErrorCode`, and `ErrorCode::ALL`
    // is generated with the enum.
}

/// Words shaped like an environment variable or Plaid error code (`PLAID_SECRET_ID`): an answer's
/// message must name what went wrong, never where to fix it.
fn setting_names(message: &str) -> Vec<&str> {
    message
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.contains('_')
                && w.chars().any(|c| c.is_ascii_uppercase())
                && !w.chars().any(|c| c.is_ascii_lowercase())
        })
        .collect()
}

#[test]
fn no_error_body_names_a_setting_and_the_log_line_does_for_configuration_errors() {
    let d = Duration::from_secs(2);
    let mut errors = vec![
        ApiError::bad_request(ErrorCode::InvalidJson, "request body is not valid JSON"),
        ApiError::PayloadTooLarge { limit: 1024 },
        ApiError::UnsupportedMediaType,
        ApiError::Unauthorized,
        ApiError::InvalidWebhook,
        ApiError::NotFound,
        ApiError::Forbidden {
            message: "the full result is for reviewers only",
        },
        ApiError::RouteNotFound,
        ApiError::MethodNotAllowed {
            allow: "GET, POST".into(),
        },
        ApiError::Conflict {
            code: ErrorCode::StartInProgress,
            message: "another start for this user is in progress; retry shortly",
            retry_after: Some(d),
        },
        ApiError::Gone,
        ApiError::RateLimited { retry_after: d },
        ApiError::ReadCooldown { retry_after: d },
        ApiError::AttemptLimit { retry_after: d },
        ApiError::PlaidUnavailable { retry_after: d },
        ApiError::PlaidFailed,
        ApiError::PlaidCredentialsInvalid,
        ApiError::PlaidProductNotEnabled,
        ApiError::PlaidEnvironmentNotAllowed,
        ApiError::PlaidTemplateInvalid,
        ApiError::StoreUnavailable,
        ApiError::Internal,
    ];
    // And every way a failing or misconfigured dependency becomes one.
    for code in [
        "INVALID_FIELD",
        "INVALID_API_KEYS",
        "INVALID_PRODUCT",
        "UNAUTHORIZED_ROUTE_ACCESS",
        "UNAUTHORIZED_ENVIRONMENT",
        "RATE_LIMIT",
        "INTERNAL_SERVER_ERROR",
    ] {
        for status in [400, 429, 500, 503] {
            errors.push(plaid(status, code, None).into());
        }
    }
    errors.push(PlaidError::Timeout.into());
    for e in [
        StoreError::Throttled,
        StoreError::Unavailable("DynamoDB ResourceNotFoundException on table sessions".into()),
        StoreError::Corrupt("x".into()),
        StoreError::BadCursor,
    ] {
        errors.push(e.into());
    }
    // Each variant is in the walk above (this match fails to compile when one is added).
    for e in &errors {
        match e {
            ApiError::BadRequest { .. }
            | ApiError::PayloadTooLarge { .. }
            | ApiError::UnsupportedMediaType
            | ApiError::Unauthorized
            | ApiError::InvalidWebhook
            | ApiError::NotFound
            | ApiError::Forbidden { .. }
            | ApiError::RouteNotFound
            | ApiError::MethodNotAllowed { .. }
            | ApiError::Conflict { .. }
            | ApiError::Gone
            | ApiError::PlaidRejected { .. }
            | ApiError::RateLimited { .. }
            | ApiError::ReadCooldown { .. }
            | ApiError::AttemptLimit { .. }
            | ApiError::PlaidUnavailable { .. }
            | ApiError::PlaidFailed
            | ApiError::PlaidCredentialsInvalid
            | ApiError::PlaidProductNotEnabled
            | ApiError::PlaidEnvironmentNotAllowed
            | ApiError::PlaidTemplateInvalid
            | ApiError::StoreUnavailable
            | ApiError::Internal => {}
        }
    }
    for e in errors {
        let config_key = e.config_key();
        let code = e.code();
        let resp = e.into_response("req-1");
        let lambda_http::Body::Text(body) = resp.body() else {
            panic!("{code}: a JSON text body");
        };
        assert_eq!(setting_names(body), Vec::<&str>::new(), "{code}: {body}");
        for word in [
            "secret id",
            "arn:",
            "TABLE_NAME",
            "sessions table",
            "ResourceNotFound",
        ] {
            assert!(!body.contains(word), "{code}: {body}");
        }
        // The operator's way to the setting: the log line, for the errors configuration causes.
        assert_eq!(
            config_key.is_some(),
            matches!(
                code,
                "plaid_credentials_invalid"
                    | "plaid_environment_not_allowed"
                    | "plaid_template_invalid"
            ),
            "{code}"
        );
    }
}
