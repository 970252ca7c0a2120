use super::*;

#[test]
fn the_description_catches_a_wrong_body() {
    let ok = json!({"error": {"code": "session_not_found", "message": "session not found", "request_id": "r-1"}});
    check("GET", "/sessions/{id}", 404, &http::HeaderMap::new(), &ok);
    let wrong = std::panic::catch_unwind(|| {
        check(
            "GET",
            "/sessions/{id}",
            404,
            &http::HeaderMap::new(),
            &json!({"error": "nope"}),
        )
    });
    assert!(wrong.is_err());
    let undocumented = std::panic::catch_unwind(|| {
        check("GET", "/sessions/{id}", 418, &http::HeaderMap::new(), &ok)
    });
    assert!(undocumented.is_err());
}

#[test]
fn retryable_answers_need_retry_after() {
    let body =
        json!({"error": {"code": "store_unavailable", "message": "retry", "request_id": ""}});
    let missing =
        std::panic::catch_unwind(|| check("GET", "/sessions", 503, &http::HeaderMap::new(), &body));
    assert!(missing.is_err());
    let mut h = http::HeaderMap::new();
    h.insert("retry-after", http::HeaderValue::from_static("1"));
    check("GET", "/sessions", 503, &h, &body);
}

#[test]
fn error_bodies_need_a_request_id_and_a_known_code() {
    let h = http::HeaderMap::new();
    for bad in [
        json!({"error": {"code": "session_not_found", "message": "session not found"}}),
        json!({"error": {"code": "no_such_code", "message": "?", "request_id": "r"}}),
    ] {
        let refused = std::panic::catch_unwind(|| check("GET", "/sessions/{id}", 404, &h, &bad));
        assert!(refused.is_err(), "{bad}");
    }
}

/// The error schema's `code` enum is exactly the catalogue the handlers answer from.
#[test]
fn the_code_enum_is_the_catalogue() {
    use std::collections::BTreeSet;
    let doc = document();
    let yaml: BTreeSet<&str> = doc
        .pointer("/components/schemas/Error/properties/error/properties/code/enum")
        .and_then(Value::as_array)
        .expect("an enum of codes in the Error schema")
        .iter()
        .map(|v| v.as_str().expect("codes are strings"))
        .collect();
    let code: BTreeSet<&str> = shared::http::ApiError::ALL_CODES
        .iter()
        .map(|c| c.as_str())
        .collect();
    let missing: Vec<_> = code.difference(&yaml).collect();
    let extra: Vec<_> = yaml.difference(&code).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "shared/openapi.yaml lacks {missing:?} and lists {extra:?}, which no answer carries"
    );
    let required = doc
        .pointer("/components/schemas/Error/properties/error/required")
        .and_then(Value::as_array)
        .expect("required");
    assert!(required.contains(&json!("request_id")), "{required:?}");
}

/// functions/README.md's error table has one row per code, with the code's status.
#[test]
fn the_readme_table_lists_every_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions/README.md");
    let readme = std::fs::read_to_string(path).expect("functions/README.md");
    let section = readme
        .split("\n### Error codes\n")
        .nth(1)
        .expect("functions/README.md has a section `### Error codes`");
    let section = section.split("\n#").next().unwrap_or(section);
    let mut rows = std::collections::BTreeMap::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `code` | status | meaning | what the caller should do |
        if cells.len() == 6
            && let Some(code) = cells[1].strip_prefix('`').and_then(|c| c.strip_suffix('`'))
            && let Ok(status) = cells[2].parse::<u16>()
        {
            assert!(
                rows.insert(code.to_owned(), status).is_none(),
                "{code} twice"
            );
        }
    }
    for c in shared::http::ApiError::ALL_CODES {
        assert_eq!(
            rows.remove(c.as_str()),
            Some(c.status()),
            "functions/README.md's error table: {c} should be a row with status {}",
            c.status()
        );
    }
    assert!(
        rows.is_empty(),
        "functions/README.md lists unknown codes: {rows:?}"
    );
}

/// API Gateway's own answers (`{"message"}`, before any function runs) are documented for the
/// statuses it gives them: 401 (authorizer), 404 (no route), 429 (throttling, no Retry-After).
#[test]
fn api_gateway_bodies_are_documented_beside_ours() {
    let none = http::HeaderMap::new();
    check(
        "POST",
        "/sessions",
        401,
        &none,
        &json!({"message": "Unauthorized"}),
    );
    check(
        "GET",
        "/sessions/{id}",
        404,
        &none,
        &json!({"message": "Not Found"}),
    );
    check(
        "GET",
        "/sessions",
        429,
        &none,
        &json!({"message": "Too Many Requests"}),
    );
    check(
        "POST",
        "/webhooks/plaid",
        429,
        &none,
        &json!({"message": "Too Many Requests"}),
    );
    // Not a shape either side answers with.
    let mixed = std::panic::catch_unwind(|| {
        check(
            "POST",
            "/sessions",
            401,
            &none,
            &json!({"message": "x", "error": {}}),
        )
    });
    assert!(mixed.is_err());
    // Our own 429 still needs Retry-After.
    let ours =
        json!({"error": {"code": "rate_limited", "message": "slow down", "request_id": "r"}});
    let missing = std::panic::catch_unwind(|| check("GET", "/sessions/{id}", 429, &none, &ours));
    assert!(missing.is_err());
    let mut h = http::HeaderMap::new();
    h.insert("retry-after", http::HeaderValue::from_static("5"));
    check("GET", "/sessions/{id}", 429, &h, &ours);
}
