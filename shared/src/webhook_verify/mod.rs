//! Verification of Plaid's `Plaid-Verification` webhook JWT (ES256), every step, in order.
//!
//! Plaid signs each webhook with a JWT in the `Plaid-Verification` header: an ES256 (ECDSA
//! P-256, SHA-256) compact JWS whose header names the signing key (`kid`) and whose claims are
//! `iat` and `request_body_sha256`. [`WebhookVerifier::verify`] accepts a delivery only when all
//! of the following hold, checked in this order (cheapest and key-free first, so a forged
//! request is turned away before it costs a call to Plaid, and the body is hashed last):
//!
//! 1. **Header present** ([`VerifyError::MissingHeader`]). HTTP header names are
//!    case-insensitive; API Gateway HTTP APIs and Function URLs lowercase them, REST APIs keep
//!    the sender's case. [`find_header`] looks the value up in an [`http::HeaderMap`], which
//!    is case-insensitive by construction.
//! 2. **Compact JWS** ([`VerifyError::Malformed`]): at most 4 KiB, exactly three non-empty,
//!    strict unpadded base64url segments; the JOSE header is a JSON object without duplicate
//!    keys or `crit`.
//! 3. **Algorithm and key id, from the untrusted header**: `alg` exactly `"ES256"`
//!    ([`VerifyError::UnsupportedAlgorithm`] for `none`, `HS256`, `RS256`, `ES384`, `es256`…:
//!    the algorithm-confusion defence) and `kid` present ([`VerifyError::MissingKid`]) and
//!    shaped as Plaid issues it, a lower-case UUID `8-4-4-4-12` hex
//!    (`bfbd5111-8e33-4643-8ced-b2e642a72f3c`; anything else, upper case included, is
//!    [`VerifyError::BadKid`], see [`is_plaid_kid`]). The signature must be 64 bytes (JOSE's
//!    `r||s`; a DER signature is [`VerifyError::BadSignature`]). Keys named inside the token
//!    (`jwk`, `jku`, `x5u`) are ignored: keys only ever come from Plaid.
//! 4. **Key for that `kid`**, from a cache inside the verifier or, on a miss, from the
//!    [`KeyFetcher`] (Plaid's `/webhook_verification_key/get`). One fetch per `kid` at a time
//!    however many deliveries wait for it; unknown `kid`s are remembered for
//!    [`VerifierOptions::unknown_kid_ttl`] ([`VerifyError::UnknownKey`]); keys are re-fetched
//!    after [`VerifierOptions::key_ttl`] and whenever a new `kid` appears (rotation), so an
//!    `expired_at` Plaid sets later is noticed. Plaid unreachable (timeout, 429, 5xx) is
//!    [`VerifyError::KeyUnavailable`] and is not cached; any other refusal by Plaid (a 4xx:
//!    `INVALID_WEBHOOK_VERIFICATION_KEY_ID`, `INVALID_INPUT`…) is an unknown `kid`
//!    ([`classify_plaid_error`]).
//!
//!    **Fetch budget.** Fetches for `kid`s this process holds no key for are limited to
//!    [`VerifierOptions::new_kid_fetches`] (10) in any [`VerifierOptions::new_kid_window`]
//!    (a sliding minute), per process, i.e. per warm Lambda execution environment. Over it a
//!    new `kid` is [`VerifyError::FetchBudgetSpent`]: 401 at once, no fetch, nothing cached.
//!    Cached keys never use the budget, nor does refreshing a key Plaid already gave us. So
//!    forged tokens with ever-new `kid`s cost at most 10 calls to Plaid a minute per instance,
//!    however many arrive (before, 40 forgeries cost 40 fetches).
//!
//!    *The trade-off.* An attacker who keeps the budget spent also refuses the first
//!    deliveries signed with a genuinely new `kid` after Plaid rotates its key, on the
//!    instances it floods. That is accepted: such a delivery is answered 401 and Plaid delivers
//!    it again (30 s, 2 min, 8 min, … for 24 hours), each retry a fresh chance as the window
//!    slides; the reconcile schedule re-reads open sessions from Plaid whatever happens to
//!    webhooks; and the keys already cached keep verifying throughout, so only a rotation
//!    during an attack is delayed. Raising the budget trades Plaid calls for a shorter delay.
//!    The layers in front keep the budget for Plaid: the optional source-address allow-list
//!    (`PLAID_WEBHOOK_SOURCE_IPS`, checked by the handler before any verification work), the
//!    webhook route's own API Gateway throttle and the function's reserved concurrency.
//! 5. **Key usable**: `expired_at` null ([`VerifyError::ExpiredKey`] otherwise, as in Plaid's
//!    sample), `kty` `EC`, `crv` `P-256`, `alg` (when stated) `ES256`, `use` (when stated)
//!    `sig`, the `kid` we asked for, and `x`/`y` 32 bytes each forming a point on P-256. A key
//!    failing these is logged with the reason and answered as [`VerifyError::UnknownKey`].
//! 6. **Signature**: ECDSA P-256 / SHA-256 over the ASCII `<header b64>.<payload b64>`
//!    ([`VerifyError::BadSignature`]), checked with aws-lc-rs, which every binary already links
//!    through rustls and the AWS SDK (so the pure-Rust `p256` is only a test dependency;
//!    `shared/benches/verify.rs` measures both). High-S signatures are accepted, as other JOSE
//!    libraries accept them (RFC 7518 does not ask for low-S). So a genuine token has a twin
//!    (`s` → `n − s`) that verifies too; it signs the same payload, `iat` included, so the
//!    webhook flow treats it as the token itself: once the session was read after that `iat`,
//!    both are answered without calling Plaid (`flows::webhook`).
//! 7. **Freshness**: integer `iat` required; `now - iat` > 300 s is [`VerifyError::Stale`]
//!    (Plaid's replay rule); `iat - now` > 60 s is [`VerifyError::FromTheFuture`]
//!    (see [`VerifierOptions`]).
//! 8. **Body**: `request_body_sha256` (64 hex characters, either case) equals the SHA-256 of
//!    the raw body bytes, compared in constant time ([`VerifyError::BodyMismatch`]). Plaid
//!    hashes the body exactly as sent (pretty-printed JSON), so hash the bytes you received,
//!    never a re-serialisation, and never trim them.
//!
//! Only then is the body worth parsing. A missing or garbage `iat` / `request_body_sha256`
//! is [`VerifyError::Malformed`]. Every error is a 401 except [`VerifyError::KeyUnavailable`]
//! ([`VerifyError::is_retryable`]): answer that with a 5xx and Plaid delivers again (it retries
//! for 24 hours).
//!
//! # Use from any Rust Lambda
//!
//! Build the verifier once per cold start, outside the handler, and share it: its key cache
//! is what keeps warm invocations free of network calls. Anything that can fetch a key by
//! `kid` is a [`KeyFetcher`]; the project's [`crate::plaid::PlaidClient`] is one (see
//! `plaid_keys.rs`), and so is an `Arc` of one.
//!
//! ```no_run
//! use shared::plaid::PlaidClient;
//! use shared::webhook_verify::{find_header, WebhookVerifier};
//! use std::sync::Arc;
//!
//! // Cold start: one client for the configured Plaid environment, one verifier, both reused
//! // by every warm invocation.
//! fn cold_start(plaid: Arc<PlaidClient>) -> Arc<WebhookVerifier<Arc<PlaidClient>>> {
//!     Arc::new(WebhookVerifier::new(plaid))
//! }
//!
//! // Per request. `body` is the raw bytes, base64-decoded when the event says
//! // `isBase64Encoded`; never a re-serialisation of parsed JSON.
//! async fn on_webhook(
//!     verifier: &WebhookVerifier<Arc<PlaidClient>>,
//!     headers: &http::HeaderMap,
//!     body: &[u8],
//! ) -> u16 {
//!     match verifier.verify(find_header(headers), body, chrono::Utc::now()).await {
//!         Ok(()) => 200, // now parse the JSON and act
//!         Err(e) if e.is_retryable() => 503, // Plaid will deliver again
//!         Err(e) => {
//!             tracing::warn!(error = %e, "webhook rejected"); // never log the body
//!             401
//!         }
//!     }
//! }
//! ```
//!
//! `now` is a parameter (pass your [`crate::clock::Clock`]'s time) so every rule, the cache's
//! lifetimes included, can be tested without sleeping.

mod claims;
mod jwk;
mod jws;
mod key_cache;
mod plaid_keys;
#[cfg(test)]
mod testutil;
mod verifier;

pub use crate::config::source_ips::{SOURCE_IPS_VAR, SourceAllowList};
pub use jwk::KeyRejection;
pub use jws::{ALGORITHM, MAX_TOKEN_LEN, is_plaid_kid};
pub use plaid_keys::{UNKNOWN_KID_ERROR_CODE, classify as classify_plaid_error};
pub use verifier::{Verified, VerifierOptions, WebhookVerifier};

use crate::plaid::types::JwkPublicKey;
use std::future::Future;

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyFetchError {
    /// Plaid says there is no such key (INVALID_WEBHOOK_VERIFICATION_KEY_ID): reject (401).
    #[error("no such webhook verification key")]
    UnknownKid,
    /// Plaid unreachable or failing: answer 5xx so that Plaid retries the delivery.
    #[error("webhook verification key unavailable: {0}")]
    Unavailable(String),
}

/// Where keys come from: Plaid's `/webhook_verification_key/get` in production code.
pub trait KeyFetcher: Send + Sync {
    fn fetch_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<JwkPublicKey, KeyFetchError>> + Send;
}

/// So that one client can serve the handler and the verifier.
impl<T: KeyFetcher + ?Sized> KeyFetcher for std::sync::Arc<T> {
    fn fetch_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<JwkPublicKey, KeyFetchError>> + Send {
        (**self).fetch_key(kid)
    }
}

impl<T: KeyFetcher + ?Sized> KeyFetcher for &T {
    fn fetch_key(
        &self,
        kid: &str,
    ) -> impl Future<Output = Result<JwkPublicKey, KeyFetchError>> + Send {
        (**self).fetch_key(kid)
    }
}

/// Why a delivery was refused. Carries no token or body content, so it is safe to log.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("missing Plaid-Verification header")]
    MissingHeader,
    #[error("malformed verification token: {0}")]
    Malformed(&'static str),
    #[error("unsupported token algorithm")]
    UnsupportedAlgorithm,
    #[error("token has no kid")]
    MissingKid,
    /// The `kid` is not the lower-case UUID Plaid issues: refused before any key fetch.
    #[error("token kid is not a Plaid key id")]
    BadKid,
    /// A `kid` never seen before, over the per-process budget of fetches for new `kid`s:
    /// refused without a fetch (Plaid retries a genuine delivery for 24 hours).
    #[error("new key id refused: the key fetch budget is spent")]
    FetchBudgetSpent,
    #[error("unknown verification key")]
    UnknownKey,
    #[error("verification key has expired")]
    ExpiredKey,
    #[error("bad signature")]
    BadSignature,
    #[error("token is too old")]
    Stale,
    #[error("token is issued in the future")]
    FromTheFuture,
    #[error("body does not match the signed hash")]
    BodyMismatch,
    /// Not the sender's fault: the key could not be fetched. Answer 5xx.
    #[error("verification key could not be fetched: {0}")]
    KeyUnavailable(String),
}

impl VerifyError {
    /// True when the failure is ours (answer 5xx so that Plaid retries); false for 401.
    pub fn is_retryable(&self) -> bool {
        matches!(self, VerifyError::KeyUnavailable(_))
    }

    /// The reason's class, a metric dimension (`emf::WEBHOOKS_REJECTED`): a few values, so a
    /// dashboard tells forged traffic (signature, key) from a clock or proxy problem (age,
    /// body) at a glance.
    pub fn reason_class(&self) -> &'static str {
        match self {
            VerifyError::MissingHeader => "missing_header",
            VerifyError::Malformed(_)
            | VerifyError::UnsupportedAlgorithm
            | VerifyError::MissingKid
            | VerifyError::BadKid => "malformed",
            VerifyError::FetchBudgetSpent | VerifyError::UnknownKey | VerifyError::ExpiredKey => {
                "unknown_key"
            }
            VerifyError::BadSignature => "bad_signature",
            VerifyError::Stale | VerifyError::FromTheFuture => "stale",
            VerifyError::BodyMismatch => "body_mismatch",
            VerifyError::KeyUnavailable(_) => "key_unavailable",
        }
    }
}

/// The `Plaid-Verification` header value from an HTTP header map, whatever its case.
pub fn find_header(headers: &http::HeaderMap) -> Option<&str> {
    headers
        .get("plaid-verification")
        .and_then(|v| v.to_str().ok())
}
