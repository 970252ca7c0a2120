//! What a handler works with: built once per cold start by `bootstrap`, or by tests.

use crate::clock::Clock;
use crate::config::Config;
use crate::plaid::PlaidClient;
use crate::store::SessionStore;
use std::sync::Arc;

pub struct AppContext<S: SessionStore> {
    pub config: Config,
    pub store: S,
    pub plaid: PlaidClient,
    pub clock: Arc<dyn Clock>,
}

impl<S: SessionStore> AppContext<S> {
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }
}
