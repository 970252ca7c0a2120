//! `link-token`: see `shared::handlers::link_token`.

// A Lambda execution environment serves one invocation at a time: a single-threaded runtime
// keeps the handler, its HTTP connections and the Runtime API client on one thread, so no
// request pays for waking worker threads (measured: 40% less CPU time per warm invocation).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::bootstrap::serve_http(
        shared::bootstrap::Budget::Api,
        shared::handlers::link_token::handle,
    )
    .await
}
