//! Which requests a function answers at all. Each function serves only its own routes; any other
//! path is 404 `route_not_found` and any other method on its paths 405 `method_not_allowed`
//! (with `Allow`), before anything else happens: no store access, no Plaid call.
//!
//! The route comes from API Gateway's `routeKey` (`"POST /sessions/{id}/link-token"`) when it
//! names one; for `$default` routes, under `cargo lambda watch` and in Lambda function URLs it
//! comes from the request's method and raw path, matched segment by segment (`{id}` is exactly
//! one non-empty segment).

use super::error::ApiError;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// One route a function serves: its method and its path pattern, as in the HTTP API.
pub type Route = (&'static str, &'static str);

/// `Ok` with the matched route when `req` is one of `own`, else the 404 / 405 to answer.
pub fn matched(req: &Request, own: &[Route]) -> Result<Route, ApiError> {
    let route_key = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.clone(),
        _ => None,
    };
    match route_key.as_deref().and_then(|k| k.split_once(' ')) {
        // API Gateway already matched a route: it must be one of ours, exactly.
        Some((method, pattern)) => decide(own, method, |p| p == pattern),
        None => {
            let path = req.raw_http_path();
            decide(own, req.method().as_str(), |p| path_matches(p, path))
        }
    }
}

fn decide(own: &[Route], method: &str, path_is: impl Fn(&str) -> bool) -> Result<Route, ApiError> {
    let on_path: Vec<Route> = own.iter().copied().filter(|(_, p)| path_is(p)).collect();
    if on_path.is_empty() {
        return Err(ApiError::RouteNotFound);
    }
    on_path
        .iter()
        .copied()
        .find(|(m, _)| m.eq_ignore_ascii_case(method))
        .ok_or_else(|| {
            let mut allow: Vec<&'static str> = on_path.iter().map(|(m, _)| *m).collect();
            allow.dedup();
            ApiError::MethodNotAllowed {
                allow: allow.join(", "),
            }
        })
}

/// `/sessions/{id}/link-token` against `/sessions/idv_1/link-token`: literal segments equal,
/// `{…}` one non-empty segment, the same number of segments (a trailing `/` is one more).
fn path_matches(pattern: &str, path: &str) -> bool {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with('{') && w.ends_with('}') => {
                if g.is_empty() {
                    return false;
                }
            }
            (Some(w), Some(g)) if w == g => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: &[Route] = &[("GET", "/sessions"), ("GET", "/sessions/{id}")];

    #[test]
    fn patterns() {
        assert!(path_matches("/sessions", "/sessions"));
        assert!(path_matches("/sessions/{id}", "/sessions/idv_1"));
        assert!(path_matches(
            "/sessions/{id}/link-token",
            "/sessions/idv_1/link-token"
        ));
        for path in [
            "/sessions/",
            "/sessions/x/y/z",
            "/",
            "",
            "/sessionsx",
            "/nope",
        ] {
            assert!(!path_matches("/sessions", path), "{path}");
        }
        assert!(!path_matches("/sessions/{id}", "/sessions//"));
        assert!(!path_matches("/sessions/{id}", "/sessions/a/b"));
    }

    #[test]
    fn method_and_path() {
        assert!(matches!(
            decide(GET, "GET", |p| path_matches(p, "/sessions/a")),
            Ok(("GET", "/sessions/{id}"))
        ));
        assert!(matches!(
            decide(GET, "POST", |p| path_matches(p, "/sessions")),
            Err(ApiError::MethodNotAllowed { allow }) if allow == "GET"
        ));
        assert!(matches!(
            decide(GET, "GET", |p| path_matches(p, "/sessions/a/b")),
            Err(ApiError::RouteNotFound)
        ));
    }
}
