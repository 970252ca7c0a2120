//! `create-session`: see `shared::handlers::create_session`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::serve_http(shared::handlers::create_session::handle).await
}
