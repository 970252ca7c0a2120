//! [`WebhookVerifier`]: the steps, in order, over the parts in the sibling modules.

use super::key_cache::{CacheConfig, KeyCache};
use super::{KeyFetcher, VerifyError, claims, jws};
use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// Tunables. The defaults are the values to ship; tests and unusual deployments may change them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierOptions {
    /// Oldest `iat` accepted: `now - iat` above this is [`VerifyError::Stale`]. Plaid's rule is
    /// five minutes; raising it widens the replay window.
    pub max_token_age: Duration,
    /// Furthest `iat` may lie ahead of `now` before [`VerifyError::FromTheFuture`]. 60 s: both
    /// ends keep NTP time (Lambda uses Amazon Time Sync), so a larger lead means a broken clock
    /// somewhere, and 60 s is the leeway JWT libraries commonly default to. It does not widen
    /// the replay window, which `max_token_age` bounds on our clock.
    pub max_clock_skew: Duration,
    /// How long a fetched key is trusted before it is fetched again, so that an `expired_at`
    /// Plaid sets later is noticed. A key is also re-checked at its next use whenever a new
    /// `kid` shows up (Plaid rotated).
    pub key_ttl: Duration,
    /// How long a `kid` Plaid called unknown is answered from memory, so that forged tokens
    /// repeating one `kid` cost one call to Plaid per this period, not one per request.
    pub unknown_kid_ttl: Duration,
    /// Bound on cached `kid`s (unknown ones are evicted first). Plaid has a handful of keys.
    pub max_cached_keys: usize,
    /// At most this many key fetches for `kid`s this process holds no key for, in any
    /// [`Self::new_kid_window`]; past it a new `kid` is [`VerifyError::FetchBudgetSpent`]
    /// (401, no fetch). Known keys never use it. See the module docs for the trade-off.
    pub new_kid_fetches: usize,
    pub new_kid_window: Duration,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        VerifierOptions {
            max_token_age: Duration::from_secs(300),
            max_clock_skew: Duration::from_secs(60),
            key_ttl: Duration::from_secs(24 * 60 * 60),
            unknown_kid_ttl: Duration::from_secs(60),
            max_cached_keys: 256,
            new_kid_fetches: 10,
            new_kid_window: Duration::from_secs(60),
        }
    }
}

/// What a verified delivery was signed with; handy for logs (neither is secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The Plaid key id that signed the token.
    pub kid: String,
    /// The token's `iat`, Unix seconds.
    pub iat: i64,
}

/// Verifies `Plaid-Verification` tokens. Build one per process (cold start) and share it: its
/// key cache is what makes warm verifications free of network calls.
pub struct WebhookVerifier<F: KeyFetcher> {
    fetcher: F,
    cache: KeyCache,
    options: VerifierOptions,
}

impl<F: KeyFetcher> fmt::Debug for WebhookVerifier<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<F: KeyFetcher> WebhookVerifier<F> {
    /// A verifier with [`VerifierOptions::default`].
    pub fn new(fetcher: F) -> Self {
        Self::with_options(fetcher, VerifierOptions::default())
    }

    pub fn with_options(fetcher: F, options: VerifierOptions) -> Self {
        let cache = KeyCache::new(&CacheConfig {
            key_ttl: options.key_ttl,
            unknown_kid_ttl: options.unknown_kid_ttl,
            max_entries: options.max_cached_keys,
            new_kid_fetches: options.new_kid_fetches,
            new_kid_window: options.new_kid_window,
        });
        WebhookVerifier {
            fetcher,
            cache,
            options,
        }
    }

    pub fn options(&self) -> &VerifierOptions {
        &self.options
    }

    pub fn fetcher(&self) -> &F {
        &self.fetcher
    }

    /// Verify a delivery. `header` is the value of `Plaid-Verification` (looked up
    /// case-insensitively by the caller, or use [`super::find_header`]); `body` the raw body
    /// bytes (base64-decoded already if the event said `isBase64Encoded`); `now` the current
    /// time (a parameter so that tests need no clock).
    pub async fn verify(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        self.verify_detailed(header, body, now).await.map(drop)
    }

    /// [`Self::verify`], also saying which key signed and when.
    pub async fn verify_detailed(
        &self,
        header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Verified, VerifyError> {
        let token = match header {
            Some(value) if !value.is_empty() => value,
            _ => return Err(VerifyError::MissingHeader),
        };
        // Shape, base64url, alg == ES256, kid, 64-byte signature: all before any key fetch.
        let parsed = jws::parse(token)?;
        let key = self.cache.get(&parsed.kid, now, &self.fetcher).await?;
        // ECDSA_P256_SHA256_FIXED hashes the signing input with SHA-256 and takes the 64-byte
        // r‖s form JOSE uses. Like other JOSE libraries it accepts high-S signatures: RFC 7518
        // does not require low-S, so a signer that never normalises is still verified.
        if !key.verify(parsed.signing_input, &parsed.signature) {
            return Err(VerifyError::BadSignature);
        }
        // Only a signed payload is worth reading.
        let claims = claims::parse(&parsed.payload)?;
        claims::check_freshness(
            claims.iat,
            now,
            self.options.max_token_age,
            self.options.max_clock_skew,
        )?;
        claims::check_body(body, &claims.body_sha256)?;
        Ok(Verified {
            kid: parsed.kid,
            iat: claims.iat,
        })
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::webhook_verify::testutil::{BODY, CountingFetcher, KID_P, TestKey, now};
    use proptest::prelude::*;
    use std::sync::OnceLock;

    struct Fixture {
        rt: tokio::runtime::Runtime,
        verifier: WebhookVerifier<CountingFetcher>,
        token: String,
    }

    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let key = TestKey::new(KID_P);
            let token = key.token(BODY, now().timestamp());
            let verifier = WebhookVerifier::new(CountingFetcher::new().with_key(&key));
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            // The unmutated pair verifies, so every rejection below is the mutation's doing.
            assert_eq!(
                rt.block_on(verifier.verify(Some(&token), BODY, now())),
                Ok(())
            );
            Fixture {
                rt,
                verifier,
                token,
            }
        })
    }

    fn check(token: &str, body: &[u8]) -> Result<(), VerifyError> {
        let f = fixture();
        f.rt.block_on(f.verifier.verify(Some(token), body, now()))
    }

    #[derive(Debug, Clone)]
    enum Mutation {
        Replace(usize, char),
        Insert(usize, char),
        Remove(usize),
        Truncate(usize),
        SwapSegments(usize, usize),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let c = prop_oneof![
            proptest::char::range('A', 'Z'),
            proptest::char::range('a', 'z'),
            Just('.'),
            Just('-'),
            Just('_'),
            Just('='),
            any::<char>(),
        ];
        prop_oneof![
            (any::<usize>(), c.clone()).prop_map(|(i, c)| Mutation::Replace(i, c)),
            (any::<usize>(), c).prop_map(|(i, c)| Mutation::Insert(i, c)),
            any::<usize>().prop_map(Mutation::Remove),
            any::<usize>().prop_map(Mutation::Truncate),
            (0usize..3, 0usize..3).prop_map(|(a, b)| Mutation::SwapSegments(a, b)),
        ]
    }

    fn apply(token: &str, m: &Mutation) -> String {
        let mut chars: Vec<char> = token.chars().collect();
        let n = chars.len();
        if n == 0 {
            return "x".to_owned();
        }
        match *m {
            Mutation::Replace(i, c) => chars[i % n] = c,
            Mutation::Insert(i, c) => chars.insert(i % (n + 1), c),
            Mutation::Remove(i) => {
                chars.remove(i % n);
            }
            Mutation::Truncate(i) => chars.truncate(i % n),
            Mutation::SwapSegments(a, b) => {
                let mut segs: Vec<&str> = token.split('.').collect();
                let len = segs.len();
                segs.swap(a % len, b % len);
                return segs.join(".");
            }
        }
        chars.into_iter().collect()
    }

    proptest! {
        #![proptest_config(crate::proptest_seed::config(200))]

        #[test]
        fn random_tokens_and_bodies_never_verify(token in ".{0,600}", body in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert!(check(&token, &body).is_err());
        }

        #[test]
        fn mutated_tokens_never_verify(ms in proptest::collection::vec(mutation(), 1..4)) {
            let original = &fixture().token;
            let mut token = original.clone();
            for m in &ms {
                token = apply(&token, m);
            }
            prop_assume!(&token != original);
            prop_assert!(check(&token, BODY).is_err(), "{token}");
        }

        #[test]
        fn mutated_bodies_never_verify(i in any::<usize>(), flip in 1u8..=255, extra in proptest::collection::vec(any::<u8>(), 0..3)) {
            let mut body = BODY.to_vec();
            let at = i % body.len();
            body[at] ^= flip;
            body.extend_from_slice(&extra);
            prop_assert_eq!(check(&fixture().token, &body), Err(VerifyError::BodyMismatch));
        }

        #[test]
        fn tokens_made_of_plausible_segments_never_verify(
            h in proptest::collection::vec(any::<u8>(), 0..80),
            p in proptest::collection::vec(any::<u8>(), 0..120),
            s in proptest::collection::vec(any::<u8>(), 0..80),
        ) {
            use crate::webhook_verify::testutil::b64;
            let token = format!("{}.{}.{}", b64(&h), b64(&p), b64(&s));
            prop_assert!(check(&token, BODY).is_err());
        }
    }
}
