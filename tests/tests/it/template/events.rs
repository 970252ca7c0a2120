//! The outcome events' resources (issue #20): the table's stream with both images, the bus (or
//! the customer's, by ARN) and its archive, a stream mapping that reports partial failures,
//! bisects, bounds retries and age, keeps order (parallelization factor 1) and parks what still
//! fails on an alarmed queue; publish-events may put events on that bus only and send to that
//! queue only; the bus's name and ARN are outputs.

use super::*;

fn bus_arn() -> Value {
    json!({ "Fn::If": ["CreateEventBus", { "Fn::GetAtt": ["EventBus", "Arn"] }, { "Ref": "EventBusArn" }] })
}

pub(super) fn check_events(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let table = &t["Resources"][SESSIONS_TABLE]["Properties"];
    if table["StreamSpecification"]["StreamViewType"] != "NEW_AND_OLD_IMAGES" {
        problems.push("SessionsTable: no stream with NEW_AND_OLD_IMAGES".into());
    }
    if t["Conditions"]["CreateEventBus"] != json!({ "Fn::Equals": [{ "Ref": "EventBusArn" }, ""] })
    {
        problems.push("CreateEventBus is not EventBusArn == \"\"".into());
    }
    if t["Resources"]["EventBus"]["Condition"] != "CreateEventBus" {
        problems.push("EventBus is not created only without EventBusArn".into());
    }
    let archives = resources_of_type(t, "AWS::Events::Archive");
    if !archives
        .iter()
        .any(|(_, a)| a["Properties"]["SourceArn"] == bus_arn())
    {
        problems.push("no archive of the events' bus".into());
    }

    // The binary serves two functions; the publisher is the one that is not the webhook sender.
    let publisher = functions(t).into_iter().find(|(_, g)| {
        binary_of(g) == Some(checks::PUBLISH_EVENTS) && !super::outcome_webhook::is_sender(t, g)
    });
    let Some((_, f)) = publisher else {
        problems.push("no publish-events function".into());
        return problems;
    };
    let env = env_of(t, f);
    if env.get("EVENT_BUS_NAME")
        != Some(
            &json!({ "Fn::If": ["CreateEventBus", { "Ref": "EventBus" }, { "Ref": "EventBusArn" }] }),
        )
    {
        problems.push("EVENT_BUS_NAME is not the events' bus".into());
    }
    let function_id = functions(t)
        .into_iter()
        .find(|(_, g)| std::ptr::eq(*g, f))
        .map(|(id, _)| id.to_owned())
        .unwrap_or_default();

    let mappings = resources_of_type(t, "AWS::Lambda::EventSourceMapping");
    let mapping = mappings
        .iter()
        .map(|(_, m)| &m["Properties"])
        .find(|p| p["FunctionName"] == json!({ "Ref": function_id }));
    let mut queue = None;
    match mapping {
        None => problems.push("no stream mapping to publish-events".into()),
        Some(p) => {
            let want = [
                (
                    "EventSourceArn",
                    json!({ "Fn::GetAtt": [SESSIONS_TABLE, "StreamArn"] }),
                ),
                ("FunctionResponseTypes", json!(["ReportBatchItemFailures"])),
                ("BisectBatchOnFunctionError", json!(true)),
                ("ParallelizationFactor", json!(1)),
            ];
            for (key, value) in want {
                if p[key] != value {
                    problems.push(format!("stream mapping: {key} is {}, not {value}", p[key]));
                }
            }
            match p["MaximumRetryAttempts"].as_i64() {
                Some(n) if (0..=100).contains(&n) => {}
                _ => problems.push("stream mapping: retries are not bounded".into()),
            }
            match p["MaximumRecordAgeInSeconds"].as_i64() {
                Some(n) if (60..=86_400).contains(&n) => {}
                _ => problems.push("stream mapping: record age is not bounded to a day".into()),
            }
            let dest = &p["DestinationConfig"]["OnFailure"]["Destination"];
            match dest["Fn::GetAtt"][0].as_str() {
                Some(q) if t["Resources"][q]["Type"] == "AWS::SQS::Queue" => {
                    queue = Some(q.to_owned())
                }
                _ => problems.push("stream mapping: no SQS on-failure destination".into()),
            }
        }
    }
    if let Some(q) = &queue {
        let alarmed = resources_of_type(t, "AWS::CloudWatch::Alarm")
            .iter()
            .any(|(_, a)| {
                a["Properties"]["Namespace"] == "AWS/SQS"
                    && a["Properties"]["Dimensions"][0]["Value"]
                        == json!({ "Fn::GetAtt": [q, "QueueName"] })
            });
        if !alarmed {
            problems.push(format!("{q}: no alarm on the failed batches"));
        }
    }

    // PutEvents on the bus only; SQS on the failure queue only; nothing else beyond the stream
    // (which `check_iam` holds to exactly the three read actions) and the optional table key.
    for policy in as_array(fn_prop(t, f, "Policies")) {
        for (_, stmt) in checks::conditional_statements(&policy) {
            let resources = resource_list(&stmt);
            for a in as_strings(&stmt["Action"]) {
                let ok = match a.as_str() {
                    "events:PutEvents" | "events:DescribeEventBus" => {
                        resources.iter().all(|r| r == &bus_arn())
                    }
                    "sqs:SendMessage" => queue.as_ref().is_some_and(|q| {
                        resources
                            .iter()
                            .all(|r| r == &json!({ "Fn::GetAtt": [q, "Arn"] }))
                    }),
                    a => a.starts_with("dynamodb:") || a == "kms:Decrypt",
                };
                if !ok {
                    problems.push(format!("{function_id}: {a} on {resources:?}"));
                }
            }
        }
    }
    for output in ["EventBusName", "EventBusArn"] {
        if t["Outputs"][output]["Value"].is_null() {
            problems.push(format!("no output {output}"));
        }
    }
    problems
}

#[test]
fn outcome_events_are_streamed_published_to_one_bus_and_failures_alarmed() {
    assert_clean("events", check_events(&load_template()));
}

#[test]
fn catches_a_keys_only_stream_a_wide_put_and_an_unbounded_mapping() {
    let caught = |t: &Value, needle: &str| {
        let problems = check_events(t);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "expected {needle:?} in {problems:?}"
        );
    };
    let mut t = load_template();
    t["Resources"][SESSIONS_TABLE]["Properties"]["StreamSpecification"]["StreamViewType"] =
        json!("KEYS_ONLY");
    caught(&t, "NEW_AND_OLD_IMAGES");

    let mut t = load_template();
    let id = "PublishEventsFunction";
    for stmt in t["Resources"][id]["Properties"]["Policies"][0]["Statement"]
        .as_array_mut()
        .unwrap()
    {
        if stmt["Sid"] == "PublishToBus" {
            stmt["Resource"] = json!("*");
        }
    }
    caught(&t, "events:PutEvents");

    let mut t = load_template();
    let (mid, _) = resources_of_type(&t, "AWS::Lambda::EventSourceMapping")[0];
    let mid = mid.to_owned();
    let p = t["Resources"][&mid]["Properties"].as_object_mut().unwrap();
    p.remove("MaximumRetryAttempts");
    p.insert("ParallelizationFactor".into(), json!(2));
    p.remove("FunctionResponseTypes");
    caught(&t, "retries are not bounded");
    caught(&t, "ParallelizationFactor");
    caught(&t, "FunctionResponseTypes");
}
