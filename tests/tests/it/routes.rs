//! One route table: `shared/openapi.yaml` describes exactly the routes of
//! `shared::http::route::ROUTES`, each with the authorization it has there (a JWT bearer token or
//! none). The template and the local router are held to the same table by the template checks
//! (tests/tests/it/template/).

use serde_json::{Value, json};
use shared::http::route::{Authorizer, ROUTES};
use std::collections::BTreeMap;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("shared/openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("shared/openapi.yaml is YAML")
}

/// What an operation's `security` (else the document's) asks for: `Some(Jwt)` for the bearer
/// scheme alone, `Some(None)` for `[]`, `None` (with the reason) for anything else.
fn authorization(doc: &Value, op: &Value) -> Result<Authorizer, String> {
    let security = op.get("security").unwrap_or(&doc["security"]);
    let Some(requirements) = security.as_array() else {
        return Err("no security requirement".into());
    };
    if requirements.is_empty() {
        return Ok(Authorizer::None);
    }
    let names: Vec<&String> = requirements
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|r| r.keys())
        .collect();
    let bearer = |name: &String| {
        let scheme = &doc["components"]["securitySchemes"][name.as_str()];
        scheme["type"] == "http" && scheme["scheme"] == "bearer"
    };
    if requirements.len() == 1 && names.len() == 1 && bearer(names[0]) {
        Ok(Authorizer::Jwt)
    } else {
        Err(format!(
            "security {security} is not the one JWT bearer scheme"
        ))
    }
}

/// Differences between the OpenAPI document's operations and `ROUTES`.
fn check_openapi(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut described: BTreeMap<String, Authorizer> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let key = format!("{} {path}", method.to_ascii_uppercase());
            match authorization(doc, op) {
                Ok(a) => {
                    described.insert(key, a);
                }
                Err(why) => problems.push(format!("{key}: {why}")),
            }
        }
    }
    for r in ROUTES {
        match described.remove(r.key) {
            None => problems.push(format!("{} is not in shared/openapi.yaml", r.key)),
            Some(a) if a != r.authorizer => problems.push(format!(
                "{}: shared/openapi.yaml says {a:?}, the route table {:?}",
                r.key, r.authorizer
            )),
            Some(_) => {}
        }
    }
    for key in described.keys() {
        problems.push(format!("{key} is described but not in the route table"));
    }
    problems
}

#[test]
fn the_openapi_file_describes_exactly_the_route_table() {
    let problems = check_openapi(&openapi());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn assert_caught(problems: Vec<String>, needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "expected a problem naming {needle:?}, got {problems:?}"
    );
}

#[test]
fn catches_a_route_missing_extra_or_authorized_otherwise() {
    let mut doc = openapi();
    doc["paths"]["/sessions/{id}/link-token"]
        .as_object_mut()
        .unwrap()
        .remove("post");
    assert_caught(
        check_openapi(&doc),
        "POST /sessions/{id}/link-token is not in shared/openapi.yaml",
    );

    let mut doc = openapi();
    doc["paths"]["/sessions/{id}"]["delete"] = json!({ "responses": {} });
    assert_caught(
        check_openapi(&doc),
        "DELETE /sessions/{id} is described but not in the route table",
    );

    let mut doc = openapi();
    doc["paths"]["/webhooks/plaid"]["post"]
        .as_object_mut()
        .unwrap()
        .remove("security");
    assert_caught(
        check_openapi(&doc),
        "POST /webhooks/plaid: shared/openapi.yaml says Jwt",
    );

    let mut doc = openapi();
    doc["paths"]["/sessions"]["get"]["security"] = json!([]);
    assert_caught(
        check_openapi(&doc),
        "GET /sessions: shared/openapi.yaml says None",
    );

    let mut doc = openapi();
    doc["paths"]["/sessions"]["get"]["security"] = json!([{ "apiKey": [] }]);
    assert_caught(check_openapi(&doc), "GET /sessions: security");
}
