//! Plaid credentials from Secrets Manager, cached per cold start with a TTL.
//!
//! The secret is read once and shared by every request of a warm Lambda. The cache lives
//! behind one async mutex that is held across the fetch, so a burst of cold requests causes a
//! single `GetSecretValue`, not one per request. `invalidate` exists for rotation: when Plaid
//! answers `INVALID_API_KEYS`, the client drops the cache and reads the secret again.

use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Clone)]
pub struct Credentials {
    pub client_id: String,
    pub secret: SecretString,
}

impl Credentials {
    pub fn new(client_id: impl Into<String>, secret: impl Into<String>) -> Self {
        Credentials {
            client_id: client_id.into(),
            secret: SecretString::from(secret.into()),
        }
    }

    pub(crate) fn same_as(&self, other: &Credentials) -> bool {
        self.client_id == other.client_id
            && self.secret.expose_secret() == other.secret.expose_secret()
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Every message names the secret id and never repeats the secret's content.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("secret {secret_id} was not found in Secrets Manager")]
    NotFound { secret_id: String },
    #[error(
        "secret {secret_id} is not JSON of the form {{\"client_id\": \"...\", \"secret\": \"...\"}}: {reason}"
    )]
    Malformed { secret_id: String, reason: String },
    /// Secrets Manager refused the read (IAM, KMS, a secret scheduled for deletion): a
    /// deployment problem that retrying will not fix.
    #[error("secret {secret_id} may not be read: {reason}")]
    Rejected { secret_id: String, reason: String },
    #[error("secret {secret_id} could not be read: {reason}")]
    Unavailable { secret_id: String, reason: String },
}

impl CredentialsError {
    /// Worth retrying later (Secrets Manager unreachable or throttling).
    pub fn is_transient(&self) -> bool {
        matches!(self, CredentialsError::Unavailable { .. })
    }
}

type FetchFuture = Pin<Box<dyn Future<Output = Result<Credentials, CredentialsError>> + Send>>;
type FetchFn = Arc<dyn Fn() -> FetchFuture + Send + Sync>;

enum Source {
    Fixed(Credentials),
    Fetch { fetch: FetchFn, label: String },
}

struct Entry {
    credentials: Credentials,
    refresh_at: Instant,
}

pub struct CredentialsProvider {
    source: Source,
    ttl: Duration,
    cache: Mutex<Option<Entry>>,
}

impl std::fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Fixed(_) => "fixed",
            Source::Fetch { label, .. } => label.as_str(),
        };
        f.debug_struct("CredentialsProvider")
            .field("source", &source)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// A `GetSecretValue` that hangs would block every caller waiting on the cache lock.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed refresh served stale credentials, wait this long before asking again so an
/// outage of Secrets Manager does not turn into one call per request.
const STALE_RETRY_AFTER: Duration = Duration::from_secs(30);

impl CredentialsProvider {
    /// Reads `secret_id` from Secrets Manager on first use and after `ttl`.
    pub fn secrets_manager(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self::secrets_manager_with(move || client.clone(), secret_id, ttl)
    }

    /// As [`CredentialsProvider::secrets_manager`], with the client built from `sdk` by the
    /// first read rather than now (a client's construction parses its endpoint rules: work a
    /// cold start can overlap with the first request's own I/O, see `bootstrap::prefetch`).
    pub fn secrets_manager_from(
        sdk: &aws_config::SdkConfig,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        let sdk = sdk.clone();
        let client = std::sync::OnceLock::new();
        Self::secrets_manager_with(
            move || {
                client
                    .get_or_init(|| aws_sdk_secretsmanager::Client::new(&sdk))
                    .clone()
            },
            secret_id,
            ttl,
        )
    }

    fn secrets_manager_with(
        client: impl Fn() -> aws_sdk_secretsmanager::Client + Send + Sync + 'static,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        let secret_id: String = secret_id.into();
        let label = format!("secrets_manager:{secret_id}");
        let secret_id = Arc::new(secret_id);
        Self::from_fetch(label, ttl, move || {
            let client = client();
            let secret_id = Arc::clone(&secret_id);
            async move { fetch_from_secrets_manager(&client, &secret_id).await }
        })
    }

    /// Fixed credentials (tests, tools). `invalidate` has nothing to refetch.
    pub fn fixed(credentials: Credentials) -> Self {
        CredentialsProvider {
            source: Source::Fixed(credentials),
            ttl: Duration::MAX,
            cache: Mutex::new(None),
        }
    }

    /// Credentials from any async source (another secret store, a test that rotates keys),
    /// with the same caching, single-flight and invalidation as `secrets_manager`.
    pub fn from_fn<F, Fut>(ttl: Duration, fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Credentials, CredentialsError>> + Send + 'static,
    {
        Self::from_fetch("custom".to_owned(), ttl, fetch)
    }

    fn from_fetch<F, Fut>(label: String, ttl: Duration, fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Credentials, CredentialsError>> + Send + 'static,
    {
        let fetch: FetchFn = Arc::new(move || Box::pin(fetch()) as FetchFuture);
        CredentialsProvider {
            source: Source::Fetch { fetch, label },
            ttl,
            cache: Mutex::new(None),
        }
    }

    /// The cached credentials, fetched when absent or older than the TTL. Concurrent callers
    /// share one fetch. When a refresh fails transiently and credentials are cached, those are
    /// served (they were valid a TTL ago; Plaid will say so if they are not).
    pub async fn get(&self) -> Result<Credentials, CredentialsError> {
        let (fetch, label) = match &self.source {
            Source::Fixed(c) => return Ok(c.clone()),
            Source::Fetch { fetch, label } => (fetch, label),
        };
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if let Some(entry) = cache.as_ref()
            && now < entry.refresh_at
        {
            return Ok(entry.credentials.clone());
        }
        let fetched = match tokio::time::timeout(FETCH_TIMEOUT, fetch()).await {
            Ok(result) => result,
            Err(_) => Err(CredentialsError::Unavailable {
                secret_id: label.clone(),
                reason: format!("no answer within {FETCH_TIMEOUT:?}"),
            }),
        };
        match fetched {
            Ok(credentials) => {
                *cache = Some(Entry {
                    credentials: credentials.clone(),
                    refresh_at: now.checked_add(self.ttl).unwrap_or_else(far_future),
                });
                Ok(credentials)
            }
            Err(err) if err.is_transient() && cache.is_some() => {
                tracing::warn!(source = %label, error = %err, "credentials refresh failed; serving cached credentials");
                let entry = cache.as_mut().expect("checked above");
                entry.refresh_at = now + STALE_RETRY_AFTER.min(self.ttl);
                Ok(entry.credentials.clone())
            }
            Err(err) => Err(err),
        }
    }

    /// Drop the cache (Plaid said INVALID_API_KEYS: the secret was rotated).
    pub async fn invalidate(&self) {
        *self.cache.lock().await = None;
    }

    /// Drop the cache only if it still holds `rejected`. When many requests fail with the old
    /// keys at once, the first one refetches and the others reuse its result instead of each
    /// forcing another `GetSecretValue`.
    pub async fn invalidate_if_current(&self, rejected: &Credentials) {
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|e| e.credentials.same_as(rejected))
        {
            *cache = None;
        }
    }
}

fn far_future() -> Instant {
    // About 30 years: `Instant + Duration::MAX` overflows.
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

async fn fetch_from_secrets_manager(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Credentials, CredentialsError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| map_sdk_error(secret_id, e))?;
    let raw = out
        .secret_string()
        .ok_or_else(|| CredentialsError::Malformed {
            secret_id: secret_id.to_owned(),
            reason: "it has no SecretString (binary secrets are not supported)".into(),
        })?;
    parse_secret(secret_id, raw)
}

fn map_sdk_error(
    secret_id: &str,
    err: aws_sdk_secretsmanager::error::SdkError<
        aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
    >,
) -> CredentialsError {
    use aws_sdk_secretsmanager::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError as E;

    let secret_id = secret_id.to_owned();
    let SdkError::ServiceError(service) = &err else {
        // Timeouts, DNS, connection and response failures: the service may come back.
        return CredentialsError::Unavailable {
            secret_id,
            reason: DisplayErrorContext(&err).to_string(),
        };
    };
    let e = service.err();
    let reason = format!(
        "{}: {}",
        e.code().unwrap_or("unknown error"),
        e.message().unwrap_or("no message")
    );
    match e {
        E::ResourceNotFoundException(_) => CredentialsError::NotFound { secret_id },
        E::InternalServiceError(_) => CredentialsError::Unavailable { secret_id, reason },
        E::DecryptionFailure(_)
        | E::InvalidParameterException(_)
        | E::InvalidRequestException(_) => CredentialsError::Rejected { secret_id, reason },
        other => match other.code() {
            Some("AccessDeniedException" | "UnrecognizedClientException") => {
                CredentialsError::Rejected { secret_id, reason }
            }
            // ThrottlingException and whatever AWS adds later: assume it passes.
            _ => CredentialsError::Unavailable { secret_id, reason },
        },
    }
}

/// Parses `{"client_id": "...", "secret": "..."}`. Reasons name the key at fault and never
/// quote a value (serde's own messages would echo the offending content).
fn parse_secret(secret_id: &str, raw: &str) -> Result<Credentials, CredentialsError> {
    let malformed = |reason: &str| CredentialsError::Malformed {
        secret_id: secret_id.to_owned(),
        reason: reason.to_owned(),
    };
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|_| malformed("it is not valid JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| malformed("it is not a JSON object"))?;
    let field = |key: &'static str| -> Result<String, CredentialsError> {
        match object.get(key) {
            None => Err(malformed(&format!("key {key:?} is missing"))),
            Some(serde_json::Value::String(s)) => {
                // A trailing newline from a copy-paste would otherwise surface as Plaid's
                // INVALID_API_KEYS, far from the cause.
                let s = s.trim();
                if s.is_empty() {
                    Err(malformed(&format!("key {key:?} is empty")))
                } else {
                    Ok(s.to_owned())
                }
            }
            Some(_) => Err(malformed(&format!("key {key:?} is not a string"))),
        }
    };
    Ok(Credentials {
        client_id: field("client_id")?,
        secret: SecretString::from(field("secret")?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const ID: &str = "plaid/sandbox";

    #[test]
    fn parses_the_documented_shape() {
        let c = parse_secret(
            ID,
            r#"{"client_id": "abc123", "secret": " s3cr3t\n", "note": "extra keys are fine"}"#,
        )
        .unwrap();
        assert_eq!(c.client_id, "abc123");
        assert_eq!(c.secret.expose_secret(), "s3cr3t");
    }

    #[test]
    fn malformed_secrets_name_the_secret_and_never_echo_it() {
        let cases = [
            (r#"not json hunter2"#, "not valid JSON"),
            (r#"["hunter2"]"#, "not a JSON object"),
            (r#"{"secret": "hunter2"}"#, "\"client_id\" is missing"),
            (r#"{"client_id": "hunter2"}"#, "\"secret\" is missing"),
            (
                r#"{"client_id": "id", "secret": "  "}"#,
                "\"secret\" is empty",
            ),
            (
                r#"{"client_id": "", "secret": "hunter2"}"#,
                "\"client_id\" is empty",
            ),
            (
                r#"{"client_id": 7, "secret": "hunter2"}"#,
                "\"client_id\" is not a string",
            ),
        ];
        for (raw, want) in cases {
            let err = parse_secret(ID, raw).unwrap_err();
            assert!(matches!(err, CredentialsError::Malformed { .. }), "{raw}");
            let msg = err.to_string();
            assert!(msg.contains(ID), "{msg}");
            assert!(msg.contains(want), "{raw}: {msg}");
            assert!(!msg.contains("hunter2"), "{msg}");
            assert!(!format!("{err:?}").contains("hunter2"));
        }
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = Credentials::new("client", "hunter2");
        let shown = format!("{c:?} {:?}", CredentialsProvider::fixed(c.clone()));
        assert!(shown.contains("client"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[tokio::test]
    async fn fixed_always_answers_the_same() {
        let p = CredentialsProvider::fixed(Credentials::new("id", "secret"));
        p.invalidate().await;
        let c = p.get().await.unwrap();
        assert_eq!(
            (c.client_id.as_str(), c.secret.expose_secret()),
            ("id", "secret")
        );
    }

    /// A source that hands out `secret-1`, `secret-2`, … and counts its calls.
    fn counting(ttl: Duration) -> (Arc<AtomicUsize>, CredentialsProvider) {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let p = CredentialsProvider::from_fn(ttl, move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(Credentials::new("id", format!("secret-{n}")))
            }
        });
        (calls, p)
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_callers_share_one_fetch() {
        let (calls, p) = counting(Duration::from_secs(300));
        let p = Arc::new(p);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let p = Arc::clone(&p);
                tokio::spawn(async move { p.get().await.unwrap() })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().secret.expose_secret(), "secret-1");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn ttl_expiry_and_invalidate_refetch() {
        let (calls, p) = counting(Duration::from_secs(300));
        assert_eq!(p.get().await.unwrap().secret.expose_secret(), "secret-1");
        tokio::time::advance(Duration::from_secs(299)).await;
        assert_eq!(p.get().await.unwrap().secret.expose_secret(), "secret-1");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(p.get().await.unwrap().secret.expose_secret(), "secret-2");
        p.invalidate().await;
        assert_eq!(p.get().await.unwrap().secret.expose_secret(), "secret-3");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn invalidate_if_current_ignores_already_rotated_credentials() {
        let (calls, p) = counting(Duration::from_secs(300));
        let old = p.get().await.unwrap();
        p.invalidate_if_current(&old).await;
        let new = p.get().await.unwrap();
        assert_eq!(new.secret.expose_secret(), "secret-2");
        // A second request that also failed with the old keys must not discard the new ones.
        p.invalidate_if_current(&old).await;
        assert_eq!(p.get().await.unwrap().secret.expose_secret(), "secret-2");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn transient_refresh_failure_serves_cached_but_hard_failure_does_not() {
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let p = CredentialsProvider::from_fn(Duration::from_secs(60), move || {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                match n {
                    1 => Ok(Credentials::new("id", "secret-1")),
                    2 | 3 => Err(CredentialsError::Unavailable {
                        secret_id: ID.into(),
                        reason: "throttled".into(),
                    }),
                    _ => Err(CredentialsError::NotFound {
                        secret_id: ID.into(),
                    }),
                }
            }
        });
        assert_eq!(p.get().await.unwrap().secret.expose_secret(), "secret-1");
        tokio::time::advance(Duration::from_secs(61)).await;
        // Refresh throttled: the cached keys keep the function working.
        assert_eq!(p.get().await.unwrap().secret.expose_secret(), "secret-1");
        // …without hammering Secrets Manager on every call.
        assert_eq!(p.get().await.unwrap().secret.expose_secret(), "secret-1");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        tokio::time::advance(STALE_RETRY_AFTER).await;
        assert!(p.get().await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // After an invalidation nothing is cached: the error surfaces.
        p.invalidate().await;
        tokio::time::advance(STALE_RETRY_AFTER).await;
        assert!(matches!(
            p.get().await,
            Err(CredentialsError::NotFound { .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_source_times_out_as_unavailable() {
        let p = CredentialsProvider::from_fn(Duration::from_secs(60), || async {
            std::future::pending::<()>().await;
            unreachable!()
        });
        let err = p.get().await.unwrap_err();
        assert!(err.is_transient(), "{err}");
    }
}
