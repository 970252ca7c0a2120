//! Bad input, generated: random and mutated bodies, headers, paths and query strings on every
//! route never get a 5xx or a panic from our code, and always a JSON answer that matches our
//! OpenAPI description (the stack checks every answer). Bounded: a fixed number of cases.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The seed printed and replayable, failures kept: the same rules as `shared`'s property tests.
#[path = "../../../shared/src/proptest_seed.rs"]
mod proptest_seed;
use serde_json::{Value, json};
use testkit::apigw::ApiEvent;
use testkit::stack::Stack;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        Just(json!("+12345678909")),
        Just(json!("1975-01-18")),
        Just(json!("idvtmp_stack_default")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("template_id".to_owned()),
                    Just("user".to_owned()),
                    Just("is_shareable".to_owned()),
                    Just("gave_consent".to_owned()),
                    Just("email_address".to_owned()),
                    Just("phone_number".to_owned()),
                    Just("date_of_birth".to_owned()),
                    Just("name".to_owned()),
                    Just("address".to_owned()),
                    Just("id_number".to_owned()),
                    Just("redirect_uri".to_owned()),
                    "[a-z_]{1,12}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Text(String),
    Bytes(Vec<u8>),
    None,
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        4 => json_value().prop_map(Body::Json),
        2 => ".{0,200}".prop_map(Body::Text),
        1 => prop::collection::vec(any::<u8>(), 0..300).prop_map(Body::Bytes),
        1 => Just(Body::None),
    ]
}

#[derive(Debug, Clone)]
struct Input {
    route: usize,
    id: String,
    body: Body,
    content_type: Option<String>,
    query: Vec<(String, String)>,
    user: Option<String>,
}

fn input() -> impl Strategy<Value = Input> {
    (
        0usize..5,
        prop_oneof![
            ".{0,20}",
            "idv_[A-Za-z0-9]{1,14}",
            Just("..%2F..".to_owned())
        ],
        body(),
        prop::option::of(prop_oneof![
            Just("application/json".to_owned()),
            Just("text/plain".to_owned()),
            Just("application/json; charset=utf-8".to_owned()),
            // Header values API Gateway can deliver: visible ASCII.
            "[ -~]{0,20}"
        ]),
        prop::collection::vec(
            (
                prop_oneof![
                    Just("limit".to_owned()),
                    Just("cursor".to_owned()),
                    Just("view".to_owned()),
                    Just("refresh".to_owned()),
                    Just("template_id".to_owned()),
                    "[a-z]{1,6}"
                ],
                ".{0,30}",
            ),
            0..3,
        ),
        prop::option::of(prop_oneof!["[a-zA-Z0-9|@:_-]{1,40}", ".{0,10}"]),
    )
        .prop_map(|(route, id, body, content_type, query, user)| Input {
            route,
            id,
            body,
            content_type,
            query,
            user,
        })
}

fn event(i: &Input) -> ApiEvent {
    let mut e = match i.route {
        0 => ApiEvent::post_sessions(),
        1 => ApiEvent::list_sessions(),
        2 => ApiEvent::get_session(&i.id),
        3 => ApiEvent::link_token(&i.id),
        _ => {
            // Header values API Gateway can deliver: visible ASCII.
            let token: String = i.id.chars().filter(|c| (' '..='~').contains(c)).collect();
            ApiEvent::webhook(&[("plaid-verification".into(), token)], b"")
        }
    };
    if let Some(ct) = &i.content_type {
        e = e.header("content-type", ct);
    }
    for (k, v) in &i.query {
        e = e.query(k, v);
    }
    if let Some(u) = &i.user {
        e = e.user(u);
    }
    match &i.body {
        Body::Json(v) => e.json(v),
        Body::Text(t) => e.body(t),
        Body::Bytes(b) => e.raw_body(b),
        Body::None => e,
    }
}

#[test]
fn random_requests_never_get_a_5xx_or_a_panic() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stack = rt.block_on(Stack::start());
    // Someone's real session, so that ids sometimes hit.
    let real = rt.block_on(stack.start_session("owner"));
    let mut runner = TestRunner::new(Config {
        // Where the failures are kept (proptest-regressions/ beside this file).
        source_file: Some(file!()),
        ..proptest_seed::config(512)
    });
    runner
        .run(&input(), |mut i| {
            if i.id.is_empty() {
                i.id = real.clone();
            }
            // stack.call panics (fails the case) on an answer outside our OpenAPI description.
            let a = rt.block_on(stack.call(event(&i)));
            prop_assert!(a.status < 500, "{i:?} -> {} {}", a.status, a.json);
            if a.status >= 400 {
                prop_assert!(a.json["error"]["code"].is_string(), "{}", a.json);
            }
            Ok(())
        })
        .unwrap();
}
