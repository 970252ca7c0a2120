//! The checks: each returns the problems it finds in a template.

use super::*;
use shared::http::route::{Authorizer, ROUTES};

pub(super) const SESSIONS_TABLE: &str = "SessionsTable";
/// The stream-fed function: no Plaid, no API variables, no reservation (`events.rs`).
pub(super) const PUBLISH_EVENTS: &str = "publish-events";

/// Every function builds a real workspace binary through cargo-lambda for Graviton, and every
/// binary under `functions/` is deployed by exactly one function.
pub(super) fn check_binaries(t: &Value, bins: &BTreeSet<String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut deployed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, f) in functions(t) {
        if f["Metadata"]["BuildMethod"] != "rust-cargolambda" {
            problems.push(format!(
                "{id}: Metadata.BuildMethod is not rust-cargolambda"
            ));
        }
        match binary_of(f) {
            // The outcome webhook sender is publish-events' second function (`outcome_webhook.rs`
            // checks it): the binary is still deployed once as the publisher.
            Some(_) if super::outcome_webhook::is_sender(t, f) => {}
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

pub(super) const JWT: &str = "jwt";
pub(super) const NO_AUTH: &str = "none";

/// The routes as `shared::http::route::ROUTES` writes them, the one table: (method, path) →
/// (binary, authorization).
pub(super) fn expected_routes() -> BTreeMap<(String, String), (String, String)> {
    ROUTES
        .iter()
        .map(|r| {
            let auth = match r.authorizer {
                Authorizer::Jwt => JWT,
                Authorizer::None => NO_AUTH,
            };
            (
                (r.method.into(), r.path.into()),
                (r.function.name().into(), auth.into()),
            )
        })
        .collect()
}

/// Exactly the design's routes on one HTTP API; every /sessions route behind a JWT authorizer
/// (configured with an issuer and an audience), the webhook without one; no other way in.
pub(super) fn check_routes(t: &Value) -> Vec<String> {
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
                // The outcome webhook sender's queue (`outcome_webhook.rs` checks it).
                Some("SQS") if super::outcome_webhook::is_sender(t, f) => continue,
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
pub(super) fn table_action(action: &str) -> (String, String) {
    (format!("dynamodb:{action}"), "table".to_owned())
}

/// A Query of one of the table's indexes, as `expected_dynamo` lists it.
pub(super) fn index_query(index: &str) -> (String, String) {
    ("dynamodb:Query".to_owned(), format!("index/{index}"))
}

/// DynamoDB grants per binary: (action, "table" | "index/<name>").
pub(super) fn expected_dynamo() -> BTreeMap<&'static str, BTreeSet<(String, String)>> {
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
        (
            "webhook",
            BTreeSet::from([t("GetItem"), t("PutItem"), t("UpdateItem")]),
        ),
        (
            "reconcile",
            BTreeSet::from([
                t("PutItem"),
                t("UpdateItem"),
                q("open_sessions"),
                q("retry_claims"),
            ]),
        ),
        // The stream mapping reads the table's stream with the function's role; the function
        // itself never calls DynamoDB.
        (
            PUBLISH_EVENTS,
            ["DescribeStream", "GetRecords", "GetShardIterator"]
                .map(|a| (format!("dynamodb:{a}"), "stream".to_owned()))
                .into(),
        ),
    ])
}

/// What a DynamoDB resource expression points at, if it is the sessions table or one of its
/// indexes.
pub(super) fn dynamo_target(resource: &Value) -> Option<String> {
    if resource == &json!({ "Fn::GetAtt": [SESSIONS_TABLE, "Arn"] }) {
        return Some("table".into());
    }
    if resource == &json!({ "Fn::GetAtt": [SESSIONS_TABLE, "StreamArn"] }) {
        return Some("stream".into());
    }
    let sub = resource.get("Fn::Sub")?.as_str()?;
    let index = sub.strip_prefix(&format!("${{{SESSIONS_TABLE}.Arn}}/index/"))?;
    (!index.is_empty() && !index.contains(['*', '$', '/'])).then(|| format!("index/{index}"))
}

/// Least privilege: inline statements only, no wildcard actions, no `Resource: "*"` for data
/// or secrets, exactly the DynamoDB actions each function's code uses, and only the Plaid secret.
pub(super) fn check_iam(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let expected = expected_dynamo();
    for (id, f) in functions(t) {
        let bin = binary_of(f).unwrap_or("?");
        // The outcome webhook sender touches no table and no Plaid secret; its exact grants are
        // checked in `outcome_webhook.rs`.
        if super::outcome_webhook::is_sender(t, f) {
            continue;
        }
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
        // Every function but publish-events calls Plaid (create, Link token, refresh, webhook
        // re-read, reconcile); publish-events must not be able to.
        if bin == PUBLISH_EVENTS {
            if secret_grants > 0 {
                problems.push(format!("{id}: publish-events can read the Plaid secret"));
            }
        } else if secret_grants == 0 {
            problems.push(format!("{id}: cannot read the Plaid secret"));
        }
    }
    problems
}

pub(super) fn as_array(v: Option<&Value>) -> Vec<Value> {
    match v {
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
        None => Vec::new(),
    }
}

/// The table the store code queries: key, index names and keys, TTL attribute, and the
/// properties local set-up copies verbatim, free of intrinsic functions.
pub(super) fn check_table(t: &Value) -> Vec<String> {
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
        (
            "retry_claims".to_owned(),
            hr("retry_claimed", "retry_claim_until"),
        ),
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
pub(super) fn resolve(t: &Value, v: &Value) -> Option<String> {
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
pub(super) fn sample_for(param: &str) -> String {
    match param {
        "IdvTemplateId" => "idvtmp_4FrXJvfQU3zGUR".into(),
        "JwtIssuer" => "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_example".into(),
        _ => format!("{param}-sample"),
    }
}

pub(super) const REQUIRED_ENV: [&str; 4] = [
    "TABLE_NAME",
    "PLAID_SECRET_ID",
    "IDV_TEMPLATE_ID",
    "PLAID_ENV",
];

/// Local-only switches: an emulator URL, endpoint overrides, the header identity.
pub(super) fn is_local_only(var: &str) -> bool {
    var == "PLAID_BASE_URL" || var == "IDV_LOCAL_IDENTITY" || var.starts_with("AWS_ENDPOINT_URL")
}

/// Each function's environment has what the code requires, nothing local-only, only variables
/// the code reads, and (with default parameters) values the real `Config` parser accepts.
pub(super) fn check_env(t: &Value) -> Vec<String> {
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
        let lookup = |k: &str| {
            read.borrow_mut().insert(k.to_owned());
            resolved.get(k).cloned().flatten()
        };
        // publish-events has its own few variables (`EventsConfig`); the API's variables reach
        // it through Globals, which SAM cannot withhold from one function, so only its own
        // Environment must be read.
        let is_publisher = binary_of(f) == Some(PUBLISH_EVENTS);
        let parsed = if is_publisher {
            shared::events::config::EventsConfig::from_lookup(lookup)
                .map(drop)
                .map_err(|e| e.to_string())
        } else {
            Config::from_lookup(lookup)
                .map(drop)
                .map_err(|e| e.to_string())
        };
        if let Err(e) = parsed {
            problems.push(format!("{id}: Config rejects the default environment: {e}"));
        }
        if super::outcome_webhook::is_sender(t, f) {
            // Its own settings, read with the URL set (its parameter defaults to off).
            let _ = shared::outcome_webhook::Config::from_lookup(|k| {
                read.borrow_mut().insert(k.to_owned());
                match k {
                    "OUTCOME_WEBHOOK_URL" => Some("https://hooks.example.com/idv".to_owned()),
                    _ => resolved.get(k).cloned().flatten(),
                }
            });
        }
        let read = read.into_inner();
        let own = f["Properties"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for var in env.keys().filter(|v| !read.contains(v.as_str())) {
            if !is_publisher || own.contains_key(var) {
                problems.push(format!("{id}: sets {var}, which the code never reads"));
            }
        }
    }
    let plaid_env = &t["Parameters"]["PlaidEnv"];
    if plaid_env["AllowedValues"] != json!(["sandbox", "production"]) {
        problems.push("PlaidEnv must allow exactly sandbox and production".into());
    }
    problems
}

pub(super) fn timeout(t: &Value, f: &Value) -> Option<i64> {
    fn_prop(t, f, "Timeout")
        .and_then(|v| resolve(t, v))
        .and_then(|s| s.parse().ok())
}

/// Plaid gives up on a webhook after 10 s; API calls fit in 10 s; reconcile finishes well
/// inside its 10-minute schedule.
pub(super) fn check_timeouts(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, f) in functions(t) {
        let Some(secs) = timeout(t, f) else {
            problems.push(format!("{id}: no Timeout"));
            continue;
        };
        let ok = match binary_of(f) {
            // A batch of slow customer endpoints (`outcome_webhook.rs` checks the fit).
            _ if super::outcome_webhook::is_sender(t, f) => (1..=900).contains(&secs),
            Some("webhook") => secs < 10,
            Some("reconcile") => (1..600).contains(&secs),
            // Ten PutEvents calls per batch of 100 records, retried by the stream if slow.
            Some(PUBLISH_EVENTS) => (1..=60).contains(&secs),
            _ => (1..=10).contains(&secs),
        };
        if !ok {
            problems.push(format!("{id}: Timeout {secs} s is out of bounds"));
        }
    }
    problems
}

pub(super) fn log_group_with_retention(t: &Value, reference: &Value) -> bool {
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
/// addresses. (The alarm on the webhook's rejections is on an EMF metric: `metrics.rs`.)
pub(super) fn check_logging(t: &Value) -> Vec<String> {
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
pub(super) const WEBHOOK_ROUTE: &str = "POST /webhooks/plaid";
pub(super) const SOURCE_IPS_VAR: &str = "PLAID_WEBHOOK_SOURCE_IPS";

/// A parameter's numeric default, when `v` is `!Ref` to a Number parameter with one.
pub(super) fn number_param(t: &Value, v: &Value) -> Option<(String, i64)> {
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
pub(super) fn check_webhook_limits(t: &Value) -> Vec<String> {
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
pub(super) fn optional_key(
    t: &Value,
    v: &Value,
    what: &str,
    problems: &mut Vec<String>,
) -> Option<String> {
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
pub(super) fn conditional_statements(doc: &Value) -> Vec<(Option<String>, Value)> {
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
pub(super) const TABLE_KEY_ACTIONS: [&str; 4] = [
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
];

/// Customer managed keys, all optional: the table's (and then every function may use it, only
/// through DynamoDB in this region, only when it is set), the log groups' and the alarm
/// topic's. Every KMS grant names one of the stack's key parameters and the service that key
/// serves, so no function can use a key directly.
pub(super) fn check_kms(t: &Value) -> Vec<String> {
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
        // The outcome webhook sender never touches the table.
        if super::outcome_webhook::is_sender(t, f) {
            continue;
        }
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
pub(super) fn check_reconcile_failures(t: &Value) -> Vec<String> {
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
pub(super) fn check_reserved_concurrency(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let mut params: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for (id, f) in functions(t) {
        let bin = binary_of(f).unwrap_or("?");
        // Capped by its SQS event source mapping's MaximumConcurrency instead.
        if super::outcome_webhook::is_sender(t, f) {
            continue;
        }
        // Bounded by the stream: one invocation per shard (`events.rs` checks the mapping's
        // ParallelizationFactor 1), so it takes no reservation from the API.
        if bin == PUBLISH_EVENTS {
            if !f["Properties"]["ReservedConcurrentExecutions"].is_null() {
                problems.push(format!(
                    "{id}: publish-events needs no reserved concurrency"
                ));
            }
            continue;
        }
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
pub(super) fn check_scanner_suppressions(t: &Value) -> Vec<String> {
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
