//! The use cases, between the HTTP edge (`handlers`) and the domain and adapters: starting a
//! verification, recording what Plaid says about a session, and what a webhook is about. They
//! return typed outcomes; the handler answers and logs.

pub mod plaid_calls;
pub mod start;
pub mod sync;
pub mod webhook;
