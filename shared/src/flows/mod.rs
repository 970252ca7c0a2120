//! The use cases, between the HTTP edge (`handlers`) and the domain and adapters: starting a
//! verification and recording what Plaid says about a session.

pub mod plaid_calls;
pub mod start;
pub mod sync;
