//! What a browser needs from the HTTP API's CORS (issue #21): the headers a front end reads
//! (Retry-After, API Gateway's request id) are exposed, the ones it sends are allowed.

use super::load_template;
use serde_json::{Value, json};
use testkit::cfn::{as_strings, resources_of_type};

/// Problems with the CORS configuration of every HTTP API in `t`.
fn check_cors(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, api) in resources_of_type(t, "AWS::Serverless::HttpApi") {
        // `!If [HasCorsOrigins, {config}, !Ref AWS::NoValue]`: the config is the If's 2nd item.
        let cors = &api["Properties"]["CorsConfiguration"];
        let config = cors.get("Fn::If").and_then(|v| v.get(1)).unwrap_or(cors);
        let lower = |key: &str| -> Vec<String> {
            as_strings(&config[key])
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect()
        };
        for header in ["retry-after", "apigw-requestid"] {
            if !lower("ExposeHeaders").iter().any(|h| h == header) {
                problems.push(format!("{name}: CORS does not expose {header}"));
            }
        }
        for header in ["authorization", "content-type"] {
            if !lower("AllowHeaders").iter().any(|h| h == header) {
                problems.push(format!("{name}: CORS does not allow {header}"));
            }
        }
    }
    problems
}

#[test]
fn cors_exposes_retry_after_and_the_request_id() {
    let problems = check_cors(&load_template());
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn catches_cors_that_hides_retry_after() {
    let mut t = load_template();
    let cors = &mut t["Resources"]["Api"]["Properties"]["CorsConfiguration"]["Fn::If"][1];
    assert!(cors.is_object(), "the Api's CORS configuration moved: {t}");
    cors["ExposeHeaders"] = json!(["apigw-requestid"]);
    assert_eq!(
        check_cors(&t),
        ["Api: CORS does not expose retry-after".to_string()]
    );
}
