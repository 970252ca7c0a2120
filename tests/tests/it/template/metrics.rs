//! The dashboard and alarms read the EMF metrics the code writes (`shared/src/emf.rs`): every
//! metric of ours they name, with the code's dimensions; the dashboard shows every one; the
//! webhook rejections are alarmed on; the namespace comes from the stack's name.

use super::*;

fn assert_caught(what: &str, problems: Vec<String>, needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "{what}: expected a problem mentioning {needle:?}, got {problems:?}"
    );
}

/// The metrics' namespace as the template writes it.
fn metrics_namespace() -> String {
    format!("{}${{AWS::StackName}}", shared::config::NAMESPACE_PREFIX)
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
