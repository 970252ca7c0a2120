//! `get-session`: see `shared::handlers::get_session`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::serve_http(shared::handlers::get_session::handle).await
}
