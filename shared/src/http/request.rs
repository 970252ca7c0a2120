//! Reading what API Gateway hands us: the caller, path and query parameters, the JSON body.

use super::error::{ApiError, ErrorCode};
use crate::config::{Config, LocalIdentity};
use crate::ids::{ClientUserId, IdvId};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;

/// Bodies we accept: far above anything a session start needs, far below Lambda's 6 MB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Header naming the caller under `cargo lambda watch` (local identity only).
pub const LOCAL_USER_HEADER: &str = "x-local-user";

/// The caller's `client_user_id`: the `sub` claim of the HTTP API JWT authorizer. With the
/// local-only identity switch (never in a deployed function; see `Config`), a request that no
/// authorizer has seen may name its user in `x-local-user`. Any authorizer context, even one
/// without `sub`, means the request came through API Gateway, where a caller can send any
/// header: then only the claims count.
pub fn caller(req: &Request, config: &Config) -> Result<ClientUserId, ApiError> {
    let (authorized, claim) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => (
            ctx.authorizer.is_some(),
            ctx.authorizer
                .as_ref()
                .and_then(|a| a.jwt.as_ref())
                .and_then(|jwt| jwt.claims.get("sub"))
                .cloned(),
        ),
        // No context at all: a bare local request. Any other source (REST API, ALB, …) is
        // not one of ours and never gets the header.
        None => (false, None),
        Some(_) => (true, None),
    };
    let raw = match (claim, &config.local_identity) {
        (Some(sub), _) => sub,
        (None, LocalIdentity::Header) if !authorized => req
            .headers()
            .get(LOCAL_USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or(ApiError::Unauthorized)?,
        (None, _) => return Err(ApiError::Unauthorized),
    };
    ClientUserId::parse_claim(&raw).map_err(|_| ApiError::Unauthorized)
}

/// Whether the caller's token holds `scope` in its `scope` claim (space-separated, as in Cognito
/// access tokens). Only the JWT authorizer's claims count; the local identity header never
/// carries scopes.
pub fn has_scope(req: &Request, scope: &str) -> bool {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("scope"))
            .is_some_and(|claim| claim.split_ascii_whitespace().any(|s| s == scope)),
        _ => false,
    }
}

/// The `{id}` of `/sessions/{id}[/…]`: from API Gateway's path parameters, or from the raw path
/// when there are none (`cargo lambda watch` routes by URL, without path parameters).
pub fn session_id(req: &Request) -> Result<Option<IdvId>, ApiError> {
    let from_params = req
        .path_parameters_ref()
        .and_then(|p| p.first("id"))
        .map(str::to_owned);
    let raw = match from_params {
        Some(id) => Some(id),
        None => {
            let path = req.raw_http_path();
            let mut segments = path.split('/').filter(|s| !s.is_empty());
            match (segments.next(), segments.next()) {
                (Some("sessions"), Some(id)) => Some(percent_decode(id)),
                _ => None,
            }
        }
    };
    raw.map(|r| IdvId::parse(r).map_err(|_| ApiError::NotFound))
        .transpose()
}

/// A path segment as the caller meant it. (A form decoder would also split at `&` and `=`,
/// turning `a=b` into the id `a`.) Invalid UTF-8 becomes an empty id, which no session has.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .unwrap_or_default()
}

pub fn query(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters_ref()
        .and_then(|q| q.first(name))
        .map(str::to_owned)
}

/// The raw body bytes. lambda_http has already base64-decoded a body sent with
/// `isBase64Encoded: true`.
pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// Parse an optional JSON body: empty means `T::default()`. Non-JSON content types, bodies over
/// [`MAX_BODY_BYTES`], invalid UTF-8, malformed JSON, wrong types and unknown fields are all
/// 4xx with a message that says which.
pub fn json_body<T: DeserializeOwned + Default>(req: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(req);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if let Some(ct) = req.headers().get(http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    let text = std::str::from_utf8(bytes).map_err(|_| {
        ApiError::bad_request(ErrorCode::InvalidJson, "request body is not valid UTF-8")
    })?;
    // Every body here is an object. serde would also build a struct from an array of its
    // fields in order (`[null, null]`), which no caller means; other JSON is the wrong shape.
    if !text.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => {
                ApiError::bad_request(ErrorCode::InvalidBody, "request body must be a JSON object")
            }
            Err(_) => {
                ApiError::bad_request(ErrorCode::InvalidJson, "request body is not valid JSON")
            }
        });
    }
    serde_json::from_str(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::bad_request(ErrorCode::InvalidBody, data_error_message(&e)),
            _ => ApiError::bad_request(ErrorCode::InvalidJson, "request body is not valid JSON"),
        }
    })
}

/// serde's message names the field and the expected type; strip the echo of the value it
/// quotes, which could be PII the caller sent.
fn data_error_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or(&msg);
    match msg.find("invalid type: ") {
        Some(_) => msg
            .split_once(", expected")
            .map(|(_, expected)| format!("a field has the wrong type: expected{expected}"))
            .unwrap_or_else(|| "a field has the wrong type".to_owned()),
        None => msg.chars().take(200).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::{json_body, percent_decode};

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        a: Option<String>,
        #[allow(dead_code)]
        b: Option<String>,
    }

    fn parse(body: &str) -> Result<Body, &'static str> {
        let req = http::Request::builder()
            .header("content-type", "application/json")
            .body(lambda_http::Body::from(body))
            .unwrap();
        json_body::<Body>(&req).map_err(|e| e.code())
    }

    /// Found by Schemathesis' negative_data_rejection: `[null, null]` was a valid body.
    #[test]
    fn only_a_json_object_is_a_body() {
        assert!(parse(r#"{"a": "x"}"#).is_ok());
        assert!(parse("  ").is_ok(), "no body is the defaults");
        for wrong_shape in ["[null, null]", "[]", "null", "\"x\"", "1", "true"] {
            assert_eq!(
                parse(wrong_shape).unwrap_err(),
                "invalid_body",
                "{wrong_shape}"
            );
        }
        for not_json in ["[", "nul", "{", "x"] {
            assert_eq!(parse(not_json).unwrap_err(), "invalid_json", "{not_json}");
        }
    }

    #[test]
    fn path_segments_decode_as_a_whole() {
        assert_eq!(percent_decode("idv_1"), "idv_1");
        assert_eq!(percent_decode("idv%5F1"), "idv_1");
        assert_eq!(percent_decode("a=b&c"), "a=b&c");
        assert_eq!(percent_decode("a+b"), "a+b");
        assert_eq!(percent_decode("%FF"), "");
    }
}
