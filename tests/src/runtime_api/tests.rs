use super::*;

fn url(api: &RuntimeApi, path: &str) -> String {
    format!(
        "http://{}/{RUNTIME_API_VERSION}/runtime/{path}",
        api.endpoint()
    )
}

/// A function's runtime loop in miniature: take one event, answer it.
async fn fake_function_once(api_endpoint: String, answer: &'static str, fail: bool) {
    let http = reqwest::Client::new();
    let base = format!("http://{api_endpoint}/{RUNTIME_API_VERSION}/runtime");
    let next = http
        .get(format!("{base}/invocation/next"))
        .send()
        .await
        .expect("next");
    assert_eq!(next.status(), 200);
    let h = next.headers().clone();
    let id = h["lambda-runtime-aws-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let deadline: u128 = h["lambda-runtime-deadline-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        deadline > epoch_ms(Duration::ZERO),
        "deadline in the future"
    );
    assert_eq!(
        h["lambda-runtime-invoked-function-arn"],
        "arn:aws:lambda:us-east-1:000000000000:function:fake"
    );
    assert!(
        h["lambda-runtime-trace-id"]
            .to_str()
            .unwrap()
            .starts_with("Root=1-")
    );
    let event: serde_json::Value = next.json().await.unwrap();
    let (path, body) = if fail {
        ("error", format!(r#"{{"errorMessage":"{answer}"}}"#))
    } else {
        (
            "response",
            format!(r#"{{"echo":{event},"answer":"{answer}"}}"#),
        )
    };
    let mut req = http
        .post(format!("{base}/invocation/{id}/{path}"))
        .body(body);
    if fail {
        req = req.header(ERROR_TYPE_HEADER, "Unhandled");
    }
    assert_eq!(req.send().await.unwrap().status(), 202);
    // A second answer for the same invocation is refused.
    let again = http
        .post(format!("{base}/invocation/{id}/response"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
}

#[tokio::test]
async fn a_function_loop_gets_the_event_and_its_response_reaches_the_driver() {
    let api = RuntimeApi::start("fake", Duration::from_secs(3))
        .await
        .unwrap();
    let started = Instant::now();
    let function = tokio::spawn(fake_function_once(api.endpoint(), "ok", false));
    let ready = api.wait_ready().await.unwrap();
    assert!(ready >= started);
    let done = api.invoke(r#"{"n":1}"#).await.unwrap();
    function.await.unwrap();
    let Outcome::Response(body) = done.outcome else {
        panic!("expected a response, got {:?}", done.outcome);
    };
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, serde_json::json!({"echo": {"n": 1}, "answer": "ok"}));
}

#[tokio::test]
async fn events_queued_before_the_first_poll_are_served_in_order_with_distinct_ids() {
    let api = RuntimeApi::start("fake", Duration::from_secs(3))
        .await
        .unwrap();
    let first = api.submit(r#"{"n":1}"#);
    let second = api.submit(r#"{"n":2}"#);
    assert_ne!(first.request_id, second.request_id);
    fake_function_once(api.endpoint(), "a", false).await;
    fake_function_once(api.endpoint(), "b", false).await;
    let (a, b) = (
        first.outcome().await.unwrap(),
        second.outcome().await.unwrap(),
    );
    assert_eq!(
        a.outcome,
        Outcome::Response(Bytes::from(r#"{"echo":{"n":1},"answer":"a"}"#))
    );
    assert_eq!(
        b.outcome,
        Outcome::Response(Bytes::from(r#"{"echo":{"n":2},"answer":"b"}"#))
    );
}

#[tokio::test]
async fn invocation_errors_carry_their_type() {
    let api = RuntimeApi::start("fake", Duration::from_secs(3))
        .await
        .unwrap();
    let pending = api.submit("{}");
    fake_function_once(api.endpoint(), "boom", true).await;
    let done = pending.outcome().await.unwrap();
    assert_eq!(
        done.outcome,
        Outcome::Error {
            error_type: Some("Unhandled".into()),
            body: Bytes::from(r#"{"errorMessage":"boom"}"#)
        }
    );
}

#[tokio::test]
async fn an_init_error_ends_the_wait_for_readiness() {
    let api = RuntimeApi::start("fake", Duration::from_secs(3))
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(url(&api, "init/error"))
        .header(ERROR_TYPE_HEADER, "Runtime.ConfigError")
        .body(r#"{"errorMessage":"TABLE_NAME is not set"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(
        api.wait_ready().await,
        Err(RuntimeApiError::InitError {
            error_type: "Runtime.ConfigError".into(),
            body: r#"{"errorMessage":"TABLE_NAME is not set"}"#.into()
        })
    );
}

#[tokio::test]
async fn an_unknown_request_id_is_refused() {
    let api = RuntimeApi::start("fake", Duration::from_secs(3))
        .await
        .unwrap();
    let resp = reqwest::Client::new()
        .post(url(&api, "invocation/not-an-id/response"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(v["errorType"], "InvalidRequestID");
}
