//! The Plaid endpoint paths the emulator serves, named once: its routes and fault injection use
//! them, and so do the tests that count, break or replay calls to them.

pub const IDV_CREATE: &str = "/identity_verification/create";
pub const IDV_GET: &str = "/identity_verification/get";
pub const IDV_LIST: &str = "/identity_verification/list";
pub const IDV_RETRY: &str = "/identity_verification/retry";
pub const LINK_TOKEN_CREATE: &str = "/link/token/create";
pub const WEBHOOK_KEY_GET: &str = "/webhook_verification_key/get";

/// Every Plaid endpoint the emulator answers (the ones a fault can be armed on).
pub const ALL: [&str; 6] = [
    IDV_CREATE,
    IDV_GET,
    IDV_LIST,
    IDV_RETRY,
    LINK_TOKEN_CREATE,
    WEBHOOK_KEY_GET,
];
