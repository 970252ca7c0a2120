use super::*;
use crate::webhook_verify::testutil::{Answer, CountingFetcher, TestKey, now};
use std::sync::Arc;

fn cache(max_entries: usize) -> KeyCache {
    cache_with_budget(max_entries, 1000)
}

fn cache_with_budget(max_entries: usize, new_kid_fetches: usize) -> KeyCache {
    KeyCache::new(&CacheConfig {
        key_ttl: Duration::from_secs(3600),
        unknown_kid_ttl: Duration::from_secs(60),
        max_entries,
        new_kid_fetches,
        new_kid_window: Duration::from_secs(60),
    })
}

#[tokio::test]
async fn a_hit_needs_no_fetch() {
    let key = TestKey::new("k");
    let f = CountingFetcher::new().with_key(&key);
    let c = cache(8);
    let first = c.get("k", now(), &f).await.expect("key");
    let second = c.get("k", now(), &f).await.expect("key");
    assert_eq!(first, second);
    assert_eq!(first, key.public());
    assert_eq!(f.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn waiters_share_an_unavailable_outcome_and_the_next_call_retries() {
    let f = Arc::new(CountingFetcher::slow(Duration::from_millis(20)));
    f.set("k", Answer::Unavailable);
    let c = Arc::new(cache(8));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (c, f) = (Arc::clone(&c), Arc::clone(&f));
        tasks.spawn(async move { c.get("k", now(), &f).await });
    }
    for r in tasks.join_all().await {
        assert!(matches!(r, Err(VerifyError::KeyUnavailable(_))), "{r:?}");
    }
    assert_eq!(f.calls(), 1);
    assert!(matches!(
        c.get("k", now(), &f).await,
        Err(VerifyError::KeyUnavailable(_))
    ));
    assert_eq!(f.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_leader_does_not_strand_its_followers() {
    let key = TestKey::new("k");
    let f = Arc::new(CountingFetcher::slow(Duration::from_secs(10)).with_key(&key));
    let c = Arc::new(cache(8));
    // A follower joins while the first caller leads the fetch...
    let follower = {
        let (c, f) = (Arc::clone(&c), Arc::clone(&f));
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            c.get("k", now(), &f).await
        })
    };
    // ...and the leader gives up (its invocation timed out) before Plaid answers.
    let led = tokio::time::timeout(Duration::from_secs(1), c.get("k", now(), &*f)).await;
    assert!(led.is_err(), "the leader should have timed out");
    // The follower takes over the fetch rather than waiting forever.
    let got = tokio::time::timeout(Duration::from_secs(60), follower)
        .await
        .expect("follower finished")
        .expect("no panic");
    assert!(got.is_ok(), "{got:?}");
    assert_eq!(f.calls(), 2);
    // And the outcome is cached for everyone after.
    assert!(c.get("k", now(), &*f).await.is_ok());
    assert_eq!(f.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_fetch_leaves_no_marker_behind() {
    let key = TestKey::new("k");
    let f = CountingFetcher::slow(Duration::from_secs(10)).with_key(&key);
    let c = cache(8);
    let _ = tokio::time::timeout(Duration::from_secs(1), c.get("k", now(), &f)).await;
    assert_eq!(c.len(), 0);
    assert!(c.get("k", now(), &f).await.is_ok());
}

#[tokio::test]
async fn a_clock_stepping_back_refetches_instead_of_trusting_forever() {
    let key = TestKey::new("k");
    let f = CountingFetcher::new().with_key(&key);
    let c = cache(8);
    assert!(c.get("k", now(), &f).await.is_ok());
    assert!(c.get("k", now() - TimeDelta::seconds(5), &f).await.is_ok());
    assert_eq!(f.calls(), 2);
}

#[tokio::test]
async fn the_map_stays_bounded_under_a_flood_of_forged_kids() {
    let key = TestKey::new("real");
    let f = CountingFetcher::new().with_key(&key);
    let c = cache(4);
    assert!(c.get("real", now(), &f).await.is_ok());
    for i in 0..50 {
        let kid = format!("forged-{i}");
        assert_eq!(c.get(&kid, now(), &f).await, Err(VerifyError::UnknownKey));
        assert!(c.len() <= 4, "{} entries", c.len());
    }
    // Unknown kids were evicted first: the real key is still cached.
    let calls = f.calls();
    assert!(c.get("real", now(), &f).await.is_ok());
    assert_eq!(f.calls(), calls);
}

#[tokio::test]
async fn refreshing_a_known_key_is_free_and_refusals_are_not_remembered() {
    let key = TestKey::new("real");
    let f = CountingFetcher::new().with_key(&key);
    let c = cache_with_budget(8, 1);
    assert!(c.get("real", now(), &f).await.is_ok());
    // The one new-kid fetch is spent; a forged kid is refused without a fetch...
    assert_eq!(
        c.get("forged", now(), &f).await,
        Err(VerifyError::FetchBudgetSpent)
    );
    assert_eq!(f.calls(), 1);
    // ...and is not remembered, so the map does not grow with refusals.
    assert_eq!(c.len(), 1);
    // The real key's TTL runs out: refetching it does not need the budget.
    let later = now() + TimeDelta::hours(2);
    assert!(c.get("real", later, &f).await.is_ok());
    assert_eq!(f.calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn callers_waiting_on_a_fetch_do_not_spend_the_budget() {
    let key = TestKey::new("k");
    let f = Arc::new(CountingFetcher::slow(Duration::from_millis(20)).with_key(&key));
    let c = Arc::new(cache_with_budget(8, 1));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (c, f) = (Arc::clone(&c), Arc::clone(&f));
        tasks.spawn(async move { c.get("k", now(), &f).await });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.len(), 10);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(f.calls(), 1);
}

#[tokio::test]
async fn a_kid_plaid_called_unknown_needs_the_budget_to_be_asked_about_again() {
    let f = CountingFetcher::new();
    let c = cache_with_budget(8, 1);
    assert_eq!(
        c.get("forged", now(), &f).await,
        Err(VerifyError::UnknownKey)
    );
    let later = now() + TimeDelta::seconds(61);
    // Its negative entry expired and the window moved on: one more question is allowed.
    assert_eq!(
        c.get("forged", later, &f).await,
        Err(VerifyError::UnknownKey)
    );
    assert_eq!(f.calls(), 2);
    let after = later + TimeDelta::seconds(61);
    assert_eq!(
        c.get("forged", after, &f).await,
        Err(VerifyError::UnknownKey)
    );
    assert_eq!(
        c.get("other", after, &f).await,
        Err(VerifyError::FetchBudgetSpent)
    );
    assert_eq!(f.calls(), 3);
}

#[test]
fn the_window_slides_and_forgets_fetches_dated_in_the_future() {
    let mut b = FetchBudget {
        limit: 2,
        window: TimeDelta::seconds(60),
        spent: VecDeque::new(),
    };
    let t = now();
    assert!(b.try_spend(t));
    assert!(b.try_spend(t + TimeDelta::seconds(30)));
    assert!(!b.try_spend(t + TimeDelta::seconds(59)));
    assert!(b.try_spend(t + TimeDelta::seconds(60)));
    assert!(!b.try_spend(t + TimeDelta::seconds(89)));
    // The clock steps back an hour: entries "from the future" do not lock the budget.
    assert!(b.try_spend(t - TimeDelta::hours(1)));
}

#[tokio::test]
async fn an_unusable_key_is_cached_as_unusable() {
    let key = TestKey::new("k");
    let mut jwk = key.jwk();
    jwk.kty = "RSA".into();
    let f = CountingFetcher::new();
    f.set("k", Answer::Key(jwk));
    let c = cache(8);
    assert_eq!(c.get("k", now(), &f).await, Err(VerifyError::UnknownKey));
    assert_eq!(c.get("k", now(), &f).await, Err(VerifyError::UnknownKey));
    assert_eq!(f.calls(), 1);
}
