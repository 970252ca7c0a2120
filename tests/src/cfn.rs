//! Reading the CloudFormation template (`infra/template.yaml`): one reader for every test and
//! tool that looks at it (the local table, the template checks, the log-level check). YAML
//! becomes JSON with CloudFormation's short-form tags (`!Ref`, `!GetAtt`, `!Sub`…) in their
//! long forms, so readers see one shape whichever form the template uses; and the ways of
//! walking it they share (resources, SAM's function globals, policy statements).

use serde_json::{Map, Value, json};
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use std::path::Path;

/// The template at `path` as JSON with long-form intrinsics; the reason when it cannot be read
/// or is not YAML.
pub fn read(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    parse(&text)
}

/// A template's text as JSON with long-form intrinsics.
pub fn parse(text: &str) -> Result<Value, String> {
    let yaml: Yaml = serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    Ok(to_json(&yaml))
}

/// This workspace's template (`infra/template.yaml`); panics when it cannot be read, as a test
/// would.
pub fn workspace_template() -> Value {
    let path = crate::localstack::template_path();
    read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn key_string(k: &Yaml) -> String {
    match k {
        Yaml::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// `!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` →
/// `{"Fn::Sub": s}` and so on, so that the checks see one shape whichever form the template uses.
pub fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Mapping(m) => {
            Value::Object(m.iter().map(|(k, v)| (key_string(k), to_json(v))).collect())
        }
        Yaml::Tagged(t) => {
            let tag = t.tag.to_string();
            let name = tag.trim_start_matches('!');
            let inner = to_json(&t.value);
            match (name, inner) {
                ("Ref", v) => json!({ "Ref": v }),
                ("Condition", v) => json!({ "Condition": v }),
                ("GetAtt", Value::String(s)) => match s.split_once('.') {
                    Some((resource, attr)) => json!({ "Fn::GetAtt": [resource, attr] }),
                    None => json!({ "Fn::GetAtt": s }),
                },
                (other, v) => {
                    let mut m = Map::new();
                    m.insert(format!("Fn::{other}"), v);
                    Value::Object(m)
                }
            }
        }
    }
}

pub fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().expect("Resources is a mapping")
}

pub fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .map(|(k, r)| (k.as_str(), r))
        .collect()
}

pub fn functions(t: &Value) -> Vec<(&str, &Value)> {
    resources_of_type(t, "AWS::Serverless::Function")
}

pub fn binary_of(f: &Value) -> Option<&str> {
    f["Metadata"]["BuildProperties"]["Binary"].as_str()
}

/// A function property as SAM resolves it: the function's own value, else `Globals.Function`.
pub fn fn_prop<'a>(t: &'a Value, f: &'a Value, key: &str) -> Option<&'a Value> {
    f["Properties"]
        .get(key)
        .or_else(|| t["Globals"]["Function"].get(key))
}

/// Environment variables as SAM merges them: globals first, the function's own win.
pub fn env_of(t: &Value, f: &Value) -> BTreeMap<String, Value> {
    let mut env = BTreeMap::new();
    for source in [
        &t["Globals"]["Function"]["Environment"]["Variables"],
        &f["Properties"]["Environment"]["Variables"],
    ] {
        if let Some(vars) = source.as_object() {
            for (k, v) in vars {
                env.insert(k.clone(), v.clone());
            }
        }
    }
    env
}

pub fn function_by_binary<'a>(t: &'a Value, bin: &str) -> Option<&'a Value> {
    functions(t)
        .into_iter()
        .find(|(_, f)| binary_of(f) == Some(bin))
        .map(|(_, f)| f)
}

pub fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(as_strings).collect(),
        _ => Vec::new(),
    }
}

pub fn is_no_value(v: &Value) -> bool {
    v == &json!({ "Ref": "AWS::NoValue" })
}

/// Statements of a policy document, with `Fn::If` alternatives flattened: a statement behind a
/// condition is still granted in some deployment, so each branch is checked.
pub fn statements(doc: &Value) -> Vec<Value> {
    fn flatten(v: &Value, out: &mut Vec<Value>) {
        if let Some(branches) = v.get("Fn::If").and_then(Value::as_array) {
            for b in branches.iter().skip(1) {
                flatten(b, out);
            }
        } else if let Some(items) = v.as_array() {
            for i in items {
                flatten(i, out);
            }
        } else if v.is_object() && !is_no_value(v) {
            out.push(v.clone());
        }
    }
    let mut out = Vec::new();
    flatten(&doc["Statement"], &mut out);
    out
}

pub fn resource_list(stmt: &Value) -> Vec<Value> {
    match &stmt["Resource"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

#[cfg(test)]
mod tests;
