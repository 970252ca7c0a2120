//! Standard Webhooks signatures (standardwebhooks.com, "Verifying webhooks"): the signed content
//! is `{webhook-id}.{webhook-timestamp}.{body}`, the MAC is HMAC-SHA256 keyed with the
//! base64-decoded part of a `whsec_` secret, and the header holds `v1,{base64 MAC}`, one entry
//! per key, space-separated (two during a rotation).
//!
//! HMAC comes from aws-lc-rs, already in every binary (rustls and the AWS SDK use it): no byte
//! added to the bootstrap, where the `hmac` crate would add its own code (it stays a
//! dev-dependency, as an independent implementation the tests compare against).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// The prefix Standard Webhooks libraries print before a secret's base64.
pub const SECRET_PREFIX: &str = "whsec_";

/// The spec asks for 24 to 64 random bytes; shorter keys are refused.
const MIN_KEY_BYTES: usize = 24;
const MAX_KEY_BYTES: usize = 64;

/// One signing key, decoded. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey(Vec<u8>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the webhook secret is not base64 (optionally prefixed whsec_)")]
    NotBase64,
    #[error("the webhook secret decodes to {0} bytes; Standard Webhooks asks for 24 to 64")]
    Length(usize),
}

impl SigningKey {
    /// `whsec_<base64>`, or the bare base64 (what Secrets Manager generates, see
    /// `infra/template.yaml`: 48 letters and digits are valid base64 of 36 bytes). Padding is
    /// optional, as the spec's own libraries accept it.
    pub fn parse(secret: &str) -> Result<SigningKey, KeyError> {
        let b64 = secret.trim();
        let b64 = b64.strip_prefix(SECRET_PREFIX).unwrap_or(b64);
        let bytes = STANDARD
            .decode(b64)
            .or_else(|_| STANDARD_NO_PAD.decode(b64.trim_end_matches('=')))
            .map_err(|_| KeyError::NotBase64)?;
        if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&bytes.len()) {
            return Err(KeyError::Length(bytes.len()));
        }
        Ok(SigningKey(bytes))
    }

    /// `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        use aws_lc_rs::hmac;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
    }
}

/// The `webhook-signature` header: one `v1,` entry per key, in the order given (the current key
/// first), separated by single spaces.
pub fn signature_header(keys: &[&SigningKey], id: &str, timestamp: i64, body: &[u8]) -> String {
    keys.iter()
        .map(|k| k.sign(id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published test vector (also in the spec authors' libraries' tests).
    const VECTOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const VECTOR_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const VECTOR_TIMESTAMP: i64 = 1_614_265_330;
    const VECTOR_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const VECTOR_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_standard_webhooks_test_vector() {
        let key = SigningKey::parse(VECTOR_SECRET).unwrap();
        assert_eq!(
            key.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY),
            VECTOR_SIGNATURE
        );
        // The bare base64 is the same key.
        assert_eq!(
            SigningKey::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            key
        );
    }

    #[test]
    fn matches_an_independent_hmac_implementation() {
        use hmac::{KeyInit, Mac};
        let raw = [7u8; 32];
        let key = SigningKey::parse(&format!("whsec_{}", STANDARD.encode(raw))).unwrap();
        let body = br#"{"type":"identity_verification.status_changed"}"#;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&raw).unwrap();
        mac.update(b"evt_1.1700000000.");
        mac.update(body);
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(key.sign("evt_1", 1_700_000_000, body), expected);
    }

    #[test]
    fn two_keys_give_two_space_separated_entries_current_first() {
        let a = SigningKey::parse(VECTOR_SECRET).unwrap();
        let b = SigningKey::parse(&format!("whsec_{}", STANDARD.encode([1u8; 32]))).unwrap();
        let header = signature_header(&[&b, &a], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY);
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], b.sign(VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY));
        assert_eq!(entries[1], VECTOR_SIGNATURE);
    }

    #[test]
    fn generated_alphanumeric_secrets_and_padding_variants_parse() {
        // What the template's GenerateSecretString produces: 48 letters and digits.
        let generated = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4";
        assert_eq!(generated.len(), 48);
        assert!(SigningKey::parse(generated).is_ok());
        let unpadded = STANDARD_NO_PAD.encode([9u8; 25]);
        assert!(SigningKey::parse(&format!("whsec_{unpadded}")).is_ok());
    }

    #[test]
    fn short_or_garbled_secrets_are_refused() {
        assert_eq!(
            SigningKey::parse(&format!("whsec_{}", STANDARD.encode([1u8; 16]))),
            Err(KeyError::Length(16))
        );
        assert_eq!(
            SigningKey::parse("whsec_not base64!"),
            Err(KeyError::NotBase64)
        );
        assert_eq!(SigningKey::parse(""), Err(KeyError::Length(0)));
        assert_eq!(
            format!("{:?}", SigningKey::parse(VECTOR_SECRET).unwrap()),
            "SigningKey(..)"
        );
    }
}
