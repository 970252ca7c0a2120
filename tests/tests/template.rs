//! Checks on `infra/template.yaml` that cfn-lint and `sam validate` cannot make: the template
//! deploys exactly the binaries the workspace builds, routes and authorizes exactly the design's
//! API, grants each function only the DynamoDB actions its code performs, gives the functions an
//! environment the real `Config` parser accepts, and keeps local-only switches out of the cloud.
//!
//! Every check returns the list of problems it found; the `catches_*` tests break a copy of the
//! template on purpose and assert that the check notices, so no check passes vacuously. The
//! other direction, that the grants cover what the code asks of DynamoDB, is checked by running
//! every function's paths against moto through a call-counting store.

use serde_json::{Map, Value, json};
use serde_yaml_ng::Value as Yaml;
use shared::config::Config;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the repository")
        .to_path_buf()
}

// ---------------------------------------------------------------------------------------------
// Loading: CloudFormation YAML into JSON with long-form intrinsics.
// ---------------------------------------------------------------------------------------------

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
fn to_json(y: &Yaml) -> Value {
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

fn load_template() -> Value {
    let path = repo_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let yaml: Yaml = serde_yaml_ng::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
    to_json(&yaml)
}

/// Cargo's own view of the workspace: `(package manifest path, bin target name)`.
fn workspace_bins() -> Vec<(PathBuf, String)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .arg("--manifest-path")
        .arg(repo_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut bins = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let manifest = PathBuf::from(pkg["manifest_path"].as_str().unwrap_or_default());
        for target in pkg["targets"].as_array().into_iter().flatten() {
            let is_bin = target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if is_bin {
                bins.push((
                    manifest.clone(),
                    target["name"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    bins
}

/// The Lambda binaries: every bin target of a package under `functions/`.
fn lambda_bins() -> BTreeSet<String> {
    let functions_dir = repo_root().join("functions");
    workspace_bins()
        .into_iter()
        .filter(|(manifest, _)| manifest.starts_with(&functions_dir))
        .map(|(_, name)| name)
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Template navigation.
// ---------------------------------------------------------------------------------------------

fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().expect("Resources is a mapping")
}

fn resources_of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    resources(t)
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .map(|(k, r)| (k.as_str(), r))
        .collect()
}

fn functions(t: &Value) -> Vec<(&str, &Value)> {
    resources_of_type(t, "AWS::Serverless::Function")
}

fn binary_of(f: &Value) -> Option<&str> {
    f["Metadata"]["BuildProperties"]["Binary"].as_str()
}

/// A function property as SAM resolves it: the function's own value, else `Globals.Function`.
fn fn_prop<'a>(t: &'a Value, f: &'a Value, key: &str) -> Option<&'a Value> {
    f["Properties"]
        .get(key)
        .or_else(|| t["Globals"]["Function"].get(key))
}

/// Environment variables as SAM merges them: globals first, the function's own win.
fn env_of(t: &Value, f: &Value) -> BTreeMap<String, Value> {
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

fn function_by_binary<'a>(t: &'a Value, bin: &str) -> Option<&'a Value> {
    functions(t)
        .into_iter()
        .find(|(_, f)| binary_of(f) == Some(bin))
        .map(|(_, f)| f)
}

fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().flat_map(as_strings).collect(),
        _ => Vec::new(),
    }
}

fn is_no_value(v: &Value) -> bool {
    v == &json!({ "Ref": "AWS::NoValue" })
}

/// Statements of a policy document, with `Fn::If` alternatives flattened: a statement behind a
/// condition is still granted in some deployment, so each branch is checked.
fn statements(doc: &Value) -> Vec<Value> {
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

fn resource_list(stmt: &Value) -> Vec<Value> {
    match &stmt["Resource"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

// ---------------------------------------------------------------------------------------------
// The checks.
// ---------------------------------------------------------------------------------------------

const SESSIONS_TABLE: &str = "SessionsTable";

/// Every function builds a real workspace binary through cargo-lambda for Graviton, and every
/// binary under `functions/` is deployed by exactly one function.
fn check_binaries(t: &Value, bins: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut deployed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, f) in functions(t) {
        if f["Metadata"]["BuildMethod"] != "rust-cargolambda" {
            problems.push(format!(
                "{id}: Metadata.BuildMethod is not rust-cargolambda"
            ));
        }
        match binary_of(f) {
            Some(bin) if bins.contains(bin) => deployed
                .entry(bin.to_owned())
                .or_default()
                .push(id.to_owned()),
            Some(bin) => problems.push(format!(
                "{id}: Binary {bin:?} is not a bin under functions/"
            )),
            None => problems.push(format!("{id}: no Metadata.BuildProperties.Binary")),
        }
        if fn_prop(t, f, "Runtime") != Some(&json!("provided.al2023")) {
            problems.push(format!("{id}: Runtime is not provided.al2023"));
        }
        if fn_prop(t, f, "Architectures") != Some(&json!(["arm64"])) {
            problems.push(format!("{id}: Architectures is not [arm64]"));
        }
        if fn_prop(t, f, "Handler") != Some(&json!("bootstrap")) {
            problems.push(format!("{id}: Handler is not bootstrap"));
        }
        // sam build runs `cargo lambda build --bin <Binary>` in CodeUri: it must be the workspace.
        match fn_prop(t, f, "CodeUri").and_then(Value::as_str) {
            Some(uri) => {
                let dir = repo_root().join("infra").join(uri);
                let same = dir.canonicalize().ok() == repo_root().canonicalize().ok();
                if !same {
                    problems.push(format!("{id}: CodeUri {uri:?} is not the workspace root"));
                }
            }
            None => problems.push(format!("{id}: no CodeUri")),
        }
    }
    for bin in bins {
        match deployed.get(bin).map(Vec::len) {
            Some(1) => {}
            Some(n) => problems.push(format!("binary {bin} is deployed by {n} functions")),
            None => problems.push(format!("binary {bin} has no function")),
        }
    }
    problems
}

const JWT: &str = "jwt";
const NO_AUTH: &str = "none";

/// The design's routes: (method, path) → (binary, authorization).
fn expected_routes() -> BTreeMap<(String, String), (String, String)> {
    [
        ("POST", "/sessions", "create-session", JWT),
        ("GET", "/sessions", "get-session", JWT),
        ("GET", "/sessions/{id}", "get-session", JWT),
        ("POST", "/sessions/{id}/link-token", "link-token", JWT),
        ("POST", "/webhooks/plaid", "webhook", NO_AUTH),
    ]
    .into_iter()
    .map(|(m, p, b, a)| ((m.into(), p.into()), (b.into(), a.into())))
    .collect()
}

/// Exactly the design's routes on one HTTP API; every /sessions route behind a JWT authorizer
/// (configured with an issuer and an audience), the webhook without one; no other way in.
fn check_routes(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let apis = resources_of_type(t, "AWS::Serverless::HttpApi");
    if apis.len() != 1 {
        return vec![format!("expected one HttpApi, found {}", apis.len())];
    }
    let (api_id, api) = apis[0];
    let auth = &api["Properties"]["Auth"];
    let authorizers = auth["Authorizers"].as_object().cloned().unwrap_or_default();
    let is_jwt = |name: &str| -> bool {
        let a = &authorizers.get(name).cloned().unwrap_or(Value::Null);
        let cfg = &a["JwtConfiguration"];
        !cfg["issuer"].is_null()
            && !cfg["audience"].is_null()
            && a["IdentitySource"] == "$request.header.Authorization"
    };
    let default_auth = auth["DefaultAuthorizer"].as_str().map(str::to_owned);

    let mut found = BTreeMap::new();
    for (id, f) in functions(t) {
        if f["Properties"].get("FunctionUrlConfig").is_some() {
            problems.push(format!(
                "{id}: a function URL bypasses the API and its authorizer"
            ));
        }
        let bin = binary_of(f).unwrap_or("?").to_owned();
        let events = f["Properties"]["Events"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (ev_id, ev) in events {
            match ev["Type"].as_str() {
                Some("HttpApi") => {}
                Some("Schedule" | "ScheduleV2") if bin == "reconcile" => continue,
                other => {
                    problems.push(format!("{id}.{ev_id}: unexpected event type {other:?}"));
                    continue;
                }
            }
            let p = &ev["Properties"];
            if p["ApiId"] != json!({ "Ref": api_id }) {
                problems.push(format!("{id}.{ev_id}: not attached to {api_id}"));
            }
            let method = p["Method"].as_str().unwrap_or("").to_ascii_uppercase();
            let path = p["Path"].as_str().unwrap_or("").to_owned();
            let authorizer = p["Auth"]["Authorizer"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| default_auth.clone());
            let kind = match authorizer.as_deref() {
                Some("NONE") | None => NO_AUTH.to_owned(),
                Some(name) if is_jwt(name) => JWT.to_owned(),
                Some(name) => format!("authorizer {name} (not a configured JWT authorizer)"),
            };
            if path.starts_with("/sessions") && kind != JWT {
                problems.push(format!("{method} {path} is not behind the JWT authorizer"));
            }
            if found
                .insert((method.clone(), path.clone()), (bin.clone(), kind))
                .is_some()
            {
                problems.push(format!("{method} {path} is routed twice"));
            }
        }
    }
    let expected = expected_routes();
    for (route, want) in &expected {
        match found.get(route) {
            None => problems.push(format!("missing route {} {}", route.0, route.1)),
            Some(got) if got != want => problems.push(format!(
                "{} {}: got {got:?}, expected {want:?}",
                route.0, route.1
            )),
            Some(_) => {}
        }
    }
    for route in found.keys().filter(|r| !expected.contains_key(*r)) {
        problems.push(format!(
            "route {} {} is not in the design",
            route.0, route.1
        ));
    }

    // reconcile runs on a schedule, by default every 10 minutes.
    match function_by_binary(t, "reconcile") {
        Some(f) => {
            let schedule = f["Properties"]["Events"]
                .as_object()
                .into_iter()
                .flat_map(|e| e.values())
                .find(|e| matches!(e["Type"].as_str(), Some("Schedule" | "ScheduleV2")));
            match schedule {
                None => problems.push("reconcile has no Schedule event".into()),
                Some(ev) => {
                    let expr = resolve(t, &ev["Properties"]["Schedule"])
                        .or_else(|| resolve(t, &ev["Properties"]["ScheduleExpression"]));
                    if expr.as_deref() != Some("rate(10 minutes)") {
                        problems.push(format!("reconcile default schedule is {expr:?}"));
                    }
                }
            }
        }
        None => problems.push("no reconcile function".into()),
    }
    problems
}

/// A DynamoDB action on the sessions table, as `expected_dynamo` lists it.
fn table_action(action: &str) -> (String, String) {
    (format!("dynamodb:{action}"), "table".to_owned())
}

/// A Query of one of the table's indexes, as `expected_dynamo` lists it.
fn index_query(index: &str) -> (String, String) {
    ("dynamodb:Query".to_owned(), format!("index/{index}"))
}

/// DynamoDB grants per binary: (action, "table" | "index/<name>").
fn expected_dynamo() -> BTreeMap<&'static str, BTreeSet<(String, String)>> {
    let (t, q) = (table_action, index_query);
    BTreeMap::from([
        (
            "create-session",
            BTreeSet::from([
                t("GetItem"),
                t("PutItem"),
                t("UpdateItem"),
                q("by_user_template"),
            ]),
        ),
        (
            "link-token",
            BTreeSet::from([t("GetItem"), t("UpdateItem")]),
        ),
        (
            "get-session",
            BTreeSet::from([
                t("GetItem"),
                t("PutItem"),
                t("UpdateItem"),
                q("by_user"),
                q("by_user_template"),
            ]),
        ),
        ("webhook", BTreeSet::from([t("PutItem"), t("UpdateItem")])),
        (
            "reconcile",
            BTreeSet::from([t("UpdateItem"), q("open_sessions")]),
        ),
    ])
}

/// What a DynamoDB resource expression points at, if it is the sessions table or one of its
/// indexes.
fn dynamo_target(resource: &Value) -> Option<String> {
    if resource == &json!({ "Fn::GetAtt": [SESSIONS_TABLE, "Arn"] }) {
        return Some("table".into());
    }
    let sub = resource.get("Fn::Sub")?.as_str()?;
    let index = sub.strip_prefix(&format!("${{{SESSIONS_TABLE}.Arn}}/index/"))?;
    (!index.is_empty() && !index.contains(['*', '$', '/'])).then(|| format!("index/{index}"))
}

/// Least privilege: inline statements only, no wildcard actions, no `Resource: "*"` for data
/// or secrets, exactly the DynamoDB actions each function's code uses, and only the Plaid secret.
fn check_iam(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let expected = expected_dynamo();
    for (id, f) in functions(t) {
        let bin = binary_of(f).unwrap_or("?");
        if f["Properties"].get("Role").is_some() {
            problems.push(format!("{id}: an explicit Role escapes these checks"));
        }
        let secret_ref = env_of(t, f).get("PLAID_SECRET_ID").cloned();
        let mut dynamo = BTreeSet::new();
        let mut secret_grants = 0;
        for policy in as_array(fn_prop(t, f, "Policies")) {
            if policy.get("Statement").is_none() {
                problems.push(format!(
                    "{id}: policy {policy} is not an inline document (managed policies and SAM \
                     policy templates such as DynamoDBCrudPolicy grant more than the code uses)"
                ));
                continue;
            }
            for stmt in statements(&policy) {
                if stmt.get("NotAction").is_some() || stmt.get("NotResource").is_some() {
                    problems.push(format!("{id}: NotAction/NotResource in {stmt}"));
                }
                if stmt["Effect"] != "Allow" {
                    continue;
                }
                let actions = as_strings(&stmt["Action"]);
                let resources = resource_list(&stmt);
                for a in &actions {
                    if a.contains('*') {
                        problems.push(format!("{id}: wildcard action {a}"));
                    }
                }
                let sensitive = actions.iter().any(|a| {
                    ["dynamodb:", "secretsmanager:", "kms:"]
                        .iter()
                        .any(|p| a.to_ascii_lowercase().starts_with(p))
                });
                if sensitive && resources.iter().any(|r| r == "*" || r.is_null()) {
                    problems.push(format!("{id}: {actions:?} granted on Resource \"*\""));
                }
                for a in &actions {
                    let lower = a.to_ascii_lowercase();
                    if lower.starts_with("dynamodb:") {
                        for r in &resources {
                            match dynamo_target(r) {
                                Some(target) => {
                                    dynamo.insert((a.clone(), target));
                                }
                                None => {
                                    problems.push(format!("{id}: {a} on unexpected resource {r}"))
                                }
                            }
                        }
                    } else if lower.starts_with("secretsmanager:") {
                        if a != "secretsmanager:GetSecretValue" {
                            problems.push(format!("{id}: {a} (only GetSecretValue is needed)"));
                        }
                        for r in &resources {
                            if Some(r) != secret_ref.as_ref() {
                                problems.push(format!(
                                    "{id}: {a} on {r}, which is not the PLAID_SECRET_ID secret"
                                ));
                            } else {
                                secret_grants += 1;
                            }
                        }
                    } else if lower.starts_with("kms:")
                        && stmt["Condition"]["StringEquals"]
                            .get("kms:ViaService")
                            .is_none()
                    {
                        problems.push(format!("{id}: {a} without a kms:ViaService condition"));
                    }
                }
            }
        }
        match expected.get(bin) {
            Some(want) if &dynamo != want => problems.push(format!(
                "{id} ({bin}): DynamoDB grants {dynamo:?}, expected {want:?}"
            )),
            Some(_) => {}
            None => problems.push(format!(
                "{id}: no expected DynamoDB grants for binary {bin}"
            )),
        }
        // Every function calls Plaid (create, Link token, refresh, webhook re-read, reconcile).
        if secret_grants == 0 {
            problems.push(format!("{id}: cannot read the Plaid secret"));
        }
    }
    problems
}

fn as_array(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    }
}

/// The table the store code queries: key, index names and keys, TTL attribute, and the
/// properties local set-up copies verbatim, free of intrinsic functions.
fn check_table(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let table = &t["Resources"][SESSIONS_TABLE];
    if table["Type"] != "AWS::DynamoDB::Table" {
        return vec![format!("{SESSIONS_TABLE} is not an AWS::DynamoDB::Table")];
    }
    let p = &table["Properties"];
    let key = |schema: &Value| -> Vec<(String, String)> {
        schema
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| {
                (
                    k["AttributeName"].as_str().unwrap_or("").to_owned(),
                    k["KeyType"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let hr = |h: &str, r: &str| {
        vec![
            (h.to_owned(), "HASH".to_owned()),
            (r.to_owned(), "RANGE".to_owned()),
        ]
    };
    if key(&p["KeySchema"]) != vec![("id".to_owned(), "HASH".to_owned())] {
        problems.push("table key is not HASH id".into());
    }
    let want_indexes = BTreeMap::from([
        (
            "by_user_template".to_owned(),
            hr("user_template", "created_at"),
        ),
        ("by_user".to_owned(), hr("client_user_id", "created_at")),
        ("open_sessions".to_owned(), hr("open_shard", "synced_at")),
    ]);
    let got_indexes: BTreeMap<String, Vec<(String, String)>> = p["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            (
                i["IndexName"].as_str().unwrap_or("").to_owned(),
                key(&i["KeySchema"]),
            )
        })
        .collect();
    if got_indexes != want_indexes {
        problems.push(format!(
            "indexes {got_indexes:?}, expected {want_indexes:?}"
        ));
    }
    for gsi in p["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
        if gsi["Projection"]["ProjectionType"] != "ALL" {
            problems.push(format!("index {} does not project ALL", gsi["IndexName"]));
        }
    }
    let defined: BTreeMap<String, String> = p["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or("").to_owned(),
                a["AttributeType"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let key_attrs: BTreeSet<String> = std::iter::once("id".to_owned())
        .chain(want_indexes.values().flatten().map(|(a, _)| a.clone()))
        .collect();
    for a in &key_attrs {
        if defined.get(a).map(String::as_str) != Some("S") {
            problems.push(format!("key attribute {a} is not defined as S"));
        }
    }
    if p["TimeToLiveSpecification"] != json!({ "AttributeName": "ttl", "Enabled": true }) {
        problems.push("TTL is not enabled on attribute ttl".into());
    }
    if p["BillingMode"] != "PAY_PER_REQUEST" {
        problems.push("table is not on-demand".into());
    }
    if p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] != true {
        problems.push("point-in-time recovery is off".into());
    }
    if p["SSESpecification"]["SSEEnabled"] != true {
        problems.push("encryption at rest (SSESpecification.SSEEnabled) is off".into());
    }
    fn has_intrinsic(v: &Value) -> bool {
        match v {
            Value::Object(m) => m
                .iter()
                .any(|(k, v)| k == "Ref" || k.starts_with("Fn::") || has_intrinsic(v)),
            Value::Array(items) => items.iter().any(has_intrinsic),
            _ => false,
        }
    }
    for prop in [
        "AttributeDefinitions",
        "KeySchema",
        "GlobalSecondaryIndexes",
        "TimeToLiveSpecification",
        "BillingMode",
    ] {
        if has_intrinsic(&p[prop]) {
            problems.push(format!(
                "{prop} uses an intrinsic function; local set-up copies it verbatim"
            ));
        }
    }
    problems
}

/// Resolve a template value the way a deploy with default parameters would, far enough to feed
/// the real config parser: parameter defaults (or a sample for required parameters), logical
/// ids for resource references, the first branch of a condition.
fn resolve(t: &Value, v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(m) => {
            if let Some(Value::String(name)) = m.get("Ref") {
                let param = &t["Parameters"][name.as_str()];
                if param.is_object() {
                    return match &param["Default"] {
                        Value::Null => Some(sample_for(name)),
                        d => resolve(t, d),
                    };
                }
                return Some(format!("{name}-physical-id"));
            }
            if let Some(Value::Array(branches)) = m.get("Fn::If") {
                return branches.get(1).and_then(|b| resolve(t, b));
            }
            m.get("Fn::Sub").and_then(Value::as_str).map(str::to_owned)
        }
        _ => None,
    }
}

/// Values for parameters without a default, as an operator would pass them.
fn sample_for(param: &str) -> String {
    match param {
        "IdvTemplateId" => "idvtmp_4FrXJvfQU3zGUR".into(),
        "JwtIssuer" => "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example".into(),
        _ => format!("{param}-sample"),
    }
}

const REQUIRED_ENV: [&str; 4] = [
    "TABLE_NAME",
    "PLAID_SECRET_ID",
    "IDV_TEMPLATE_ID",
    "PLAID_ENV",
];

/// Local-only switches: an emulator URL, endpoint overrides, the header identity.
fn is_local_only(var: &str) -> bool {
    var == "PLAID_BASE_URL" || var == "IDV_LOCAL_IDENTITY" || var.starts_with("AWS_ENDPOINT_URL")
}

/// Each function's environment has what the code requires, nothing local-only, only variables
/// the code reads, and (with default parameters) values the real `Config` parser accepts.
fn check_env(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, f) in functions(t) {
        let env = env_of(t, f);
        for var in REQUIRED_ENV {
            if !env.contains_key(var) {
                problems.push(format!("{id}: {var} is not set"));
            }
        }
        for var in env.keys().filter(|v| is_local_only(v)) {
            problems.push(format!("{id}: sets the local-only switch {var}"));
        }
        if env.get("TABLE_NAME") != Some(&json!({ "Ref": SESSIONS_TABLE })) {
            problems.push(format!("{id}: TABLE_NAME is not the sessions table"));
        }

        let resolved: BTreeMap<&str, Option<String>> = env
            .iter()
            .map(|(k, v)| (k.as_str(), resolve(t, v).filter(|s| !s.is_empty())))
            .collect();
        let read = RefCell::new(BTreeSet::new());
        let parsed = Config::from_lookup(|k| {
            read.borrow_mut().insert(k.to_owned());
            resolved.get(k).cloned().flatten()
        });
        if let Err(e) = parsed {
            problems.push(format!("{id}: Config rejects the default environment: {e}"));
        }
        let read = read.into_inner();
        for var in env.keys().filter(|v| !read.contains(v.as_str())) {
            problems.push(format!("{id}: sets {var}, which the code never reads"));
        }
    }
    let plaid_env = &t["Parameters"]["PlaidEnv"];
    if plaid_env["AllowedValues"] != json!(["sandbox", "production"]) {
        problems.push("PlaidEnv must allow exactly sandbox and production".into());
    }
    problems
}

fn timeout(t: &Value, f: &Value) -> Option<i64> {
    fn_prop(t, f, "Timeout")
        .and_then(|v| resolve(t, v))
        .and_then(|s| s.parse().ok())
}

/// Plaid gives up on a webhook after 10 s; API calls fit in 10 s; reconcile finishes well
/// inside its 10-minute schedule.
fn check_timeouts(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, f) in functions(t) {
        let Some(secs) = timeout(t, f) else {
            problems.push(format!("{id}: no Timeout"));
            continue;
        };
        let ok = match binary_of(f) {
            Some("webhook") => secs < 10,
            Some("reconcile") => (1..600).contains(&secs),
            _ => (1..=10).contains(&secs),
        };
        if !ok {
            problems.push(format!("{id}: Timeout {secs} s is out of bounds"));
        }
    }
    problems
}

fn log_group_with_retention(t: &Value, reference: &Value) -> bool {
    let logical = reference
        .get("Ref")
        .or_else(|| reference.get("Fn::GetAtt").and_then(|g| g.get(0)))
        .and_then(Value::as_str);
    logical.is_some_and(|l| {
        let r = &t["Resources"][l];
        r["Type"] == "AWS::Logs::LogGroup" && !r["Properties"]["RetentionInDays"].is_null()
    })
}

/// JSON logs into log groups that expire; API access logs without headers, bodies or client
/// addresses. (The alarm on the webhook's rejections is an EMF metric: `check_metrics`.)
fn check_logging(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, f) in functions(t) {
        let lc = &f["Properties"]["LoggingConfig"];
        if lc["LogFormat"] != "JSON" {
            problems.push(format!("{id}: LoggingConfig.LogFormat is not JSON"));
        }
        if !log_group_with_retention(t, &lc["LogGroup"]) {
            problems.push(format!(
                "{id}: logs do not go to a log group with a retention"
            ));
        }
    }

    for (id, api) in resources_of_type(t, "AWS::Serverless::HttpApi") {
        let access = &api["Properties"]["AccessLogSettings"];
        if !log_group_with_retention(t, &access["DestinationArn"]) {
            problems.push(format!(
                "{id}: access logs do not go to a log group with a retention"
            ));
        }
        let format = access["Format"].as_str().unwrap_or("");
        match serde_json::from_str::<Map<String, Value>>(format) {
            Err(e) => problems.push(format!("{id}: access log format is not a JSON object: {e}")),
            Ok(fields) => {
                let values: Vec<&str> = fields.values().filter_map(Value::as_str).collect();
                for want in ["$context.requestId", "$context.routeKey", "$context.status"] {
                    if !values.contains(&want) {
                        problems.push(format!("{id}: access log lacks {want}"));
                    }
                }
                if !values.iter().any(|v| v.contains("Latency")) {
                    problems.push(format!("{id}: access log lacks a latency"));
                }
                for leak in [
                    "header",
                    "body",
                    "sourceIp",
                    "userAgent",
                    "claims",
                    "identity",
                ] {
                    if values.iter().any(|v| v.contains(leak)) {
                        problems.push(format!("{id}: access log records {leak}"));
                    }
                }
            }
        }
    }

    problems
}

/// The webhook route and function may be flooded by anyone on the internet (issue #12).
const WEBHOOK_ROUTE: &str = "POST /webhooks/plaid";
const SOURCE_IPS_VAR: &str = "PLAID_WEBHOOK_SOURCE_IPS";

/// A parameter's numeric default, when `v` is `!Ref` to a Number parameter with one.
fn number_param(t: &Value, v: &Value) -> Option<(String, i64)> {
    let name = v["Ref"].as_str()?;
    let p = &t["Parameters"][name];
    if p["Type"] != "Number" {
        return None;
    }
    let default = match &p["Default"] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }?;
    Some((name.to_owned(), default))
}

/// The webhook route has a throttle of its own, tighter than the other routes', and the webhook
/// function a reserved concurrency (which also caps the per-instance key-fetch budget's total),
/// each a template parameter with a default; the webhook source allow-list is a parameter
/// given to the webhook function alone, off by default.
fn check_webhook_limits(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(webhook) = function_by_binary(t, "webhook") else {
        return vec!["no webhook function".into()];
    };
    let apis = resources_of_type(t, "AWS::Serverless::HttpApi");
    let api = apis.first().map(|(_, a)| *a).unwrap_or(&Value::Null);

    // Per-route settings: on the API keyed by route, or on the webhook's HttpApi event.
    let api_level = &api["Properties"]["RouteSettings"][WEBHOOK_ROUTE];
    let event_level = webhook["Properties"]["Events"]
        .as_object()
        .into_iter()
        .flat_map(|e| e.values())
        .find(|e| e["Type"] == "HttpApi" && e["Properties"]["Path"] == "/webhooks/plaid")
        .map(|e| &e["Properties"]["RouteSettings"])
        .unwrap_or(&Value::Null);
    let settings = if api_level.is_object() {
        api_level
    } else {
        event_level
    };
    for key in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
        let default_route = &api["Properties"]["DefaultRouteSettings"][key];
        match number_param(t, &settings[key]) {
            None => problems.push(format!(
                "{WEBHOOK_ROUTE} has no {key} of its own from a Number parameter with a default"
            )),
            Some((name, _)) if settings[key] == *default_route => problems.push(format!(
                "{WEBHOOK_ROUTE}: {key} is the other routes' parameter {name}, not its own"
            )),
            Some((name, n)) => {
                if n < 1
                    || t["Parameters"][name.as_str()]["MinValue"]
                        .as_i64()
                        .unwrap_or(0)
                        < 1
                {
                    problems.push(format!("{name}: default and MinValue must be at least 1"));
                }
                if let Some((_, others)) = number_param(t, default_route)
                    && n > others
                {
                    problems.push(format!(
                        "{name} defaults to {n}, looser than the other routes' {others}"
                    ));
                }
            }
        }
    }

    // Reserved concurrency: a parameter, or a condition choosing it or nothing (0 = none).
    let reserved = &webhook["Properties"]["ReservedConcurrentExecutions"];
    let reserved_ref = match reserved.get("Fn::If").and_then(Value::as_array) {
        Some(branches) if branches.len() == 3 && is_no_value(&branches[2]) => &branches[1],
        _ => reserved,
    };
    match number_param(t, reserved_ref) {
        Some((_, n)) if n >= 1 => {}
        Some((name, n)) => problems.push(format!(
            "{name} defaults to {n}: reserve some concurrency for the webhook by default"
        )),
        None => problems.push(
            "the webhook function has no reserved concurrency from a Number parameter".into(),
        ),
    }

    // The allow-list: the webhook function's own variable, from a parameter that defaults to
    // off; no other function reads it.
    for (id, f) in functions(t) {
        let env = env_of(t, f);
        let set = env.get(SOURCE_IPS_VAR);
        if binary_of(f) == Some("webhook") {
            let param = set.and_then(|v| v["Ref"].as_str());
            match param.map(|p| &t["Parameters"][p]) {
                Some(p) if p["Type"] == "String" && p["Default"] == "" => {}
                _ => problems.push(format!(
                    "{id}: {SOURCE_IPS_VAR} is not a String parameter that defaults to empty (off)"
                )),
            }
        } else if set.is_some() {
            problems.push(format!(
                "{id}: sets {SOURCE_IPS_VAR}, which only the webhook uses"
            ));
        }
    }
    problems
}

/// An optional customer managed key: `!If [Cond, !Ref Param, !Ref AWS::NoValue]` where `Param`
/// is a String parameter that defaults to empty and `Cond` is true exactly when it is set.
/// Returns the parameter's name.
fn optional_key(t: &Value, v: &Value, what: &str, problems: &mut Vec<String>) -> Option<String> {
    let branches = v.get("Fn::If").and_then(Value::as_array);
    let Some([cond, set, unset]) = branches.map(Vec::as_slice) else {
        problems.push(format!(
            "{what}: not !If [condition, !Ref <key parameter>, !Ref AWS::NoValue]"
        ));
        return None;
    };
    let param = set["Ref"].as_str();
    let Some(param) = param.filter(|p| t["Parameters"][*p].is_object()) else {
        problems.push(format!("{what}: the key is not a template parameter"));
        return None;
    };
    if !is_no_value(unset) {
        problems.push(format!("{what}: without {param} it is not AWS::NoValue"));
    }
    let p = &t["Parameters"][param];
    if p["Type"] != "String" || p["Default"] != "" {
        problems.push(format!(
            "{param}: not a String parameter that defaults to empty (optional)"
        ));
    }
    // The condition says "the parameter is not empty", alone or and-ed with others.
    let set_test = json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": param }, ""] }] });
    let cond_def = cond.as_str().map(|c| &t["Conditions"][c]);
    let holds = cond_def.is_some_and(|d| {
        d == &set_test
            || d["Fn::And"]
                .as_array()
                .is_some_and(|items| items.contains(&set_test))
    });
    if !holds {
        problems.push(format!(
            "{what}: condition {cond} does not test that {param} is set"
        ));
    }
    Some(param.to_owned())
}

/// A policy's statements with the condition each one is granted under (`None`: always).
fn conditional_statements(doc: &Value) -> Vec<(Option<String>, Value)> {
    let mut out = Vec::new();
    for item in doc["Statement"].as_array().into_iter().flatten() {
        match item.get("Fn::If").and_then(Value::as_array) {
            Some(b) if b.len() == 3 => {
                let cond = b[0].as_str().map(str::to_owned);
                for s in &b[1..] {
                    if s.is_object() && !is_no_value(s) {
                        out.push((cond.clone(), s.clone()));
                    }
                }
            }
            _ => out.push((None, item.clone())),
        }
    }
    out
}

/// Table key actions a function may hold: DynamoDB decrypts the table key with the caller's
/// rights (reads) and has data keys made and encrypted under it (writes). Nothing wider.
const TABLE_KEY_ACTIONS: [&str; 4] = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
];

/// Customer managed keys, all optional: the table's (and then every function may use it, only
/// through DynamoDB in this region, only when it is set), the log groups' and the alarm
/// topic's. Every KMS grant names one of the stack's key parameters and the service that key
/// serves, so no function can use a key directly.
fn check_kms(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let sse = &t["Resources"][SESSIONS_TABLE]["Properties"]["SSESpecification"];
    let table_key = optional_key(
        t,
        &sse["KMSMasterKeyId"],
        "SessionsTable SSESpecification.KMSMasterKeyId",
        &mut problems,
    );
    if sse["SSEEnabled"] != true {
        problems.push("SessionsTable: SSEEnabled is not true".into());
    }
    if let Some(branches) = sse["SSEType"].get("Fn::If").and_then(Value::as_array) {
        if branches.get(1) != Some(&json!("KMS")) {
            problems.push("SessionsTable: SSEType is not KMS when the key is set".into());
        }
    } else {
        problems.push("SessionsTable: SSEType does not follow the key parameter".into());
    }

    let mut log_keys = BTreeSet::new();
    for (id, lg) in resources_of_type(t, "AWS::Logs::LogGroup") {
        let key = optional_key(
            t,
            &lg["Properties"]["KmsKeyId"],
            &format!("{id} KmsKeyId"),
            &mut problems,
        );
        log_keys.insert(key);
    }
    if log_keys.len() > 1 {
        problems.push(format!("log groups use different keys: {log_keys:?}"));
    }
    for (id, topic) in resources_of_type(t, "AWS::SNS::Topic") {
        optional_key(
            t,
            &topic["Properties"]["KmsMasterKeyId"],
            &format!("{id} KmsMasterKeyId"),
            &mut problems,
        );
    }

    // Which service each key parameter may be used through.
    let mut via = BTreeMap::from([(
        "PlaidSecretKmsKeyArn".to_owned(),
        "secretsmanager.${AWS::Region}.amazonaws.com".to_owned(),
    )]);
    if let Some(k) = &table_key {
        via.insert(
            k.clone(),
            "dynamodb.${AWS::Region}.amazonaws.com".to_owned(),
        );
    }
    let table_cond = sse["KMSMasterKeyId"]["Fn::If"][0]
        .as_str()
        .map(str::to_owned);
    for (id, f) in functions(t) {
        let mut table_grant = false;
        for policy in as_array(fn_prop(t, f, "Policies")) {
            for (cond, stmt) in conditional_statements(&policy) {
                let actions = as_strings(&stmt["Action"]);
                if !actions
                    .iter()
                    .any(|a| a.to_ascii_lowercase().starts_with("kms:"))
                {
                    continue;
                }
                let resources = resource_list(&stmt);
                let keys: Vec<Option<&str>> = resources.iter().map(|r| r["Ref"].as_str()).collect();
                let service = stmt["Condition"]["StringEquals"]["kms:ViaService"]["Fn::Sub"]
                    .as_str()
                    .unwrap_or("");
                for key in &keys {
                    match key.and_then(|k| via.get(k).map(|s| (k, s))) {
                        None => problems.push(format!(
                            "{id}: KMS grant on {key:?}, which is not one of the stack's key parameters"
                        )),
                        Some((k, s)) if s != service => problems.push(format!(
                            "{id}: {k} is usable through {service:?}, not only {s:?}"
                        )),
                        Some(_) => {}
                    }
                }
                if table_key.is_some() && keys == [table_key.as_deref()] {
                    if cond != table_cond {
                        problems.push(format!(
                            "{id}: the table key grant is not behind the table key's condition"
                        ));
                    }
                    for a in &actions {
                        if !TABLE_KEY_ACTIONS.contains(&a.as_str()) {
                            problems.push(format!("{id}: {a} on the table key"));
                        }
                    }
                    table_grant |= actions.iter().any(|a| a == "kms:Decrypt");
                }
            }
        }
        if table_key.is_some() && !table_grant {
            problems.push(format!(
                "{id}: cannot use the table's customer managed key (kms:Decrypt through DynamoDB)"
            ));
        }
    }
    problems
}

/// A failed reconcile run is not retried but kept: an on-failure destination on an encrypted
/// SQS queue with a retention, and an alarm on its depth that notifies the alarm topic when
/// the stack has one.
fn check_reconcile_failures(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(f) = function_by_binary(t, "reconcile") else {
        return vec!["no reconcile function".into()];
    };
    let eic = &f["Properties"]["EventInvokeConfig"];
    if eic["MaximumRetryAttempts"] != 0 {
        problems.push("reconcile: failed runs are retried (MaximumRetryAttempts is not 0)".into());
    }
    let on_failure = &eic["DestinationConfig"]["OnFailure"];
    if on_failure["Type"] != "SQS" {
        return vec![format!(
            "reconcile: no SQS on-failure destination (EventInvokeConfig.DestinationConfig.OnFailure = {on_failure})"
        )];
    }
    let dest = &on_failure["Destination"]["Fn::GetAtt"];
    let queue_id = dest[0].as_str().unwrap_or("");
    let queue = &t["Resources"][queue_id];
    if queue["Type"] != "AWS::SQS::Queue" || dest[1] != "Arn" {
        return vec![format!(
            "reconcile: on-failure destination {dest} is not a queue of this stack"
        )];
    }
    let q = &queue["Properties"];
    if q["SqsManagedSseEnabled"] != true && q["KmsMasterKeyId"].is_null() {
        problems.push(format!("{queue_id}: not encrypted at rest"));
    }
    match q["MessageRetentionPeriod"].as_i64() {
        Some(s) if s >= 7 * 86_400 => {}
        other => problems.push(format!(
            "{queue_id}: MessageRetentionPeriod {other:?} is under 7 days"
        )),
    }
    let topics = resources_of_type(t, "AWS::SNS::Topic");
    let alarm = resources_of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .find(|(_, a)| {
            let p = &a["Properties"];
            p["Namespace"] == "AWS/SQS"
                && p["MetricName"] == "ApproximateNumberOfMessagesVisible"
                && p["Dimensions"].as_array().is_some_and(|d| {
                    d.iter()
                        .any(|d| d["Value"] == json!({ "Fn::GetAtt": [queue_id, "QueueName"] }))
                })
        });
    match alarm {
        None => problems.push(format!("{queue_id}: no alarm on its depth")),
        Some((id, a)) => {
            if a["Properties"]["Threshold"] != 0 {
                problems.push(format!("{id}: does not fire on the first failed run"));
            }
            for (topic, _) in topics {
                if !a["Properties"]["AlarmActions"]
                    .to_string()
                    .contains(&json!({ "Ref": topic }).to_string())
                {
                    problems.push(format!("{id}: does not notify {topic}"));
                }
            }
        }
    }
    problems
}

/// Every function's reserved concurrency is a Number parameter (0 = none, through a condition
/// and AWS::NoValue): one for the three API functions, the webhook's own and reconcile's own.
fn check_reserved_concurrency(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut params: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (id, f) in functions(t) {
        let bin = binary_of(f).unwrap_or("?");
        let v = &f["Properties"]["ReservedConcurrentExecutions"];
        let Some([cond, set, unset]) = v.get("Fn::If").and_then(Value::as_array).map(Vec::as_slice)
        else {
            problems.push(format!(
                "{id}: ReservedConcurrentExecutions is not !If [condition, !Ref <parameter>, !Ref AWS::NoValue]"
            ));
            continue;
        };
        let Some((name, _)) = number_param(t, set) else {
            problems.push(format!(
                "{id}: reserved concurrency is not a Number parameter with a default"
            ));
            continue;
        };
        if !is_no_value(unset) {
            problems.push(format!("{id}: {name} = 0 does not mean AWS::NoValue"));
        }
        let zero_off = json!({ "Fn::Not": [{ "Fn::Equals": [{ "Ref": name }, 0] }] });
        if cond.as_str().map(|c| &t["Conditions"][c]) != Some(&zero_off) {
            problems.push(format!("{id}: condition {cond} is not {name} != 0"));
        }
        if t["Parameters"][name.as_str()]["MinValue"] != 0 {
            problems.push(format!("{name}: MinValue is not 0 (0 reserves nothing)"));
        }
        params.entry(name).or_default().insert(bin);
    }
    let api = BTreeSet::from(["create-session", "get-session", "link-token"]);
    let groups: BTreeSet<BTreeSet<&str>> = params.values().cloned().collect();
    let want = BTreeSet::from([
        api,
        BTreeSet::from(["webhook"]),
        BTreeSet::from(["reconcile"]),
    ]);
    if groups != want {
        problems.push(format!(
            "reserved concurrency parameters {params:?}: expected one for the API functions, one for the webhook, one for reconcile"
        ));
    }
    problems
}

/// checkov findings accepted in the template: each skip names a check and says why.
fn check_scanner_suppressions(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, r) in resources(t) {
        let skips = &r["Metadata"]["checkov"]["skip"];
        if skips.is_null() {
            continue;
        }
        let Some(skips) = skips.as_array() else {
            problems.push(format!("{id}: Metadata.checkov.skip is not a list"));
            continue;
        };
        for s in skips {
            let check = s["id"].as_str().unwrap_or("");
            if !check.starts_with("CKV_") {
                problems.push(format!("{id}: skip {s} names no checkov check"));
            }
            if s["comment"].as_str().map_or(0, |c| c.trim().len()) < 30 {
                problems.push(format!("{id}: skip of {check} has no reason"));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Tests on the real template.
// ---------------------------------------------------------------------------------------------

fn assert_clean(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn every_function_builds_a_workspace_binary_and_every_binary_is_deployed() {
    let bins = lambda_bins();
    assert_eq!(
        bins,
        BTreeSet::from(
            [
                "create-session",
                "link-token",
                "get-session",
                "webhook",
                "reconcile"
            ]
            .map(String::from)
        ),
        "the design's five binaries"
    );
    assert_clean("binaries", check_binaries(&load_template(), &bins));
}

#[test]
fn routes_and_authorizers_are_exactly_the_designs() {
    assert_clean("routes", check_routes(&load_template()));
}

#[test]
fn iam_is_least_privilege() {
    assert_clean("iam", check_iam(&load_template()));
}

#[test]
fn table_matches_what_the_store_queries() {
    assert_clean("table", check_table(&load_template()));
}

#[test]
fn environment_is_complete_parseable_and_cloud_only() {
    assert_clean("environment", check_env(&load_template()));
}

#[test]
fn timeouts_fit_plaid_and_the_schedule() {
    assert_clean("timeouts", check_timeouts(&load_template()));
}

#[test]
fn logs_are_json_expire_and_hold_no_request_content() {
    assert_clean("logging", check_logging(&load_template()));
}

#[test]
fn the_webhook_route_is_throttled_and_its_function_reserved_on_their_own() {
    assert_clean("webhook limits", check_webhook_limits(&load_template()));
}

#[test]
fn customer_managed_keys_are_optional_and_granted_when_set() {
    assert_clean("kms", check_kms(&load_template()));
}

#[test]
fn failed_reconcile_runs_are_kept_and_alarmed() {
    assert_clean(
        "reconcile failures",
        check_reconcile_failures(&load_template()),
    );
}

#[test]
fn every_function_has_a_reserved_concurrency_parameter() {
    assert_clean(
        "reserved concurrency",
        check_reserved_concurrency(&load_template()),
    );
}

#[test]
fn every_scanner_suppression_says_why() {
    assert_clean(
        "checkov suppressions",
        check_scanner_suppressions(&load_template()),
    );
}

/// The README's parameter table names every template parameter (the operator's only guide to
/// the optional keys and reservations).
#[test]
fn every_parameter_is_in_the_readme_table() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let table: String = readme
        .split("### Parameters")
        .nth(1)
        .expect("README has a Parameters section")
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let t = load_template();
    let missing: Vec<&String> = t["Parameters"]
        .as_object()
        .expect("Parameters")
        .keys()
        .filter(|p| !table.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the README's parameter table: {missing:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// The checks notice a broken template.
// ---------------------------------------------------------------------------------------------

fn function_id(t: &Value, bin: &str) -> String {
    functions(t)
        .into_iter()
        .find(|(_, f)| binary_of(f) == Some(bin))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_else(|| panic!("no function for {bin}"))
}

fn props_mut<'a>(t: &'a mut Value, bin: &str) -> &'a mut Value {
    let id = function_id(t, bin);
    &mut t["Resources"][id.as_str()]["Properties"]
}

fn first_statement_mut<'a>(t: &'a mut Value, bin: &str) -> &'a mut Value {
    &mut props_mut(t, bin)["Policies"][0]["Statement"][0]
}

fn assert_caught(what: &str, problems: Vec<String>, needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "{what}: expected a problem mentioning {needle:?}, got {problems:?}"
    );
}

#[test]
fn catches_a_binary_without_function_and_a_function_without_binary() {
    let mut bins = lambda_bins();
    bins.insert("audit-export".into());
    assert_caught(
        "extra bin",
        check_binaries(&load_template(), &bins),
        "audit-export has no function",
    );

    let mut t = load_template();
    let id = function_id(&t, "link-token");
    t["Resources"][id.as_str()]["Metadata"]["BuildProperties"]["Binary"] = json!("link_token");
    assert_caught(
        "renamed",
        check_binaries(&t, &lambda_bins()),
        "\"link_token\" is not a bin",
    );
}

#[test]
fn catches_a_sessions_route_without_the_authorizer() {
    let mut t = load_template();
    let events = props_mut(&mut t, "get-session")["Events"]
        .as_object_mut()
        .unwrap();
    let (_, ev) = events
        .iter_mut()
        .find(|(_, e)| e["Properties"]["Path"] == "/sessions/{id}")
        .unwrap();
    ev["Properties"]["Auth"] = json!({ "Authorizer": "NONE" });
    assert_caught(
        "public GET",
        check_routes(&t),
        "GET /sessions/{id} is not behind the JWT authorizer",
    );
}

#[test]
fn catches_a_webhook_behind_the_authorizer_and_an_extra_route() {
    let mut t = load_template();
    let events = props_mut(&mut t, "webhook")["Events"]
        .as_object_mut()
        .unwrap();
    for ev in events.values_mut() {
        ev["Properties"].as_object_mut().unwrap().remove("Auth");
    }
    assert_caught("webhook with JWT", check_routes(&t), "POST /webhooks/plaid");

    let mut t = load_template();
    let api = resources_of_type(&t, "AWS::Serverless::HttpApi")[0]
        .0
        .to_owned();
    props_mut(&mut t, "get-session")["Events"]["Debug"] = json!({
        "Type": "HttpApi",
        "Properties": { "ApiId": { "Ref": api }, "Method": "GET", "Path": "/debug" }
    });
    assert_caught(
        "extra route",
        check_routes(&t),
        "GET /debug is not in the design",
    );

    let mut t = load_template();
    props_mut(&mut t, "create-session")["FunctionUrlConfig"] = json!({ "AuthType": "NONE" });
    assert_caught("function URL", check_routes(&t), "function URL");
}

#[test]
fn catches_wildcards_broad_resources_and_extra_actions() {
    let mut t = load_template();
    first_statement_mut(&mut t, "webhook")["Action"] = json!("dynamodb:*");
    assert_caught("dynamodb:*", check_iam(&t), "wildcard action dynamodb:*");

    let mut t = load_template();
    first_statement_mut(&mut t, "reconcile")["Resource"] = json!("*");
    assert_caught("Resource *", check_iam(&t), "granted on Resource \"*\"");

    let mut t = load_template();
    first_statement_mut(&mut t, "link-token")["Action"]
        .as_array_mut()
        .unwrap()
        .push(json!("dynamodb:Scan"));
    assert_caught("Scan", check_iam(&t), "link-token): DynamoDB grants");

    let mut t = load_template();
    props_mut(&mut t, "create-session")["Policies"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "DynamoDBCrudPolicy": { "TableName": { "Ref": SESSIONS_TABLE } } }));
    assert_caught(
        "SAM policy template",
        check_iam(&t),
        "not an inline document",
    );

    let mut t = load_template();
    let stmts = props_mut(&mut t, "get-session")["Policies"][0]["Statement"]
        .as_array_mut()
        .unwrap();
    let secret = stmts
        .iter_mut()
        .find(|s| s["Action"] == "secretsmanager:GetSecretValue")
        .unwrap();
    secret["Resource"] = json!({ "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:*" });
    assert_caught(
        "other secret",
        check_iam(&t),
        "not the PLAID_SECRET_ID secret",
    );
}

#[test]
fn catches_a_changed_table() {
    let mut t = load_template();
    t["Resources"][SESSIONS_TABLE]["Properties"]["GlobalSecondaryIndexes"][2]["KeySchema"][1]["AttributeName"] =
        json!("updated_at");
    assert_caught("index key", check_table(&t), "indexes");

    let mut t = load_template();
    t["Resources"][SESSIONS_TABLE]["Properties"]["TimeToLiveSpecification"]["AttributeName"] =
        json!("expires_at");
    assert_caught("ttl", check_table(&t), "TTL");
}

#[test]
fn catches_local_switches_missing_and_unknown_variables() {
    let mut t = load_template();
    props_mut(&mut t, "webhook")["Environment"] =
        json!({ "Variables": { "PLAID_BASE_URL": "http://127.0.0.1:4010" } });
    assert_caught(
        "base url",
        check_env(&t),
        "local-only switch PLAID_BASE_URL",
    );

    let mut t = load_template();
    t["Globals"]["Function"]["Environment"]["Variables"]
        .as_object_mut()
        .unwrap()
        .remove("PLAID_SECRET_ID");
    assert_caught(
        "missing secret id",
        check_env(&t),
        "PLAID_SECRET_ID is not set",
    );

    let mut t = load_template();
    t["Globals"]["Function"]["Environment"]["Variables"]["PLAID_COUNTRY_CODE"] = json!("US");
    assert_caught(
        "typo",
        check_env(&t),
        "PLAID_COUNTRY_CODE, which the code never reads",
    );

    let mut t = load_template();
    t["Parameters"]["PlaidClientName"]["Default"] = json!("A name far longer than Plaid shows");
    assert_caught(
        "bad default",
        check_env(&t),
        "Config rejects the default environment",
    );
}

#[test]
fn catches_a_webhook_timeout_plaid_would_not_wait_for() {
    let mut t = load_template();
    props_mut(&mut t, "webhook")["Timeout"] = json!(10);
    assert_caught("timeout", check_timeouts(&t), "Timeout 10 s");
}

#[test]
fn catches_headers_in_access_logs_and_a_missing_rejection_metric() {
    let mut t = load_template();
    let api = resources_of_type(&t, "AWS::Serverless::HttpApi")[0]
        .0
        .to_owned();
    t["Resources"][api.as_str()]["Properties"]["AccessLogSettings"]["Format"] = json!(
        r#"{"requestId":"$context.requestId","routeKey":"$context.routeKey","status":"$context.status","latency":"$context.responseLatency","ip":"$context.identity.sourceIp"}"#
    );
    assert_caught("source ip", check_logging(&t), "records sourceIp");
}

#[test]
fn catches_a_webhook_without_its_own_throttle_reservation_or_allow_list_parameter() {
    let mut t = load_template();
    let api = resources_of_type(&t, "AWS::Serverless::HttpApi")[0]
        .0
        .to_owned();
    t["Resources"][api.as_str()]["Properties"]
        .as_object_mut()
        .unwrap()
        .remove("RouteSettings");
    for ev in props_mut(&mut t, "webhook")["Events"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        ev["Properties"]
            .as_object_mut()
            .unwrap()
            .remove("RouteSettings");
    }
    assert_caught(
        "no route throttle",
        check_webhook_limits(&t),
        "ThrottlingRateLimit of its own",
    );

    let mut t = load_template();
    props_mut(&mut t, "webhook")
        .as_object_mut()
        .unwrap()
        .remove("ReservedConcurrentExecutions");
    assert_caught(
        "no reservation",
        check_webhook_limits(&t),
        "reserved concurrency",
    );

    let mut t = load_template();
    t["Globals"]["Function"]["Environment"]["Variables"][SOURCE_IPS_VAR] = json!("");
    assert_caught(
        "allow-list everywhere",
        check_webhook_limits(&t),
        "only the webhook uses",
    );
}

#[test]
fn catches_a_missing_table_key_grant_a_wider_one_and_a_fixed_log_key() {
    let mut t = load_template();
    let policy = &mut props_mut(&mut t, "reconcile")["Policies"][0]["Statement"];
    policy
        .as_array_mut()
        .unwrap()
        .retain(|s| s["Fn::If"][0] != "HasTableKmsKey");
    assert_caught("no grant", check_kms(&t), "cannot use the table's");

    let mut t = load_template();
    let stmts = props_mut(&mut t, "webhook")["Policies"][0]["Statement"]
        .as_array_mut()
        .unwrap();
    let grant = stmts
        .iter_mut()
        .find(|s| s["Fn::If"][0] == "HasTableKmsKey")
        .unwrap();
    grant["Fn::If"][1]["Action"] = json!(["kms:Decrypt", "kms:CreateGrant"]);
    grant["Fn::If"][1]["Condition"]["StringEquals"]["kms:ViaService"] =
        json!({ "Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com" });
    let problems = check_kms(&t);
    assert_caught(
        "wider grant",
        problems.clone(),
        "kms:CreateGrant on the table key",
    );
    assert_caught("other service", problems, "usable through");

    let mut t = load_template();
    let (lg, _) = resources_of_type(&t, "AWS::Logs::LogGroup")[0];
    let lg = lg.to_owned();
    t["Resources"][lg.as_str()]["Properties"]["KmsKeyId"] =
        json!("arn:aws:kms:us-east-1:111122223333:key/fixed");
    assert_caught("fixed key", check_kms(&t), "KmsKeyId: not !If");
}

#[test]
fn catches_reconcile_without_its_failure_queue_or_alarm() {
    let mut t = load_template();
    props_mut(&mut t, "reconcile")["EventInvokeConfig"]
        .as_object_mut()
        .unwrap()
        .remove("DestinationConfig");
    assert_caught(
        "no destination",
        check_reconcile_failures(&t),
        "no SQS on-failure destination",
    );

    let mut t = load_template();
    let alarms: Vec<String> = resources_of_type(&t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, a)| a["Properties"]["Namespace"] == "AWS/SQS")
        .map(|(id, _)| id.to_owned())
        .collect();
    for a in alarms {
        t["Resources"].as_object_mut().unwrap().remove(&a);
    }
    assert_caught(
        "no alarm",
        check_reconcile_failures(&t),
        "no alarm on its depth",
    );
}

#[test]
fn catches_a_fixed_or_shared_reservation_and_a_skip_without_reason() {
    let mut t = load_template();
    props_mut(&mut t, "reconcile")["ReservedConcurrentExecutions"] = json!(5);
    assert_caught("fixed", check_reserved_concurrency(&t), "is not !If");

    let mut t = load_template();
    let webhook = props_mut(&mut t, "webhook")["ReservedConcurrentExecutions"].clone();
    props_mut(&mut t, "reconcile")["ReservedConcurrentExecutions"] = webhook;
    assert_caught(
        "shared",
        check_reserved_concurrency(&t),
        "expected one for the API functions",
    );

    let mut t = load_template();
    let id = function_id(&t, "webhook");
    t["Resources"][id.as_str()]["Metadata"]["checkov"]["skip"][0]["comment"] = json!("");
    assert_caught("no reason", check_scanner_suppressions(&t), "has no reason");
}

/// The DynamoDB requests one store call makes, as `DynamoStore` makes them. `save_snapshot` also
/// puts the whole item when it is absent (a session Plaid knows and we never stored); reconcile
/// only snapshots sessions it read from the table, so it is not granted that `PutItem`, and the
/// other snapshotting functions are.
fn dynamo_requests(op: testkit::faulty_store::Op) -> Vec<(String, String)> {
    use testkit::faulty_store::Op;
    let (t, q) = (table_action, index_query);
    match op {
        Op::Get => vec![t("GetItem")],
        Op::LatestFor | Op::AttemptsSince => vec![q("by_user_template")],
        // By template when one is given, else all of the user's sessions.
        Op::ListForUser => vec![q("by_user"), q("by_user_template")],
        Op::Insert => vec![t("PutItem")],
        Op::SaveSnapshot
        | Op::MarkAppExpired
        | Op::ReopenReview
        | Op::ClaimRetry
        | Op::ReleaseRetry
        | Op::ClaimLiveRead => {
            vec![t("UpdateItem")]
        }
        Op::OpenSessions => vec![q("open_sessions")],
    }
}

/// The grants `check_iam` holds the template to cover what each function's code really asks of
/// DynamoDB: every path of every function is run against moto through a store that counts its
/// calls, and each call's requests must be granted to that function.
#[tokio::test]
async fn each_function_is_granted_what_its_code_asks_of_dynamodb() {
    use shared::store::DynamoStore;
    use testkit::apigw::ApiEvent;
    use testkit::emulator::{Fault, FinishOutcome};
    use testkit::faulty_store::{FaultyStore, Op};
    use testkit::stack::Stack;

    const OPS: [Op; 12] = [
        Op::ClaimLiveRead,
        Op::Get,
        Op::LatestFor,
        Op::ListForUser,
        Op::AttemptsSince,
        Op::Insert,
        Op::SaveSnapshot,
        Op::OpenSessions,
        Op::MarkAppExpired,
        Op::ReopenReview,
        Op::ClaimRetry,
        Op::ReleaseRetry,
    ];
    let s: Stack<FaultyStore<DynamoStore>> =
        Stack::builder().start_with_store(FaultyStore::new).await;
    let counts = |s: &Stack<FaultyStore<DynamoStore>>| OPS.map(|op| s.ctx.store.calls(op));
    let mut used: BTreeMap<&str, BTreeSet<Op>> = BTreeMap::new();
    let mut note = |function: &'static str, before: [u32; 12], after: [u32; 12]| {
        let ops = used.entry(function).or_default();
        for (i, op) in OPS.iter().enumerate() {
            if after[i] > before[i] {
                ops.insert(*op);
            }
        }
    };

    // create-session: a first start, a resume, a retry after a failure, a retry Plaid refuses.
    let mut b = counts(&s);
    let alice = s.start_session("iam-alice").await;
    let again = s.call(ApiEvent::post_sessions().user("iam-alice")).await;
    assert_eq!(again.status, 200, "{}", again.json);
    note("create-session", b, counts(&s));
    let bob = s.start_session("iam-bob").await;
    b = counts(&s);
    for a in s.finish_and_deliver(&bob, FinishOutcome::Failed).await {
        assert_eq!(a.status, 200, "{}", a.json);
    }
    note("webhook", b, counts(&s));
    b = counts(&s);
    let retried = s.call(ApiEvent::post_sessions().user("iam-bob")).await;
    assert_eq!(retried.status, 201, "{}", retried.json);
    note("create-session", b, counts(&s));
    let carol = s.start_session("iam-carol").await;
    s.finish_and_deliver(&carol, FinishOutcome::Failed).await;
    s.emulator
        .inject_fault(Fault {
            endpoint: "/identity_verification/retry".into(),
            // Any 4xx means Plaid made nothing, so the claim is given back.
            status: Some(429),
            count: 1,
            delay_ms: 0,
        })
        .unwrap();
    b = counts(&s);
    let refused = s.call(ApiEvent::post_sessions().user("iam-carol")).await;
    assert!(refused.status >= 400, "{}", refused.json);
    note("create-session", b, counts(&s));

    // webhook: the retry's webhooks, including RETRIED, for sessions we hold.
    b = counts(&s);
    for a in s.deliver_new_webhooks().await {
        assert_eq!(a.status, 200, "{}", a.json);
    }
    note("webhook", b, counts(&s));

    // get-session and link-token, fresh and then stale enough to refresh from Plaid.
    for stale in [false, true] {
        if stale {
            s.clock.advance(chrono::Duration::seconds(901));
        }
        // link-token first: once get-session has refreshed the session it is fresh again.
        b = counts(&s);
        let a = s.call(ApiEvent::link_token(&alice).user("iam-alice")).await;
        assert!(matches!(a.status, 200 | 201), "{}", a.json);
        note("link-token", b, counts(&s));
        // Past the per-session cool-down that link-token's Plaid calls started.
        s.clock
            .advance(shared::session::lifecycle::LIVE_READ_COOLDOWN + chrono::Duration::seconds(1));
        b = counts(&s);
        for event in [
            ApiEvent::get_session(&alice).user("iam-alice"),
            ApiEvent::get_session(&alice)
                .user("iam-alice")
                .query("refresh", "true"),
            ApiEvent::list_sessions().user("iam-alice"),
            ApiEvent::list_sessions()
                .user("iam-bob")
                .query("template_id", testkit::stack::TEMPLATE),
        ] {
            let a = s.call(event).await;
            assert_eq!(a.status, 200, "{}", a.json);
        }
        note("get-session", b, counts(&s));
    }

    // reconcile: stale open sessions refreshed, then past the app window, expired.
    for advance in [901, 172_801] {
        s.clock.advance(chrono::Duration::seconds(advance));
        b = counts(&s);
        s.reconcile().await;
        note("reconcile", b, counts(&s));
    }

    let expected = expected_dynamo();
    let mut problems = Vec::new();
    for (function, ops) in &used {
        let granted = &expected[function];
        for op in ops {
            let requests = dynamo_requests(*op);
            // A listing queries one index, either of the two: one grant covers the calls seen.
            let missing: Vec<_> = if *op == Op::ListForUser {
                if requests.iter().any(|r| granted.contains(r)) {
                    vec![]
                } else {
                    requests
                }
            } else {
                requests
                    .into_iter()
                    .filter(|r| !granted.contains(r))
                    .collect()
            };
            for request in missing {
                problems.push(format!("{function}: {op:?} needs {request:?}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "code asks for more than granted: {problems:#?}"
    );
    // Not vacuous: every function was seen calling the store, with the calls that define it.
    let saw = |f: &str, op: Op| used.get(f).is_some_and(|o| o.contains(&op));
    assert!(saw("create-session", Op::Insert) && saw("create-session", Op::ClaimRetry));
    assert!(saw("create-session", Op::ReleaseRetry), "{used:?}");
    assert!(saw("get-session", Op::Get) && saw("get-session", Op::ListForUser));
    assert!(saw("get-session", Op::SaveSnapshot), "{used:?}");
    assert!(saw("link-token", Op::Get), "{used:?}");
    // A stale session is re-read from Plaid and recorded before a token is issued: the reason
    // link-token keeps dynamodb:UpdateItem.
    assert!(saw("link-token", Op::SaveSnapshot), "{used:?}");
    assert!(saw("webhook", Op::SaveSnapshot), "{used:?}");
    assert!(saw("reconcile", Op::OpenSessions) && saw("reconcile", Op::MarkAppExpired));
}

/// `make run` serves the deployed routes through cargo lambda watch's router
/// (`[workspace.metadata.lambda.watch.router]` in Cargo.toml): the same paths, each method to the
/// same function as in the template, and nothing else. (A path with one function may name it
/// for every method: the function refuses the others itself.)
#[test]
fn the_local_router_serves_the_deployed_routes() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let header = "[workspace.metadata.lambda.watch.router]";
    let start = manifest
        .find(header)
        .expect("a cargo lambda watch router in Cargo.toml")
        + header.len();
    let section = &manifest[start..];
    let section = &section[..section.find("\n[").unwrap_or(section.len())];
    let quoted =
        |s: &str| -> Vec<String> { s.split('"').skip(1).step_by(2).map(str::to_owned).collect() };
    // Entries start at lines beginning with a quoted path.
    let mut entries: Vec<String> = Vec::new();
    for line in section
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if line.starts_with('"') {
            entries.push(line.to_owned());
        } else if let Some(last) = entries.last_mut() {
            last.push_str(line);
        }
    }
    // (method or "*", path) → function
    let mut router: BTreeMap<(String, String), String> = BTreeMap::new();
    for entry in &entries {
        let (key, value) = entry.split_once('=').expect("path = route");
        let path = quoted(key).remove(0);
        let value = value.trim();
        if value.starts_with('"') {
            router.insert(("*".into(), path), quoted(value).remove(0));
        } else {
            for item in value.split('{').skip(1) {
                let field = |name: &str| {
                    let at = item
                        .find(name)
                        .unwrap_or_else(|| panic!("{name} in {item}"));
                    quoted(&item[at..]).remove(0)
                };
                router.insert((field("method"), path.clone()), field("function"));
            }
        }
    }
    let expected = expected_routes();
    let expected_paths: BTreeSet<&String> = expected.keys().map(|(_, p)| p).collect();
    for (method, path) in router.keys() {
        assert!(
            expected_paths.contains(path),
            "the router serves {method} {path}, which is not deployed"
        );
    }
    for ((method, path), (binary, _)) in &expected {
        let routed = router
            .get(&(method.clone(), path.clone()))
            .or_else(|| router.get(&("*".to_owned(), path.clone())));
        assert_eq!(routed, Some(binary), "{method} {path} locally");
    }
    for ((method, path), function) in &router {
        if method != "*" {
            assert_eq!(
                expected
                    .get(&(method.clone(), path.clone()))
                    .map(|(b, _)| b),
                Some(function),
                "{method} {path}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Metrics: the dashboard and alarms read the EMF metrics the code writes (shared/src/emf.rs).
// ---------------------------------------------------------------------------------------------

/// The metrics' namespace as the template writes it.
fn metrics_namespace() -> String {
    format!("{}${{AWS::StackName}}", shared::emf::NAMESPACE_PREFIX)
}

/// A reference to one of our metrics: checks its name and dimension names against the code's.
fn check_metric_ref(problems: &mut Vec<String>, at: &str, name: &str, dims: &[&str]) {
    match shared::emf::ALL.iter().find(|m| m.name == name) {
        None => problems.push(format!("{at}: {name} is not a metric the code writes")),
        Some(m) => {
            let mut want: Vec<&str> = m.dimensions.to_vec();
            let mut got: Vec<&str> = dims.to_vec();
            want.sort_unstable();
            got.sort_unstable();
            if want != got {
                problems.push(format!(
                    "{at}: {name} with dimensions {got:?}, the code writes {want:?}"
                ));
            }
        }
    }
}

/// `SEARCH('{<ns>,<dim>,...} MetricName="<name>" ...')` or a Metrics Insights
/// `SELECT ...(<name>) FROM SCHEMA("<ns>", <dim>, ...)`: the namespace, name and dimensions.
fn parse_metric_expression(e: &str) -> Option<(String, String, Vec<String>)> {
    if let Some(rest) = e.split("SEARCH('{").nth(1) {
        // The namespace holds `${AWS::StackName}`: the schema ends at the `}` before a space.
        let (schema, _) = rest.split_once("} ")?;
        let mut parts = schema.split(',').map(|p| p.trim().to_owned());
        let ns = parts.next()?;
        let name = rest.split("MetricName=\"").nth(1)?.split('"').next()?;
        return Some((ns, name.to_owned(), parts.collect()));
    }
    let select = e.strip_prefix("SELECT ")?;
    let name = select
        .split('(')
        .nth(1)?
        .split(')')
        .next()?
        .trim()
        .to_owned();
    let schema = e.split("SCHEMA(").nth(1)?.split(')').next()?;
    let mut parts = schema
        .split(',')
        .map(|p| p.trim().trim_matches('"').to_owned());
    let ns = parts.next()?;
    Some((ns, name, parts.collect()))
}

/// The namespace comes from the stack name; every metric of ours the dashboard and the alarms
/// name is one the code writes, with the code's dimensions; the dashboard shows every one; the
/// webhook rejections are alarmed on.
fn check_metrics(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let ns = metrics_namespace();
    if t["Globals"]["Function"]["Environment"]["Variables"]["STACK_NAME"]
        != json!({"Ref": "AWS::StackName"})
    {
        problems.push("the functions' STACK_NAME is not the stack's name".into());
    }

    let mut shown = BTreeSet::new();
    let dashboards = resources_of_type(t, "AWS::CloudWatch::Dashboard");
    if dashboards.is_empty() {
        problems.push("no dashboard".into());
    }
    for (id, d) in dashboards {
        let Some(body) = d["Properties"]["DashboardBody"]["Fn::Sub"].as_str() else {
            problems.push(format!("{id}: DashboardBody is not a !Sub string"));
            continue;
        };
        let body: Value = match serde_json::from_str(body) {
            Ok(b) => b,
            Err(e) => {
                problems.push(format!("{id}: DashboardBody is not JSON: {e}"));
                continue;
            }
        };
        for w in body["widgets"].as_array().into_iter().flatten() {
            let title = w["properties"]["title"].as_str().unwrap_or("?");
            for row in w["properties"]["metrics"].as_array().into_iter().flatten() {
                let row = row.as_array().cloned().unwrap_or_default();
                let at = format!("{id} \"{title}\"");
                if row.first().and_then(Value::as_str) == Some(ns.as_str()) {
                    let name = row.get(1).and_then(Value::as_str).unwrap_or("");
                    // [ns, name, dim, value, dim, value, ..., {options}]
                    let strings: Vec<&str> = row[2..].iter().map_while(Value::as_str).collect();
                    let dims: Vec<&str> = strings.iter().step_by(2).copied().collect();
                    check_metric_ref(&mut problems, &at, name, &dims);
                    shown.insert(name.to_owned());
                } else if let Some(e) = row.first().and_then(|o| o["expression"].as_str())
                    && let Some((e_ns, name, dims)) = parse_metric_expression(e)
                    && e_ns == ns
                {
                    let dims: Vec<&str> = dims.iter().map(String::as_str).collect();
                    check_metric_ref(&mut problems, &at, &name, &dims);
                    shown.insert(name);
                }
            }
        }
    }
    for m in shared::emf::ALL {
        if !shown.contains(m.name) {
            problems.push(format!("the dashboard does not show {}", m.name));
        }
    }

    let mut rejections_alarmed = false;
    for (id, a) in resources_of_type(t, "AWS::CloudWatch::Alarm") {
        let p = &a["Properties"];
        if p["Namespace"] == json!({"Fn::Sub": ns}) {
            let name = p["MetricName"].as_str().unwrap_or("");
            let dims: Vec<&str> = p["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["Name"].as_str())
                .collect();
            check_metric_ref(&mut problems, id, name, &dims);
            rejections_alarmed |= name == shared::emf::WEBHOOKS.name
                && p["Dimensions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|d| d["Name"] == "Outcome" && d["Value"] == shared::emf::REJECTED);
        }
        for q in p["Metrics"].as_array().into_iter().flatten() {
            let e = q["Expression"]["Fn::Sub"]
                .as_str()
                .or(q["Expression"].as_str());
            if let Some((e_ns, name, dims)) = e.and_then(parse_metric_expression)
                && e_ns == ns
            {
                let dims: Vec<&str> = dims.iter().map(String::as_str).collect();
                check_metric_ref(&mut problems, id, &name, &dims);
            }
        }
    }
    if !rejections_alarmed {
        problems.push("no alarm on rejected webhooks (Webhooks, Outcome=rejected)".into());
    }
    problems
}

#[test]
fn the_dashboard_and_alarms_name_the_metrics_the_code_writes() {
    let problems = check_metrics(&load_template());
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn catches_a_renamed_metric_a_wrong_dimension_and_a_missing_rejection_alarm() {
    let edit_dashboard = |from: &str, to: &str| {
        let mut t = load_template();
        let (id, _) = resources_of_type(&t, "AWS::CloudWatch::Dashboard")[0];
        let id = id.to_owned();
        let body = &mut t["Resources"][&id]["Properties"]["DashboardBody"]["Fn::Sub"];
        let text = body.as_str().unwrap().replace(from, to);
        assert_ne!(body.as_str().unwrap(), text, "{from} not in the dashboard");
        *body = Value::String(text);
        t
    };
    let t = edit_dashboard("\"Starts\", \"Outcome\"", "\"Start\", \"Outcome\"");
    assert_caught("renamed", check_metrics(&t), "Start is not a metric");
    let t = edit_dashboard("PlaidErrors\\\"", "PlaidError\\\"");
    assert_caught(
        "renamed search",
        check_metrics(&t),
        "PlaidError is not a metric",
    );
    let t = edit_dashboard(",Endpoint,ErrorCode}", ",ErrorCode}");
    assert_caught(
        "dimension",
        check_metrics(&t),
        "PlaidErrors with dimensions",
    );

    let mut t = load_template();
    t["Resources"]["WebhookRejectedAlarm"]["Properties"]["Dimensions"][0]["Value"] =
        json!("ignored");
    assert_caught("rejection alarm", check_metrics(&t), "no alarm on rejected");

    let mut t = load_template();
    t["Globals"]["Function"]["Environment"]["Variables"]
        .as_object_mut()
        .unwrap()
        .remove("STACK_NAME");
    assert_caught("stack name", check_metrics(&t), "STACK_NAME");
}
