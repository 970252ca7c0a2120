//! The library every function of the bundle uses: Plaid types and client, webhook verification,
//! the session domain, the DynamoDB store, config and credentials, and the HTTP handlers.
//!
//! Layers, inside out: `ids`, `plaid::types` and `session` are pure; `store`, `plaid::client`,
//! `credentials` and `webhook_verify` talk to the outside; `handlers` and `http` are the edge;
//! `bootstrap` wires it all once per cold start.

pub mod bootstrap;
pub mod clock;
pub mod config;
pub mod context;
pub mod credentials;
pub mod emf;
pub mod handlers;
pub mod http;
pub mod ids;
pub mod logging;
pub mod plaid;
pub mod session;
pub mod store;
pub mod tls;
pub mod webhook_verify;
