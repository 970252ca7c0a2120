//! The session domain: records and the lifecycle rules, free of Lambda, HTTP and AWS.

pub mod record;

pub use record::SessionRecord;
