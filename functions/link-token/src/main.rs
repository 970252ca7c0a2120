//! `link-token`: see `shared::handlers::link_token`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::serve_http(shared::handlers::link_token::handle).await
}
