//! The checks notice a broken template: each test breaks a copy on purpose.

use super::checks::*;
use super::*;

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
fn catches_headers_in_access_logs() {
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
