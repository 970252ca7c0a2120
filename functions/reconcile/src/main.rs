//! `reconcile`: see `shared::handlers::reconcile`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::serve_reconcile().await
}
