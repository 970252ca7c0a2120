//! The two claims Plaid signs (`iat`, `request_body_sha256`) and the checks on them. Read only
//! from a payload whose signature has verified.

use super::VerifyError;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;
use subtle::ConstantTimeEq;

/// Claims as received. `Value` so that a wrong type is a clean rejection, while serde still
/// refuses duplicate keys (two `iat`s must not let two parsers disagree). Other claims are
/// ignored: Plaid sends none (no `exp`, `iss`, `aud`, `sub`).
#[derive(Deserialize)]
struct RawClaims {
    #[serde(default)]
    iat: Option<Value>,
    #[serde(default)]
    request_body_sha256: Option<Value>,
}

#[derive(Debug)]
pub struct Claims {
    pub iat: i64,
    pub body_sha256: [u8; 32],
}

pub fn parse(payload: &[u8]) -> Result<Claims, VerifyError> {
    let raw: RawClaims = super::jws::json_object(payload)
        .ok_or(VerifyError::Malformed("claims are not a JSON object"))?;
    // Integer seconds only: a float or string `iat` is not what Plaid sends, and guessing how
    // to round it is not worth the ambiguity.
    let iat = raw
        .iat
        .as_ref()
        .and_then(Value::as_i64)
        .ok_or(VerifyError::Malformed(
            "iat is missing or not integer seconds",
        ))?;
    let body_sha256 = raw
        .request_body_sha256
        .as_ref()
        .and_then(Value::as_str)
        .and_then(parse_sha256_hex)
        .ok_or(VerifyError::Malformed(
            "request_body_sha256 is missing or not 64 hex characters",
        ))?;
    Ok(Claims { iat, body_sha256 })
}

/// 64 hex characters, either case (decoding is the lowercase normalisation: both cases give
/// the same bytes, and the comparison is then on bytes).
fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// `now - iat` may be at most `max_age` (Plaid: "not more than 5 minutes old"), and `iat - now`
/// at most `max_skew`. Integer-second arithmetic in i128, so no `iat` can overflow it.
pub fn check_freshness(
    iat: i64,
    now: DateTime<Utc>,
    max_age: Duration,
    max_skew: Duration,
) -> Result<(), VerifyError> {
    let age = i128::from(now.timestamp()) - i128::from(iat);
    if age > i128::from(max_age.as_secs()) {
        return Err(VerifyError::Stale);
    }
    if -age > i128::from(max_skew.as_secs()) {
        return Err(VerifyError::FromTheFuture);
    }
    Ok(())
}

/// SHA-256 of the raw body equals the signed digest, compared in constant time. Both sides are
/// 32 bytes by construction, so the length check `ct_eq` makes first always passes.
pub fn check_body(body: &[u8], signed: &[u8; 32]) -> Result<(), VerifyError> {
    let actual = Sha256::digest(body);
    if bool::from(actual.as_slice().ct_eq(signed.as_slice())) {
        Ok(())
    } else {
        Err(VerifyError::BodyMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const MAX_AGE: Duration = Duration::from_secs(300);
    const SKEW: Duration = Duration::from_secs(60);

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_750_000_000, 0).single().expect("valid")
    }

    #[test]
    fn freshness_boundaries() {
        let t = now().timestamp();
        assert_eq!(check_freshness(t, now(), MAX_AGE, SKEW), Ok(()));
        assert_eq!(check_freshness(t - 300, now(), MAX_AGE, SKEW), Ok(()));
        assert_eq!(
            check_freshness(t - 301, now(), MAX_AGE, SKEW),
            Err(VerifyError::Stale)
        );
        assert_eq!(check_freshness(t + 60, now(), MAX_AGE, SKEW), Ok(()));
        assert_eq!(
            check_freshness(t + 61, now(), MAX_AGE, SKEW),
            Err(VerifyError::FromTheFuture)
        );
        assert_eq!(
            check_freshness(i64::MIN, now(), MAX_AGE, SKEW),
            Err(VerifyError::Stale)
        );
        assert_eq!(
            check_freshness(i64::MAX, now(), MAX_AGE, SKEW),
            Err(VerifyError::FromTheFuture)
        );
    }

    #[test]
    fn iat_must_be_integer_seconds() {
        let digest = "a".repeat(64);
        for iat in ["1.5", "\"1750000000\"", "null", "true", "1e3", "[1]"] {
            let payload = format!(r#"{{"iat":{iat},"request_body_sha256":"{digest}"}}"#);
            assert!(
                matches!(parse(payload.as_bytes()), Err(VerifyError::Malformed(_))),
                "iat {iat} accepted"
            );
        }
        let missing = format!(r#"{{"request_body_sha256":"{digest}"}}"#);
        assert!(matches!(
            parse(missing.as_bytes()),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn request_body_sha256_must_be_64_hex_chars() {
        let good = "0123456789abcdef".repeat(4);
        for bad in [
            String::new(),
            good[..63].to_string(),
            format!("{good}0"),
            good.replacen('a', "g", 1),
            format!(" {}", &good[1..]),
            "é".repeat(32),
        ] {
            let payload = format!(r#"{{"iat":1,"request_body_sha256":"{bad}"}}"#);
            assert!(
                matches!(parse(payload.as_bytes()), Err(VerifyError::Malformed(_))),
                "{bad:?} accepted"
            );
        }
        for bad in [
            r#"{"iat":1}"#,
            r#"{"iat":1,"request_body_sha256":7}"#,
            r#"[1,"0000000000000000000000000000000000000000000000000000000000000000"]"#,
        ] {
            assert!(matches!(
                parse(bad.as_bytes()),
                Err(VerifyError::Malformed(_))
            ));
        }
    }

    #[test]
    fn uppercase_and_lowercase_digests_are_the_same_digest() {
        let lower = hex::encode(Sha256::digest(b"body"));
        let upper = lower.to_uppercase();
        let a = parse(format!(r#"{{"iat":1,"request_body_sha256":"{lower}"}}"#).as_bytes())
            .expect("lower");
        let b = parse(format!(r#"{{"iat":1,"request_body_sha256":"{upper}"}}"#).as_bytes())
            .expect("upper");
        assert_eq!(a.body_sha256, b.body_sha256);
        assert_eq!(check_body(b"body", &b.body_sha256), Ok(()));
    }

    #[test]
    fn duplicate_claims_are_refused() {
        let d = "a".repeat(64);
        let payload = format!(r#"{{"iat":1,"iat":2,"request_body_sha256":"{d}"}}"#);
        assert!(matches!(
            parse(payload.as_bytes()),
            Err(VerifyError::Malformed(_))
        ));
    }

    #[test]
    fn body_check_is_byte_exact() {
        let body = b"{\n  \"a\": 1\n}\n";
        let digest: [u8; 32] = Sha256::digest(body).into();
        assert_eq!(check_body(body, &digest), Ok(()));
        assert_eq!(
            check_body(&body[..body.len() - 1], &digest),
            Err(VerifyError::BodyMismatch)
        );
        assert_eq!(
            check_body(b"{\"a\":1}", &digest),
            Err(VerifyError::BodyMismatch)
        );
        assert_eq!(check_body(b"", &digest), Err(VerifyError::BodyMismatch));
    }
}
