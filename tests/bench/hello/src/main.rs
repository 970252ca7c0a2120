//! The floor for init in `make bench`: a bare `lambda_runtime` binary, started and driven by
//! `lambda-bench` the same way as the functions, built with the same `[profile.release]`.
//!
//! It answers in the shape of an API Gateway response so that the bench can check its answers as
//! it checks the functions'. It runs on tokio's current-thread scheduler, as the functions do
//! (`shared::bootstrap`), so the ratio of the two inits is what the functions do beyond the
//! runtime, not a difference in scheduler start-up.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn hello(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let who = event.payload["name"].as_str().unwrap_or("world");
    Ok(json!({
        "statusCode": 200,
        "headers": { "content-type": "application/json" },
        "body": json!({ "message": format!("hello {who}") }).to_string(),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(hello)).await
}
