//! Parsing of the compact JWS in `Plaid-Verification`, before anything in it is trusted.
//!
//! Everything that can be rejected without a key is rejected here, so that a forged or broken
//! token never costs a call to Plaid: the shape, the base64url of every segment, the JOSE
//! header (`alg` exactly `ES256`, a `kid` of the shape Plaid issues, no `crit`) and the
//! signature's length.
//!
//! # Why not `jsonwebtoken`
//!
//! Measured against `jsonwebtoken` 10.4 with its `aws_lc_rs` feature (the same aws-lc-rs
//! ECDSA underneath) in one scratch build, December 2026: the crate doing the JWS part (header,
//! `alg`, signature, claims deserialisation) behind the same key cache, freshness and body-hash
//! checks, which it has no equivalent for and which stay ours either way.
//!
//! * Size: +104 KB, 1,691,480 against 1,587,240 bytes for two otherwise identical binaries
//!   (release profile: LTO, `opt-level = "s"`, stripped; x86_64). About 1.5 % of a bootstrap, on
//!   a 6.5 MB budget we are already over.
//! * Verify time: no gain. Per warm verification 3.56 M instructions against our 3.48 M (+2.5 %,
//!   callgrind over 200 verifications); the wall clock ties (median ratio 0.96 and 1.00 in two
//!   interleaved runs, on a loaded machine). `jsonwebtoken` parses the header twice and
//!   re-parses the public key on every call, where our cache keeps it parsed.
//! * Init: the first verification costs it 56 k instructions more (10.08 M against 10.02 M for
//!   the whole process), nothing to win there either.
//! * Strictness: our attack tests run against it (verifier/tests.rs swapped onto it) pass only
//!   where it rejects for a different reason. It accepts a header listing `crit` (RFC 7515
//!   §4.1.11 says reject), accepts tokens of any length (a 5 KB `typ` verified), and has no
//!   `kid` rule, so upper-case or 5,000-character `kid`s and ES256 tokens with a 32-byte
//!   signature or a truncated payload are refused only after a key lookup: forged traffic that
//!   reaches Plaid and spends the new-`kid` fetch budget. `alg` confusion (`none`, `HS256`
//!   keyed with the public key, `es256`, other algorithms) and duplicate header or claim keys it
//!   refuses as we do.
//!
//! So the hand-written parser stays: it is smaller, no slower, and stricter where it matters.

use super::VerifyError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::Value;

/// Upper bound on the header value. Plaid's tokens are about 400 bytes; anything near this is
/// not Plaid, and the bound caps the work (base64, JSON) an unauthenticated caller can cause.
pub const MAX_TOKEN_LEN: usize = 4096;

/// The only algorithm accepted. Compared byte for byte: `es256` is not ES256 (RFC 7518 names
/// are case-sensitive), and anything else is an algorithm-confusion attempt.
pub const ALGORITHM: &str = "ES256";

/// A token whose structure is sound and whose header asks for ES256 with a `kid`.
/// The claims are still untrusted: read them only after [`ParsedToken::signature`] verified.
#[derive(Debug)]
pub struct ParsedToken<'a> {
    pub kid: String,
    /// `<header b64>.<payload b64>`, the exact ASCII the signature covers.
    pub signing_input: &'a [u8],
    pub payload: Vec<u8>,
    /// The fixed-size ES256 signature, r‖s.
    pub signature: [u8; 64],
}

/// The JOSE header fields we act on. `Value` rather than typed fields so that a wrong type
/// (`"alg": 1`) is told apart from a missing field, and serde still rejects duplicate keys,
/// which closes the door on parser differentials (`{"alg":"none","alg":"ES256"}`).
#[derive(Deserialize)]
struct RawHeader {
    #[serde(default)]
    alg: Option<Value>,
    #[serde(default)]
    kid: Option<Value>,
    /// RFC 7515 §4.1.11: a recipient that does not understand a listed extension must reject
    /// the token. We understand none, and Plaid sends none.
    #[serde(default)]
    crit: Option<Value>,
}

pub fn parse(token: &str) -> Result<ParsedToken<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(VerifyError::Malformed("token is too long"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(VerifyError::Malformed(
            "token is not three dot-separated segments",
        ));
    };
    if header_b64.is_empty() || payload_b64.is_empty() || signature_b64.is_empty() {
        return Err(VerifyError::Malformed("token has an empty segment"));
    }

    let header_json = decode_segment(header_b64, "header is not base64url")?;
    let header: RawHeader =
        json_object(&header_json).ok_or(VerifyError::Malformed("header is not a JSON object"))?;
    match &header.alg {
        Some(Value::String(alg)) if alg == ALGORITHM => {}
        _ => return Err(VerifyError::UnsupportedAlgorithm),
    }
    let kid = match header.kid {
        Some(Value::String(kid)) if !kid.is_empty() => kid,
        _ => return Err(VerifyError::MissingKid),
    };
    if !is_plaid_kid(&kid) {
        return Err(VerifyError::BadKid);
    }
    if header.crit.is_some() {
        return Err(VerifyError::Malformed("header lists critical extensions"));
    }

    let payload = decode_segment(payload_b64, "payload is not base64url")?;
    let signature_bytes = decode_segment(signature_b64, "signature is not base64url")?;
    // JOSE ES256 is the fixed 64-byte r||s (RFC 7518 §3.4). A DER signature (70-72 bytes) is
    // what a generic ECDSA library would emit, never what a JOSE signer sends.
    if signature_bytes.len() != 64 {
        return Err(VerifyError::BadSignature);
    }
    // Rejects r or s equal to zero or not below the group order.
    let mut signature = [0u8; 64];
    signature.copy_from_slice(&signature_bytes);
    // r = 0 or s = 0 can never verify; refuse them here. The full range check (< n) is the
    // verifier's.
    if signature[..32].iter().all(|b| *b == 0) || signature[32..].iter().all(|b| *b == 0) {
        return Err(VerifyError::BadSignature);
    }

    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    Ok(ParsedToken {
        kid,
        signing_input: &token.as_bytes()[..signing_input_len],
        payload,
        signature,
    })
}

/// True for the one spelling of a key id Plaid issues: a UUID in its canonical text form,
/// lower case, `8-4-4-4-12` hex digits (`bfbd5111-8e33-4643-8ced-b2e642a72f3c`, as in Plaid's
/// spec and every key it has served). Upper-case hex, braces, `urn:uuid:`, missing hyphens and
/// whitespace are refused: Plaid does not send them, RFC 9562 has UUIDs written in lower case,
/// and one spelling per key means a forger cannot split one real `kid` into many cache entries.
/// The version and variant digits are not checked: Plaid does not promise a UUID version.
pub fn is_plaid_kid(kid: &str) -> bool {
    let b = kid.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => matches!(c, b'0'..=b'9' | b'a'..=b'f'),
        })
}

/// A JSON object into `T`. serde would also fill a struct from a JSON array (`[]`), which no
/// JOSE header or claim set is; the first byte rules that out.
pub fn json_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

/// Strict unpadded base64url: `=` padding, the standard alphabet (`+`, `/`), whitespace and
/// non-zero trailing bits are all refused, so one token has exactly one byte decoding.
fn decode_segment(segment: &str, what: &'static str) -> Result<Vec<u8>, VerifyError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| VerifyError::Malformed(what))
}

#[cfg(test)]
mod tests;
