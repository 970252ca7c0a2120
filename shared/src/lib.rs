//! The library every function of the bundle uses: Plaid types and client, webhook verification,
//! the session domain, the DynamoDB store, config and credentials, the use cases and the HTTP
//! handlers.
//!
//! Layers, inside out: `ids`, `plaid::types` and `session` are pure (`session::attempt_order`
//! is the one rule for which attempt is newer); `store`, `plaid::client`, `credentials` and
//! `webhook_verify` talk to the outside, and `aws` holds what every AWS client shares; `flows`
//! are the use cases (start a verification, record what Plaid says), returning typed outcomes;
//! `handlers` and `http` are the edge: parse, call a flow, answer, log; `bootstrap` wires it all
//! once per cold start. `events` turns the table's stream into outcome events (`publish-events`).

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
