//! The library every function of the bundle uses: Plaid types and client, webhook verification,
//! the session domain, the DynamoDB store, config and credentials, the use cases and the HTTP
//! handlers.
//!
//! # Layers
//!
//! Bottom up; a module uses only modules of lower layers, never one of its own layer or above
//! (`tests/layers.rs` reads this list and checks every `crate::` path against it). A submodule
//! listed on its own (`plaid::types`) is a layer apart from the rest of its parent.
//!
//! 1. `proptest_seed`, `clock`, `logging`, `tls`, `aws`: nothing of ours below them (the test
//!    seed, time, the log line's fields, TLS roots, what every AWS client shares).
//! 2. `ids`: the identifier newtypes.
//! 3. `plaid::types`: Plaid's shapes, pure.
//! 4. `config`, `session`: the settings, parsed once, each setting's type beside its parsing
//!    (`config::source_ips`, `config::open_shards`); the session domain, pure
//!    (`session::attempt_order` is the one rule for which attempt is newer).
//! 5. `emf`, `credentials`: metrics, taking plain values (names from closed sets, Plaid's
//!    status, `emf::PlaidFailure`), so whatever knows a fact can record it; the Plaid secret.
//! 6. `plaid`, `store`: the Plaid client and the DynamoDB store, talking to the outside.
//! 7. `context`, `webhook_verify`, `http`, `outcome_webhook`: what a handler works with;
//!    webhook verification (keys fetched through the Plaid client); the HTTP edge's requests,
//!    routes and the one mapping of errors to answers; outcome webhooks to the app.
//! 8. `flows`: the use cases (start, read, list, sync, reconcile, a webhook's meaning),
//!    returning typed outcomes.
//! 9. `handlers`: the edge: parse, call a flow, answer, count, log.
//! 10. `bootstrap`: wires it all once per cold start and serves.
//! 11. `events`: the table's stream to outcome events (`publish-events`), served through
//!     `bootstrap`.

pub mod aws;
pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod context;
pub mod credentials;
pub mod emf;
pub mod events;
pub mod flows;
pub mod handlers;
pub mod http;
pub mod ids;
pub mod logging;
pub mod outcome_webhook;
pub mod plaid;
#[cfg(test)]
pub(crate) mod proptest_seed;
pub mod session;
pub mod store;
pub mod tls;
pub mod webhook_verify;
