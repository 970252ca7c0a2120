//! The library every function of the bundle uses: Plaid types and client, webhook verification,
//! the session domain, the DynamoDB store, config and credentials, and the HTTP handlers.

pub mod clock;
pub mod config;
pub mod credentials;
pub mod ids;
pub mod plaid;
pub mod session;
pub mod store;
pub mod webhook_verify;
