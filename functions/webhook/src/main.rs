//! `webhook`: see `shared::handlers::webhook`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::serve_webhook().await
}
