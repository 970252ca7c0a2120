//! `publish-events`: see `shared::events`.

// A Lambda execution environment serves one invocation at a time: a single-threaded runtime
// keeps the handler, its HTTP connections and the Runtime API client on one thread (as the
// other functions do).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::events::serve::serve().await
}
