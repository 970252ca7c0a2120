//! Our own OpenAPI description (`shared/openapi.yaml`), used to judge every answer a handler
//! gives in the tests: the description stays true because every test checks it.

use serde_json::{Value, json};
use std::sync::OnceLock;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("shared/openapi.yaml");
        serde_yaml_ng::from_str(&text).expect("shared/openapi.yaml is YAML")
    })
}

fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => v,
    }
}

/// Check an answer against the description of `method path_template` (e.g. `GET
/// /sessions/{id}`): the status must be documented, the body must match its schema, and a
/// documented required header must be present. Panics with the reasons otherwise.
pub fn check(
    method: &str,
    path_template: &str,
    status: u16,
    headers: &http::HeaderMap,
    body: &Value,
) {
    let doc = document();
    let op = &doc["paths"][path_template][method.to_ascii_lowercase()];
    assert!(
        op.is_object(),
        "{method} {path_template} is not in shared/openapi.yaml"
    );
    let response = op["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path_template} answered {status}, which shared/openapi.yaml does not document: {body}"));
    let response = resolve(doc, response);
    if let Some(hs) = response.get("headers").and_then(Value::as_object) {
        for (name, h) in hs {
            // `x-required-with: KEY`: required when the body has top-level KEY (our 429 always
            // carries Retry-After; API Gateway's own `{"message"}` 429 does not).
            let required_here = h.get("required").and_then(Value::as_bool) == Some(true)
                || h.get("x-required-with")
                    .and_then(Value::as_str)
                    .is_some_and(|key| body.get(key).is_some());
            if required_here {
                assert!(
                    headers.contains_key(name.as_str()),
                    "{method} {path_template} {status}: missing header {name}"
                );
            }
        }
    }
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        schema.is_object(),
        "{method} {path_template} {status}: no JSON schema documented"
    );
    let mut root = schema.clone();
    root["components"] = doc["components"].clone();
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    let validator = jsonschema::validator_for(&root).expect("a valid JSON schema");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path_template} {status}: body does not match shared/openapi.yaml: {errors:?}\n{body}"
    );
}

#[cfg(test)]
mod tests;
