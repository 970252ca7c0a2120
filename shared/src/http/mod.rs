//! The HTTP edge: reading API Gateway requests and writing JSON answers. The domain below it
//! knows nothing of HTTP.

pub mod error;
pub mod request;
pub mod response;
pub mod route;

pub use error::{ApiError, ErrorCode};
