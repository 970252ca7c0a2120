//! Plaid: the wire types and the HTTP client for the IDV endpoints.

pub mod client;
pub mod deadline;
pub mod error;
pub mod types;

pub use client::{ClientOptions, PlaidClient};
pub use error::PlaidError;
