//! What a request's Plaid calls said, for its log line: every flow and handler notes each Plaid
//! answer or failure here, so the line names the last Plaid request and any Plaid error code.

use crate::plaid::PlaidError;

/// Last write wins, as the log line has one `plaid_request_id`: a later answer replaces an
/// earlier one's id, and a failure sets both the id (if Plaid gave one) and the error code.
#[derive(Debug, Default)]
pub struct PlaidCalls {
    pub request_id: Option<String>,
    pub error_code: Option<String>,
}

impl PlaidCalls {
    /// Plaid answered, with this request id.
    pub fn answered(&mut self, request_id: Option<&str>) {
        self.request_id = request_id.map(str::to_owned);
    }

    /// A Plaid call failed: Plaid's error code, or ours naming how it failed.
    pub fn failed(&mut self, e: &PlaidError) {
        self.request_id = e.request_id().map(str::to_owned);
        self.error_code = Some(
            e.error_code()
                .map(str::to_owned)
                .unwrap_or_else(|| e.local_code().to_owned()),
        );
    }
}
