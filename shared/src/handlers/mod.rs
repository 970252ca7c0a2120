//! The five functions' handlers: plain async functions over an [`AppContext`], called by each
//! function's `main.rs` and directly by tests.
//!
//! [`AppContext`]: crate::context::AppContext

pub mod create_session;
pub mod get_session;
pub mod link_token;
pub mod reconcile;
pub mod session_body;
pub mod webhook;

use crate::flows::plaid_calls::PlaidCalls;
use crate::http::ApiError;
use crate::http::route::{HttpFunction, Route};
use lambda_http::{Body, Request, RequestExt, Response};
use std::time::Instant;

/// What the one log line of a request says. Never PII, secrets, link tokens or shareable URLs.
#[derive(Debug)]
pub struct RequestLog {
    pub route: &'static str,
    pub aws_request_id: Option<String>,
    pub idv_id: Option<String>,
    /// What Plaid said: the flows note their calls here too.
    pub plaid: PlaidCalls,
    started: Instant,
}

impl RequestLog {
    pub fn new(route: &'static str, req: &Request) -> Self {
        RequestLog {
            route,
            aws_request_id: req.lambda_context_ref().map(|c| c.request_id.clone()),
            idv_id: None,
            plaid: PlaidCalls::default(),
            started: Instant::now(),
        }
    }
}

/// The route of `function`'s that `req` is, or the 404 / 405 answer (logged like any other)
/// when it is none of them. Every handler asks this first, before any store or Plaid call.
pub fn own_route(
    req: &Request,
    function: HttpFunction,
) -> Result<&'static Route, Box<Response<Body>>> {
    crate::http::route::matched(req, function)
        .map_err(|refusal| Box::new(finish(RequestLog::new("unmatched", req), Err(refusal))))
}

/// Turn a handler's result into the response and write the request's log line.
///
/// The one place errors become answers: an error body's `request_id` is the invocation's Lambda
/// request id, the same one this log line carries as `aws_request_id`, so a caller quoting it
/// leads support to the line. Without a Lambda context (a handler called directly, as tests do)
/// both are empty.
pub fn finish(log: RequestLog, result: Result<Response<Body>, ApiError>) -> Response<Body> {
    let (resp, error_code, config_key) = match result {
        Ok(r) => (r, None, None),
        Err(e) => {
            let code = e.code();
            let config_key = e.config_key();
            (
                e.into_response(log.aws_request_id.as_deref().unwrap_or("")),
                Some(code),
                config_key,
            )
        }
    };
    let status = resp.status().as_u16();
    let latency_ms = log.started.elapsed().as_secs_f64() * 1000.0;
    // One line, at error level when the answer is ours to fix; tracing's levels are static per
    // call site, hence the macro rather than a level variable.
    macro_rules! request_line {
        ($level:ident) => {
            tracing::$level!(
                route = log.route,
                status,
                latency_ms,
                aws_request_id = log.aws_request_id.as_deref().unwrap_or(""),
                idv_id = log.idv_id.as_deref().unwrap_or(""),
                plaid_request_id = log.plaid.request_id.as_deref().unwrap_or(""),
                plaid_error_code = log.plaid.error_code.as_deref().unwrap_or(""),
                error_code,
                // The setting to fix, when only configuration can cause the error: here, never
                // in the answer's body.
                config_key,
                "request"
            )
        };
    }
    if status >= 500 {
        request_line!(error);
    } else {
        request_line!(info);
    }
    resp
}
