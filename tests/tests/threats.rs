//! Defences from the README's threat model that need the whole stack to show: who the caller is
//! when a request says otherwise.

use serde_json::{Value, json};
use shared::config::{LOCAL_IDENTITY_VALUE, LOCAL_IDENTITY_VAR};
use shared::handlers;
use testkit::apigw::{Answer, ApiEvent};
use testkit::stack::Stack;

const LOCAL_USER: &str = "x-local-user";

/// `event` as API Gateway would deliver it after its JWT authorizer accepted a token carrying
/// exactly `claims` (which may lack `sub`).
fn with_claims(event: ApiEvent, claims: Value) -> lambda_http::Request {
    let mut e = event.event();
    e["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    lambda_http::request::from_str(&e.to_string()).expect("a valid API Gateway v2 event")
}

async fn create(s: &Stack, req: lambda_http::Request) -> Answer {
    let a = Answer::from_response(handlers::create_session::handle(&s.ctx, req).await);
    testkit::openapi::check("POST", "/sessions", a.status, &a.headers, &a.json);
    a
}

async fn owner(s: &Stack, a: &Answer) -> String {
    let id = a.json["id"].as_str().expect("a session id");
    s.stored(id)
        .await
        .expect("the session is stored")
        .client_user_id
        .to_string()
}

/// Deployed configuration (the switch is off): the header names nobody.
#[tokio::test]
async fn x_local_user_is_ignored_when_the_switch_is_off() {
    let s = Stack::start().await;
    let a = s
        .call(ApiEvent::post_sessions().header(LOCAL_USER, "mallory"))
        .await;
    assert_eq!(
        (a.status, a.error_code()),
        (401, "unauthorized"),
        "{}",
        a.json
    );

    // Claims win: the session is the claim's user's, whatever the header says.
    let a = s
        .call(
            ApiEvent::post_sessions()
                .user("alice")
                .header(LOCAL_USER, "mallory"),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(owner(&s, &a).await, "alice");
    let read = s
        .call(
            ApiEvent::get_session(a.json["id"].as_str().unwrap())
                .user("mallory")
                .header(LOCAL_USER, "alice"),
        )
        .await;
    assert_eq!(
        read.status, 404,
        "mallory reads alice's session: {}",
        read.json
    );

    // Claims without `sub`, plus the header: still nobody.
    let a = create(
        &s,
        with_claims(
            ApiEvent::post_sessions().header(LOCAL_USER, "mallory"),
            json!({"iss": "https://issuer.example", "scope": "openid"}),
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.error_code()),
        (401, "unauthorized"),
        "{}",
        a.json
    );
    assert_eq!(
        s.emulator.requests().len(),
        1,
        "only alice's create reached Plaid"
    );
}

/// Local configuration (the switch is on): the header counts only where no authorizer ran.
/// Any authorizer context means the request came through API Gateway, where a caller could add
/// any header: then only the claims count.
#[tokio::test]
async fn x_local_user_is_ignored_behind_an_authorizer_even_when_the_switch_is_on() {
    let s = Stack::builder()
        .var(LOCAL_IDENTITY_VAR, LOCAL_IDENTITY_VALUE)
        .var("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
        .start()
        .await;

    // No authorizer at all (cargo lambda watch): the header names the caller.
    let a = s
        .call(ApiEvent::post_sessions().header(LOCAL_USER, "dev-bob"))
        .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(owner(&s, &a).await, "dev-bob");

    // An authorizer whose claims lack `sub`: 401, the header does not stand in for it.
    let a = create(
        &s,
        with_claims(
            ApiEvent::post_sessions().header(LOCAL_USER, "mallory"),
            json!({"iss": "https://issuer.example", "client_id": "machine"}),
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.error_code()),
        (401, "unauthorized"),
        "{}",
        a.json
    );

    // An authorizer with `sub`: that user, not the header's.
    let a = create(
        &s,
        with_claims(
            ApiEvent::post_sessions().header(LOCAL_USER, "mallory"),
            json!({"sub": "carol", "iss": "https://issuer.example"}),
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.json);
    assert_eq!(owner(&s, &a).await, "carol");
    let plaid_users: Vec<_> = s
        .emulator
        .requests()
        .into_iter()
        .filter_map(|r| r.client_user_id)
        .collect();
    assert!(
        !plaid_users.iter().any(|u| u == "mallory"),
        "{plaid_users:?}"
    );
}
