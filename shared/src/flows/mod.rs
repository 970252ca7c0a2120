//! The use cases, between the HTTP edge (`handlers`) and the domain and adapters: starting a
//! verification, reading one, issuing its Link token, recording what Plaid says about a session,
//! and what a webhook is about. They return typed outcomes; the handler parses, answers and logs.

pub mod link_token;
pub mod plaid_calls;
pub mod read;
pub mod reconcile;
pub mod start;
pub mod sync;
pub mod webhook;
