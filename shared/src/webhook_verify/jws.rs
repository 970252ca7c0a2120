//! Parsing of the compact JWS in `Plaid-Verification`, before anything in it is trusted.
//!
//! Everything that can be rejected without a key is rejected here, so that a forged or broken
//! token never costs a call to Plaid: the shape, the base64url of every segment, the JOSE
//! header (`alg` exactly `ES256`, a `kid` of the shape Plaid issues, no `crit`) and the
//! signature's length.

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
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    fn token(header: &str, payload: &str, signature: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header.as_bytes()),
            b64(payload.as_bytes()),
            b64(signature)
        )
    }

    const KID: &str = "bfbd5111-8e33-4643-8ced-b2e642a72f3c";
    const GOOD_HEADER: &str =
        r#"{"alg":"ES256","kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","typ":"JWT"}"#;

    fn sig64() -> [u8; 64] {
        // r = s = 1: in range, so it parses; whether it verifies is not this module's concern.
        let mut s = [0u8; 64];
        s[31] = 1;
        s[63] = 1;
        s
    }

    #[test]
    fn accepts_a_well_formed_token_and_exposes_the_exact_signing_input() {
        let t = token(GOOD_HEADER, r#"{"iat":1}"#, &sig64());
        let parsed = parse(&t).expect("well formed");
        assert_eq!(parsed.kid, KID);
        assert_eq!(parsed.payload, br#"{"iat":1}"#);
        let last_dot = t.rfind('.').expect("dot");
        assert_eq!(parsed.signing_input, &t.as_bytes()[..last_dot]);
    }

    #[test]
    fn rejects_wrong_segment_counts() {
        let t = token(GOOD_HEADER, "{}", &sig64());
        let mut segs = t.split('.');
        let (h, p, s) = (
            segs.next().expect("h"),
            segs.next().expect("p"),
            segs.next().expect("s"),
        );
        for bad in [
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            h.to_string(),
            String::new(),
            format!("{h}..{s}"),
            format!(".{p}.{s}"),
            format!("{h}.{p}."),
        ] {
            assert!(
                matches!(parse(&bad), Err(VerifyError::Malformed(_))),
                "{bad:?} was not rejected as malformed"
            );
        }
    }

    #[test]
    fn rejects_non_strict_base64url() {
        let t = token(GOOD_HEADER, "{}", &sig64());
        let (h, rest) = t.split_once('.').expect("dot");
        for bad_header in [
            format!("{h}="),         // padding
            h.replacen('J', "+", 1), // standard alphabet
            format!(" {h}"),         // whitespace
            format!("{h}*"),         // not base64 at all
        ] {
            let bad = format!("{bad_header}.{rest}");
            assert!(
                matches!(parse(&bad), Err(VerifyError::Malformed(_))),
                "{bad:?} was accepted"
            );
        }
        // "QQ" decodes to "A"; "QR" has non-zero trailing bits and must not decode to "A" too.
        assert!(URL_SAFE_NO_PAD.decode("QQ").is_ok());
        assert!(decode_segment("QR", "x").is_err());
    }

    #[test]
    fn rejects_headers_that_are_not_json_objects() {
        for header in [
            "not json",
            "[]",
            "\"ES256\"",
            "",
            "{\"alg\":\"ES256\",\"kid\":\"k\"",
        ] {
            let t = format!(
                "{}.{}.{}",
                b64(header.as_bytes()),
                b64(b"{}"),
                b64(&sig64())
            );
            assert!(
                matches!(parse(&t), Err(VerifyError::Malformed(_))),
                "{header:?} was accepted"
            );
        }
    }

    #[test]
    fn alg_must_be_exactly_es256() {
        for header in [
            r#"{"alg":"none","kid":"k1"}"#,
            r#"{"alg":"HS256","kid":"k1"}"#,
            r#"{"alg":"RS256","kid":"k1"}"#,
            r#"{"alg":"ES384","kid":"k1"}"#,
            r#"{"alg":"es256","kid":"k1"}"#,
            r#"{"alg":"ES256 ","kid":"k1"}"#,
            r#"{"alg":["ES256"],"kid":"k1"}"#,
            r#"{"alg":null,"kid":"k1"}"#,
            r#"{"kid":"k1"}"#,
        ] {
            let t = token(header, "{}", &sig64());
            assert_eq!(
                parse(&t).err(),
                Some(VerifyError::UnsupportedAlgorithm),
                "{header}"
            );
        }
    }

    #[test]
    fn duplicate_header_keys_are_refused() {
        let t = token(r#"{"alg":"none","alg":"ES256","kid":"k1"}"#, "{}", &sig64());
        assert!(matches!(parse(&t), Err(VerifyError::Malformed(_))));
    }

    #[test]
    fn kid_must_be_a_non_empty_string() {
        for header in [
            r#"{"alg":"ES256"}"#,
            r#"{"alg":"ES256","kid":""}"#,
            r#"{"alg":"ES256","kid":null}"#,
            r#"{"alg":"ES256","kid":42}"#,
        ] {
            let t = token(header, "{}", &sig64());
            assert_eq!(parse(&t).err(), Some(VerifyError::MissingKid), "{header}");
        }
    }

    #[test]
    fn kid_must_be_a_lower_case_uuid() {
        assert!(is_plaid_kid(KID));
        assert!(is_plaid_kid("00000000-0000-0000-0000-000000000000"));
        for kid in [
            "k1",
            "BFBD5111-8E33-4643-8CED-B2E642A72F3C",
            "bfbd5111-8e33-4643-8ced-b2e642a72f3C",
            "bfbd51118e3346438cedb2e642a72f3c",
            "{bfbd5111-8e33-4643-8ced-b2e642a72f3c}",
            "bfbd5111-8e33-4643-8ced-b2e642a72f3c\n",
            "bfbd5111-8e33-4643-8ced-b2e642a72f3",
            "bfbd5111-8e33-4643-8ced-b2e642a72f3cc",
            "bfbd5111-8e33-4643-8ced+b2e642a72f3c",
            "bfbd5111-8e33-4643-8ced-b2e642a72f3\u{0441}",
        ] {
            assert!(!is_plaid_kid(kid), "{kid:?}");
            let header = serde_json::json!({"alg": "ES256", "kid": kid}).to_string();
            let t = token(&header, "{}", &sig64());
            assert_eq!(parse(&t).err(), Some(VerifyError::BadKid), "{kid:?}");
        }
    }

    #[test]
    fn crit_is_refused() {
        let t = token(
            r#"{"alg":"ES256","kid":"bfbd5111-8e33-4643-8ced-b2e642a72f3c","crit":["b64"]}"#,
            "{}",
            &sig64(),
        );
        assert!(matches!(parse(&t), Err(VerifyError::Malformed(_))));
    }

    #[test]
    fn signature_must_be_64_bytes_in_range() {
        for sig in [
            vec![1u8; 63],
            vec![1u8; 65],
            vec![0x30u8; 71],
            vec![0u8; 64],
        ] {
            let t = token(GOOD_HEADER, "{}", &sig);
            assert_eq!(parse(&t).err(), Some(VerifyError::BadSignature));
        }
    }

    #[test]
    fn oversized_tokens_are_refused_before_decoding() {
        let big = "A".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(parse(&big), Err(VerifyError::Malformed(_))));
    }
}
