//! The Plaid HTTP client (reqwest + rustls).
//!
//! Every call is a POST with a JSON body; the credentials travel as the `PLAID-CLIENT-ID` /
//! `PLAID-SECRET` headers (never in a body that might end up in a log) and the API version is
//! pinned with `Plaid-Version`.
//!
//! Retries: 429, 500, 502, 503, 504, timeouts and connection failures are retried with
//! full-jitter exponential backoff (raised to Plaid's `Retry-After`, capped at `max_backoff`),
//! up to `max_attempts`, and only while the time left allows another *full* attempt (backoff
//! plus `timeout`) before the call's deadline: the earlier of `budget` after the call started
//! and the Lambda invocation's own deadline less a reserve (see [`deadline`]). No attempt's
//! timeout runs past that deadline either. So failures that answer fast (a 500 in a few
//! milliseconds, a refused connection) get every attempt, and a Plaid that hangs costs at most
//! the budget, never the function's timeout. Only calls that are safe to repeat are retried:
//! - `/identity_verification/get`, `/list`, `/webhook_verification_key/get`: read-only;
//! - `/identity_verification/create` only with `is_idempotent: true` (Plaid then returns the
//!   session the first attempt may have created);
//! - `/link/token/create`: a repeat at worst mints a second token that is never used; IDV keys
//!   the session on `client_user_id` + template, so both tokens open the same session;
//! - never `/identity_verification/retry`: every call that reaches Plaid starts a new, billed
//!   session, and a timeout does not tell us whether it did.
//!
//! [`deadline`]: crate::plaid::deadline
//!
//! `INVALID_API_KEYS` is different: Plaid rejected the request before doing anything, so any
//! call is resent once with freshly read credentials (the secret was probably rotated).

use crate::credentials::CredentialsProvider;
use crate::ids::IdvId;
use crate::plaid::error::PlaidError;
use crate::plaid::types::*;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

mod call;

/// The API version this code is written against (`Plaid-Version` header).
pub const PLAID_VERSION: &str = "2020-09-14";

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Whole-request timeout of one attempt.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts for calls that are safe to repeat (1 = no retry).
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, with full jitter, capped at `max_backoff`.
    /// A `Retry-After` from Plaid raises the delay to at most `max_backoff` too.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The most one call may take, all attempts and backoffs included. A new attempt starts
    /// only if a full one (backoff + `timeout`) still fits; an invocation deadline set with
    /// [`deadline::within`](crate::plaid::deadline::within) can only shorten it.
    pub budget: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(8),
            connect_timeout: Duration::from_secs(2),
            max_attempts: 3,
            base_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            budget: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct PlaidClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: url::Url,
    credentials: Arc<CredentialsProvider>,
    options: ClientOptions,
}

impl std::fmt::Debug for PlaidClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaidClient")
            .field("base_url", &self.inner.base_url.as_str())
            .field("credentials", &self.inner.credentials)
            .field("options", &self.inner.options)
            .finish()
    }
}

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Create,
    Get,
    List,
    Retry,
    LinkTokenCreate,
    WebhookVerificationKeyGet,
}

impl Endpoint {
    /// Relative to the base URL (no leading slash, so a base path prefix is kept).
    fn path(self) -> &'static str {
        match self {
            Endpoint::Create => "identity_verification/create",
            Endpoint::Get => "identity_verification/get",
            Endpoint::List => "identity_verification/list",
            Endpoint::Retry => "identity_verification/retry",
            Endpoint::LinkTokenCreate => "link/token/create",
            Endpoint::WebhookVerificationKeyGet => "webhook_verification_key/get",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Safe,
    Never,
}

/// Responses carry Plaid's `request_id`, which support asks for: it goes into the log line.
trait PlaidResponse: DeserializeOwned {
    fn request_id(&self) -> Option<&str>;
}

impl PlaidResponse for IdentityVerification {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}
impl PlaidResponse for ListResponse {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}
impl PlaidResponse for LinkTokenCreateResponse {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}
impl PlaidResponse for WebhookVerificationKeyGetResponse {
    fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }
}

impl PlaidClient {
    pub fn new(
        base_url: url::Url,
        credentials: Arc<CredentialsProvider>,
        options: ClientOptions,
    ) -> Result<Self, PlaidError> {
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(PlaidError::Config(format!(
                "base URL {base_url} is not an http(s) URL"
            )));
        }
        if base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(PlaidError::Config(format!(
                "base URL {base_url} must not have a query or fragment"
            )));
        }
        let mut base_url = base_url;
        // `Url::join` replaces the last segment unless the path ends in '/':
        // `http://h/prefix` + `identity_verification/get` must keep `prefix`.
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let tls = crate::tls::reqwest_config()
            .map_err(|e| PlaidError::Config(format!("could not set up TLS: {e}")))?;
        let http = reqwest::Client::builder()
            // The roots the AWS SDK's client uses too, read once per process (see `tls`).
            .tls_backend_preconfigured(tls)
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            // Plaid never redirects; following one would hand PLAID-SECRET to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("plaid-idv-lambda/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlaidError::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(PlaidClient {
            inner: Arc::new(Inner {
                http,
                base_url,
                credentials,
                options,
            }),
        })
    }

    /// `/identity_verification/create`; retried only when `req.is_idempotent`.
    pub async fn create(&self, req: &CreateRequest) -> Result<IdentityVerification, PlaidError> {
        let repeat = if req.is_idempotent {
            Repeat::Safe
        } else {
            Repeat::Never
        };
        self.call(Endpoint::Create, req, repeat).await
    }

    pub async fn get(&self, id: &IdvId) -> Result<IdentityVerification, PlaidError> {
        let req = GetRequest {
            identity_verification_id: id.clone(),
        };
        self.call(Endpoint::Get, &req, Repeat::Safe).await
    }

    pub async fn list(&self, req: &ListRequest) -> Result<ListResponse, PlaidError> {
        self.call(Endpoint::List, req, Repeat::Safe).await
    }

    /// `/identity_verification/retry`: never retried (each call makes a new session).
    pub async fn retry(&self, req: &RetryRequest) -> Result<IdentityVerification, PlaidError> {
        if req.strategy == RetryStrategy::Custom && req.steps.is_none() {
            return Err(PlaidError::InvalidRequest(
                "the custom retry strategy needs `steps`".into(),
            ));
        }
        self.call(Endpoint::Retry, req, Repeat::Never).await
    }

    pub async fn link_token_create(
        &self,
        req: &LinkTokenCreateRequest,
    ) -> Result<LinkTokenCreateResponse, PlaidError> {
        if req.products.len() != 1 || req.products[0] != PRODUCT_IDENTITY_VERIFICATION {
            return Err(PlaidError::InvalidRequest(
                "an IDV link token takes exactly products: [\"identity_verification\"]".into(),
            ));
        }
        if req.client_name.trim().is_empty() || req.language.trim().is_empty() {
            return Err(PlaidError::InvalidRequest(
                "client_name and language must not be empty".into(),
            ));
        }
        if req.country_codes.is_empty() {
            return Err(PlaidError::InvalidRequest(
                "country_codes needs at least one code".into(),
            ));
        }
        if req.redirect_uri.is_some() && req.android_package_name.is_some() {
            return Err(PlaidError::InvalidRequest(
                "redirect_uri and android_package_name are mutually exclusive".into(),
            ));
        }
        self.call(Endpoint::LinkTokenCreate, req, Repeat::Safe)
            .await
    }

    pub async fn webhook_verification_key_get(
        &self,
        key_id: &str,
    ) -> Result<JwkPublicKey, PlaidError> {
        if key_id.is_empty() {
            return Err(PlaidError::InvalidRequest("key_id is empty".into()));
        }
        let req = WebhookVerificationKeyGetRequest {
            key_id: key_id.to_owned(),
        };
        let resp: WebhookVerificationKeyGetResponse = self
            .call(Endpoint::WebhookVerificationKeyGet, &req, Repeat::Safe)
            .await?;
        Ok(resp.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::Credentials;

    pub(super) fn client(options: ClientOptions, base: &str) -> Result<PlaidClient, PlaidError> {
        PlaidClient::new(
            url::Url::parse(base).unwrap(),
            Arc::new(CredentialsProvider::fixed(Credentials::new(
                "id", "hunter2",
            ))),
            options,
        )
    }

    #[test]
    fn base_url_prefix_is_kept() {
        for base in [
            "http://h/prefix",
            "http://h/prefix/",
            "http://h",
            "http://h/",
        ] {
            let c = client(ClientOptions::default(), base).unwrap();
            let url = c.inner.base_url.join(Endpoint::Get.path()).unwrap();
            let want = if base.contains("prefix") {
                "http://h/prefix/identity_verification/get"
            } else {
                "http://h/identity_verification/get"
            };
            assert_eq!(url.as_str(), want, "{base}");
        }
    }

    #[test]
    fn unusable_base_urls_are_refused() {
        for base in ["mailto:x@example.com", "http://h/?a=b", "ftp://h/"] {
            assert!(
                matches!(
                    client(ClientOptions::default(), base),
                    Err(PlaidError::Config(_))
                ),
                "{base}"
            );
        }
    }

    #[test]
    fn debug_output_has_no_secret() {
        let c = client(ClientOptions::default(), "http://h").unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("http://h/"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
