//! Real API Gateway HTTP API (payload 2.0) events for driving handlers in-process, built from
//! the same JSON shape as `tests/events/*.json` and parsed by `lambda_http` exactly as in Lambda.

use lambda_http::Request;
use serde_json::{Value, json};

/// A request as API Gateway would hand it to a function behind the JWT authorizer.
#[derive(Debug, Clone)]
pub struct ApiEvent {
    method: &'static str,
    path: String,
    route: &'static str,
    path_id: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<String>,
    base64: bool,
    sub: Option<String>,
    source_ip: String,
    /// The `scope` claim (space-separated, as in Cognito access tokens).
    scope: Option<String>,
    /// The Lambda request id of the invocation (the Lambda context's), when given.
    lambda_request_id: Option<String>,
}

impl ApiEvent {
    pub fn new(method: &'static str, path: impl Into<String>, route: &'static str) -> Self {
        ApiEvent {
            method,
            path: path.into(),
            route,
            path_id: None,
            query: Vec::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: None,
            base64: false,
            sub: None,
            source_ip: "192.0.2.10".into(),
            scope: None,
            lambda_request_id: None,
        }
    }

    pub fn post_sessions() -> Self {
        Self::new("POST", "/sessions", "POST /sessions")
    }

    pub fn get_session(id: &str) -> Self {
        Self::new(
            "GET",
            format!("/sessions/{}", urlencode(id)),
            "GET /sessions/{id}",
        )
        .path_id(id)
    }

    pub fn list_sessions() -> Self {
        Self::new("GET", "/sessions", "GET /sessions")
    }

    pub fn link_token(id: &str) -> Self {
        Self::new(
            "POST",
            format!("/sessions/{}/link-token", urlencode(id)),
            "POST /sessions/{id}/link-token",
        )
        .path_id(id)
    }

    pub fn webhook(headers: &[(String, String)], body: &[u8]) -> Self {
        let mut e = Self::new("POST", "/webhooks/plaid", "POST /webhooks/plaid");
        e.headers = headers.to_vec();
        e.raw_body(body)
    }

    /// Drop every header (including the default `content-type`), to pass on a real request's.
    pub fn no_headers(mut self) -> Self {
        self.headers.clear();
        self
    }

    /// The caller: the `sub` claim the JWT authorizer passes on.
    pub fn user(mut self, sub: &str) -> Self {
        self.sub = Some(sub.to_owned());
        self
    }

    /// The caller's address as API Gateway reports it (`requestContext.http.sourceIp`);
    /// `192.0.2.10` (a documentation address) unless set.
    pub fn source_ip(mut self, ip: &str) -> Self {
        ip.clone_into(&mut self.source_ip);
        self
    }

    /// The token's `scope` claim, space-separated (e.g. `"openid idv/review"`).
    pub fn scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.to_owned());
        self
    }

    pub fn path_id(mut self, id: &str) -> Self {
        self.path_id = Some(id.to_owned());
        self
    }

    pub fn query(mut self, k: &str, v: &str) -> Self {
        self.query.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers
            .retain(|(name, _)| !name.eq_ignore_ascii_case(k));
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn json(self, v: &Value) -> Self {
        self.body(&v.to_string())
    }

    pub fn body(mut self, text: &str) -> Self {
        self.body = Some(text.to_owned());
        self.base64 = false;
        self
    }

    /// Any bytes: sent base64-encoded with `isBase64Encoded: true`, as API Gateway does for
    /// bodies that are not text.
    pub fn raw_body(mut self, bytes: &[u8]) -> Self {
        use base64::Engine;
        self.body = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.base64 = true;
        self
    }

    pub fn event(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), Value::String(v.clone())))
            .collect();
        let raw_query = self
            .query
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let mut ctx = json!({
            "accountId": "123456789012",
            "apiId": "testapi",
            "domainName": "testapi.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "testapi",
            "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                     "sourceIp": self.source_ip, "userAgent": "testkit"},
            "requestId": format!("req-{}", fastrand::u64(..)),
            "routeKey": self.route,
            "stage": "$default",
            "time": "26/Nov/2026:01:00:00 +0000",
            "timeEpoch": 1_795_741_200_000u64,
        });
        if let Some(sub) = &self.sub {
            ctx["authorizer"] = json!({"jwt": {"claims": {"sub": sub, "iss": "https://issuer.example"}, "scopes": null}});
            if let Some(scope) = &self.scope {
                ctx["authorizer"]["jwt"]["claims"]["scope"] = json!(scope);
            }
        }
        let mut e = json!({
            "version": "2.0",
            "routeKey": self.route,
            "rawPath": self.path,
            "rawQueryString": raw_query,
            "headers": headers,
            "requestContext": ctx,
            "isBase64Encoded": self.base64,
        });
        if !self.query.is_empty() {
            let q: serde_json::Map<String, Value> = self
                .query
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            e["queryStringParameters"] = Value::Object(q);
        }
        if let Some(id) = &self.path_id {
            e["pathParameters"] = json!({ "id": id });
        }
        if let Some(b) = &self.body {
            e["body"] = Value::String(b.clone());
        }
        e
    }

    /// Hand the request over with a Lambda context whose request id is `id`, as the runtime
    /// does (without one, a handler runs with no Lambda context at all).
    pub fn lambda_request_id(mut self, id: &str) -> Self {
        self.lambda_request_id = Some(id.to_owned());
        self
    }

    pub fn request(&self) -> Request {
        let req = lambda_http::request::from_str(&self.event().to_string())
            .expect("a valid API Gateway v2 event");
        match &self.lambda_request_id {
            Some(id) => {
                use lambda_http::RequestExt;
                let mut context = lambda_http::Context::default();
                context.request_id = id.clone();
                req.with_lambda_context(context)
            }
            None => req,
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A handler's answer, decoded.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub json: Value,
}

impl Answer {
    pub fn from_response(resp: lambda_http::Response<lambda_http::Body>) -> Self {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes: Vec<u8> = match resp.into_body() {
            lambda_http::Body::Text(t) => t.into_bytes(),
            lambda_http::Body::Binary(b) => b,
            _ => Vec::new(),
        };
        let json = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "status {status}: body is not JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        });
        Answer {
            status,
            headers,
            json,
        }
    }

    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// A 503 that tells the caller (Plaid, for a webhook) to come back later: error `code` and
    /// a Retry-After of at least one second. `what` names the case in a failure.
    #[track_caller]
    pub fn assert_unavailable(&self, code: &str, what: &str) {
        assert_eq!(
            (self.status, self.error_code()),
            (503, code),
            "{what}: {}",
            self.json
        );
        let after: u64 = self
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what}: 503 {code} without a Retry-After in seconds"));
        assert!(after >= 1, "{what}: Retry-After {after}");
    }

    /// The rule for a start that races other starts of the same user: it answers the session
    /// (201 made, 200 found), or, when the start holding the retry claim outlasts its wait (a
    /// busy machine can make it), 409 `start_in_progress` with a Retry-After. Returns the
    /// session id of a 2xx answer, `None` for `start_in_progress`; anything else fails.
    #[track_caller]
    pub fn concurrent_start_id(&self) -> Option<&str> {
        match self.status {
            200 | 201 => Some(
                self.json["id"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a started session without id: {}", self.json)),
            ),
            409 if self.error_code() == "start_in_progress" => {
                assert!(
                    self.headers.contains_key("retry-after"),
                    "start_in_progress without Retry-After"
                );
                None
            }
            other => panic!("a concurrent start answered {other}: {}", self.json),
        }
    }
}
