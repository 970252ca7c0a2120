//! The session domain: records and the lifecycle rules, free of Lambda, HTTP and AWS.

pub mod attempt_order;
pub mod lifecycle;
pub mod record;
pub mod user_input;

pub use record::SessionRecord;
