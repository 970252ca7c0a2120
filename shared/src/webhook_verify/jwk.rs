//! Turning Plaid's `JWKPublicKey` into a P-256 verifying key, or saying why it cannot be used.
//!
//! Done once per fetch, not per webhook: the cache stores the outcome, so a warm verification
//! never re-decodes coordinates or re-checks the point.

use crate::plaid::types::JwkPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p256::ecdsa::VerifyingKey;

/// Why a key Plaid returned is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRejection {
    /// `expired_at` is set. Plaid's own sample rejects any non-null `expired_at`, whatever the
    /// timestamp: Plaid sets it when it retires a key, so a token under it is not current.
    #[error("key has expired_at set")]
    Expired,
    /// Not an ES256 key, or not a valid point: answered 401 and logged with the reason, since
    /// it means Plaid's answer (or whatever answered in Plaid's place) is not what we expect.
    #[error("unusable key: {0}")]
    Unusable(&'static str),
}

/// Checks a fetched JWK and builds its verifying key. `kid` is the one we asked for.
pub fn verifying_key(kid: &str, jwk: &JwkPublicKey) -> Result<VerifyingKey, KeyRejection> {
    if jwk.expired_at.is_some() {
        return Err(KeyRejection::Expired);
    }
    if jwk.kid != kid {
        return Err(KeyRejection::Unusable(
            "key's kid differs from the kid asked for",
        ));
    }
    if jwk.kty != "EC" {
        return Err(KeyRejection::Unusable("kty is not EC"));
    }
    if jwk.crv != "P-256" {
        return Err(KeyRejection::Unusable("crv is not P-256"));
    }
    // `alg` and `use` are optional in RFC 7517. Plaid always sends both; an empty value is read
    // as "not stated". Stated, they must agree with what we do with the key.
    if !jwk.alg.is_empty() && jwk.alg != "ES256" {
        return Err(KeyRejection::Unusable("alg is not ES256"));
    }
    if !jwk.use_.is_empty() && jwk.use_ != "sig" {
        return Err(KeyRejection::Unusable("use is not sig"));
    }
    let x = coordinate(&jwk.x).ok_or(KeyRejection::Unusable("x is not 32 base64url bytes"))?;
    let y = coordinate(&jwk.y).ok_or(KeyRejection::Unusable("y is not 32 base64url bytes"))?;
    let mut sec1 = [0u8; 65];
    sec1[0] = 0x04; // SEC1 uncompressed point tag
    sec1[1..33].copy_from_slice(&x);
    sec1[33..].copy_from_slice(&y);
    // Refuses points off the curve and the identity, which would otherwise make an invalid-curve
    // or trivial-key attack possible.
    VerifyingKey::from_sec1_bytes(&sec1)
        .map_err(|_| KeyRejection::Unusable("x/y is not a P-256 point"))
}

fn coordinate(b64: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    // decode_slice into a 32-byte buffer refuses longer input; the length check refuses shorter
    // (a coordinate with its leading zero bytes stripped is not valid JWK either: RFC 7518 §6.2.1.2).
    let n = URL_SAFE_NO_PAD.decode_slice(b64, &mut out).ok()?;
    (n == 32).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook_verify::testutil::TestKey;

    #[test]
    fn a_current_plaid_shaped_key_is_usable_and_matches_the_signer() {
        let key = TestKey::new("kid-1");
        let vk = verifying_key("kid-1", &key.jwk()).expect("usable");
        assert_eq!(&vk, key.signing.verifying_key());
    }

    #[test]
    fn plaid_documented_example_key_parses() {
        // The key from Plaid's /webhook_verification_key/get example (reference §6.3).
        let jwk = JwkPublicKey {
            alg: "ES256".into(),
            kid: "bfbd5111-8e33-4643-8ced-b2e642a72f3c".into(),
            kty: "EC".into(),
            crv: "P-256".into(),
            x: "hKXLGIjWvCBv-cP5euCTxl8g9GLG9zHo_3pO5NN1DwQ".into(),
            y: "shhexqPB7YffGn6fR6h2UhTSuCtPmfzQJ6ENVIoO4Ys".into(),
            use_: "sig".into(),
            created_at: 1560466150,
            expired_at: None,
        };
        assert!(verifying_key("bfbd5111-8e33-4643-8ced-b2e642a72f3c", &jwk).is_ok());
    }

    #[test]
    fn any_expired_at_rejects_even_a_future_one() {
        let key = TestKey::new("k");
        for at in [0, 1_600_000_000, i64::MAX] {
            let mut jwk = key.jwk();
            jwk.expired_at = Some(at);
            assert_eq!(verifying_key("k", &jwk), Err(KeyRejection::Expired));
        }
    }

    #[test]
    fn wrong_key_metadata_is_unusable() {
        let key = TestKey::new("k");
        type Mutate = fn(&mut JwkPublicKey);
        let cases: [(&str, Mutate); 8] = [
            ("kid", |j| j.kid = "other".into()),
            ("kty", |j| j.kty = "RSA".into()),
            ("crv", |j| j.crv = "P-384".into()),
            ("crv case", |j| j.crv = "p-256".into()),
            ("alg", |j| j.alg = "ES384".into()),
            ("alg none", |j| j.alg = "none".into()),
            ("use", |j| j.use_ = "enc".into()),
            ("kty oct", |j| j.kty = "oct".into()),
        ];
        for (what, mutate) in cases {
            let mut jwk = key.jwk();
            mutate(&mut jwk);
            assert!(
                matches!(verifying_key("k", &jwk), Err(KeyRejection::Unusable(_))),
                "{what} accepted"
            );
        }
    }

    #[test]
    fn absent_alg_and_use_are_allowed() {
        let key = TestKey::new("k");
        let mut jwk = key.jwk();
        jwk.alg.clear();
        jwk.use_.clear();
        assert!(verifying_key("k", &jwk).is_ok());
    }

    #[test]
    fn coordinates_must_be_exactly_32_bytes_on_the_curve() {
        let key = TestKey::new("k");
        let good = key.jwk();
        let x_bytes = URL_SAFE_NO_PAD.decode(&good.x).expect("x");
        let cases = [
            URL_SAFE_NO_PAD.encode(&x_bytes[1..]), // 31 bytes
            URL_SAFE_NO_PAD.encode([x_bytes.as_slice(), &[0]].concat()), // 33 bytes
            format!("{}=", good.x),                // padded
            "not base64!".to_string(),
            String::new(),
        ];
        for x in cases {
            let mut jwk = good.clone();
            jwk.x = x.clone();
            assert!(
                matches!(verifying_key("k", &jwk), Err(KeyRejection::Unusable(_))),
                "x={x:?} accepted"
            );
        }
        // Right length, wrong point: y flipped so (x, y) is off the curve.
        let mut y_bytes = URL_SAFE_NO_PAD.decode(&good.y).expect("y");
        y_bytes[31] ^= 1;
        let mut jwk = good.clone();
        jwk.y = URL_SAFE_NO_PAD.encode(&y_bytes);
        assert_eq!(
            verifying_key("k", &jwk),
            Err(KeyRejection::Unusable("x/y is not a P-256 point"))
        );
        // All-zero coordinates are not a point either.
        let mut jwk = good;
        jwk.x = URL_SAFE_NO_PAD.encode([0u8; 32]);
        jwk.y = URL_SAFE_NO_PAD.encode([0u8; 32]);
        assert!(verifying_key("k", &jwk).is_err());
    }
}
