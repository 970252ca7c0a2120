//! The HTTP API's routes, written once ([`ROUTES`]), and which requests a function answers at
//! all. Each function serves only its own routes; any other path is 404 `route_not_found` and
//! any other method on its paths 405 `method_not_allowed` (with `Allow`), before anything else
//! happens: no store access, no Plaid call.
//!
//! The route comes from API Gateway's `routeKey` (`"POST /sessions/{id}/link-token"`) when it
//! names one; for `$default` routes, under `cargo lambda watch` and in Lambda function URLs it
//! comes from the request's method and raw path, matched segment by segment (`{id}` is exactly
//! one non-empty segment).
//!
//! # One table, and who reads it
//! [`ROUTES`] is the one list of method, path, function and authorizer. The handlers take their
//! routes (and their log line's `route`) from it. The other three places a route must appear
//! cannot read Rust, so tests compare them with it and fail when one is changed alone:
//! `infra/template.yaml` (each function's `HttpApi` events and their `Auth`:
//! tests/tests/it/template/checks.rs, `check_routes`), the `cargo lambda watch` router in the
//! top `Cargo.toml` (tests/tests/it/template/mod.rs) and `shared/openapi.yaml` (paths, methods,
//! `security`: tests/tests/it/routes.rs). Functions without an HTTP route (reconcile,
//! publish-events) are not in the table, and the template check refuses an HTTP event on them.
//!
//! # Why the template keeps its events (and not the OpenAPI file as `DefinitionBody`)
//! Making `shared/openapi.yaml` the HTTP API's definition was weighed and not done, for now:
//! - the file would have to carry `x-amazon-apigateway-integration` URIs built from the
//!   functions' ARNs, i.e. CloudFormation intrinsics (`Fn::Sub`), so it stops being a plain
//!   OpenAPI document clients and the tests read; the usual way round, `AWS::Include` of a file
//!   in S3, needs `sam package` and a bucket before `cfn-lint` or `sam validate` can see it;
//! - SAM still needs each function's `HttpApi` event to grant API Gateway `lambda:InvokeFunction`
//!   (and it merges those events into the definition), so the routes would still be written
//!   twice, only now in two formats;
//! - the JWT authorizer, the webhook's `Authorizer: NONE` and its own throttle would move into
//!   `x-amazon-apigateway-*` extensions, which the template checks, checkov and cfn-lint read
//!   less well than SAM's own properties.
//!
//! So the events stay the deployed definition and the agreement tests are strict: same routes,
//! same function, same authorizer, nothing extra anywhere.

use super::error::ApiError;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};

/// A function that answers HTTP routes; its cargo binary is [`HttpFunction::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFunction {
    CreateSession,
    GetSession,
    LinkToken,
    Webhook,
}

impl HttpFunction {
    pub const ALL: [HttpFunction; 4] = [
        HttpFunction::CreateSession,
        HttpFunction::GetSession,
        HttpFunction::LinkToken,
        HttpFunction::Webhook,
    ];

    /// The binary (and function folder) name.
    pub const fn name(self) -> &'static str {
        match self {
            HttpFunction::CreateSession => "create-session",
            HttpFunction::GetSession => "get-session",
            HttpFunction::LinkToken => "link-token",
            HttpFunction::Webhook => "webhook",
        }
    }
}

/// Who lets a request through before the function runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorizer {
    /// The HTTP API's JWT authorizer; the token's `sub` is the caller.
    Jwt,
    /// None: anyone may call, and the function checks the caller itself (Plaid's signature).
    None,
}

/// One route of the HTTP API.
#[derive(Debug, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// The path pattern as API Gateway writes it (`{id}` one segment).
    pub path: &'static str,
    /// `"METHOD path"`, API Gateway's `routeKey` and the request log's `route`.
    pub key: &'static str,
    pub function: HttpFunction,
    pub authorizer: Authorizer,
}

macro_rules! route {
    ($method:literal $path:literal => $function:ident, $authorizer:ident) => {
        Route {
            method: $method,
            path: $path,
            key: concat!($method, " ", $path),
            function: HttpFunction::$function,
            authorizer: Authorizer::$authorizer,
        }
    };
}

/// Every route of the HTTP API: the one place they are written.
pub const ROUTES: &[Route] = &[
    route!("POST" "/sessions" => CreateSession, Jwt),
    route!("GET" "/sessions" => GetSession, Jwt),
    route!("GET" "/sessions/{id}" => GetSession, Jwt),
    route!("POST" "/sessions/{id}/link-token" => LinkToken, Jwt),
    route!("POST" "/webhooks/plaid" => Webhook, None),
];

/// The routes `function` serves, in table order.
pub fn routes_of(function: HttpFunction) -> impl Iterator<Item = &'static Route> + Clone {
    ROUTES.iter().filter(move |r| r.function == function)
}

/// `Ok` with the matched route when `req` is one of `function`'s, else the 404 / 405 to answer.
pub fn matched(req: &Request, function: HttpFunction) -> Result<&'static Route, ApiError> {
    let own = routes_of(function);
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

fn decide(
    own: impl Iterator<Item = &'static Route>,
    method: &str,
    path_is: impl Fn(&str) -> bool,
) -> Result<&'static Route, ApiError> {
    let on_path: Vec<&'static Route> = own.filter(|r| path_is(r.path)).collect();
    if on_path.is_empty() {
        return Err(ApiError::RouteNotFound);
    }
    on_path
        .iter()
        .copied()
        .find(|r| r.method.eq_ignore_ascii_case(method))
        .ok_or_else(|| {
            let mut allow: Vec<&'static str> = on_path.iter().map(|r| r.method).collect();
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

    fn get() -> impl Iterator<Item = &'static Route> + Clone {
        routes_of(HttpFunction::GetSession)
    }

    #[test]
    fn the_table_is_well_formed() {
        let mut keys: Vec<&str> = ROUTES.iter().map(|r| r.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), ROUTES.len(), "a route is written twice");
        for r in ROUTES {
            assert_eq!(r.key, format!("{} {}", r.method, r.path));
            assert!(
                r.path.starts_with('/') && !r.path.ends_with('/'),
                "{}",
                r.key
            );
        }
        for f in HttpFunction::ALL {
            assert!(routes_of(f).next().is_some(), "{f:?} serves no route");
        }
    }

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
            decide(get(), "GET", |p| path_matches(p, "/sessions/a")),
            Ok(Route {
                key: "GET /sessions/{id}",
                ..
            })
        ));
        assert!(matches!(
            decide(get(), "POST", |p| path_matches(p, "/sessions")),
            Err(ApiError::MethodNotAllowed { allow }) if allow == "GET"
        ));
        assert!(matches!(
            decide(get(), "GET", |p| path_matches(p, "/sessions/a/b")),
            Err(ApiError::RouteNotFound)
        ));
    }
}
