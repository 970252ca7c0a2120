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
