use super::*;
use proptest::prelude::*;

/// The fields the rule reads, and nothing else.
#[derive(Debug, Clone, PartialEq)]
struct A {
    id: IdvId,
    previous: Option<IdvId>,
    created_at: DateTime<Utc>,
}

impl Attempt for A {
    fn id(&self) -> &IdvId {
        &self.id
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn previous_attempt_id(&self) -> Option<&IdvId> {
        self.previous.as_ref()
    }
}

fn id(s: &str) -> IdvId {
    IdvId::parse(s).unwrap()
}

fn at(second: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + second, 0).unwrap()
}

fn a(name: &str, previous: Option<&str>, second: i64) -> A {
    A {
        id: id(name),
        previous: previous.map(id),
        created_at: at(second),
    }
}

/// `n` attempts in one second, each retrying the one before: `idv_0` … `idv_{n-1}`, the last the
/// newest.
fn chain(n: usize) -> Vec<A> {
    (0..n)
        .map(|i| {
            let prev = i.checked_sub(1).map(|p| format!("idv_{p}"));
            a(&format!("idv_{i}"), prev.as_deref(), 0)
        })
        .collect()
}

fn ids(items: &[A]) -> Vec<&str> {
    items.iter().map(|x| x.id.as_str()).collect()
}

#[test]
fn later_second_is_newer_whatever_the_chain() {
    let old = a("idv_old", Some("idv_new"), 0);
    let new = a("idv_new", None, 1);
    assert_eq!(compare(&new, &old), Some(Ordering::Greater));
    assert_eq!(compare(&old, &new), Some(Ordering::Less));
}

#[test]
fn within_a_second_the_retry_is_newer_and_strangers_are_unordered() {
    let first = a("idv_a", None, 0);
    let retry = a("idv_b", Some("idv_a"), 0);
    let stranger = a("idv_c", None, 0);
    assert_eq!(compare(&retry, &first), Some(Ordering::Greater));
    assert_eq!(compare(&first, &retry), Some(Ordering::Less));
    assert_eq!(compare(&first, &stranger), None);
}

#[test]
fn not_older_than_is_the_same_second_or_later_and_never_itself() {
    let known = a("idv_k", None, 5);
    assert!(not_older_than(
        &a("idv_x", None, 5),
        &known.id,
        known.created_at
    ));
    assert!(not_older_than(
        &a("idv_x", None, 6),
        &known.id,
        known.created_at
    ));
    assert!(!not_older_than(
        &a("idv_x", None, 4),
        &known.id,
        known.created_at
    ));
    assert!(!not_older_than(&known, &known.id, known.created_at));
}

#[test]
fn a_page_puts_a_same_second_retry_ahead_of_its_predecessor() {
    // Newest first by second; in second 3 the index happened to put the original first.
    let mut page = vec![
        a("idv_a", None, 3),
        a("idv_b", Some("idv_a"), 3),
        a("idv_c", None, 1),
    ];
    order_newest_first(&mut page);
    assert_eq!(ids(&page), ["idv_b", "idv_a", "idv_c"]);
}

#[test]
fn a_page_orders_a_whole_same_second_chain() {
    // [a, b, c] with c retrying b retrying a, all in one second: the tip comes first. (The
    // store's old adjacent-swap gave [b, a, c], leaving the newest attempt last.)
    let mut page = chain(3);
    order_newest_first(&mut page);
    assert_eq!(ids(&page), ["idv_2", "idv_1", "idv_0"]);
}

#[test]
fn newest_is_the_tip_among_the_newest_second() {
    let records = vec![
        a("idv_a", None, 9),
        a("idv_b", Some("idv_a"), 9),
        a("idv_z", None, 2),
    ];
    assert_eq!(newest(records).unwrap().id, id("idv_b"));
    assert_eq!(newest(Vec::<A>::new()), None);
}

#[test]
fn newest_of_a_cycle_is_the_first() {
    let records = vec![a("idv_a", Some("idv_b"), 0), a("idv_b", Some("idv_a"), 0)];
    assert_eq!(newest(records).unwrap().id, id("idv_a"));
}

/// Plaid's spec example, re-identified: `id`, `previous_attempt_id`, `created_at`.
fn plaid_attempt(id: &str, previous: Option<&str>, created_at: &str) -> IdentityVerification {
    let mut v: serde_json::Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/plaid/identity_verification_get_response.json"
    ))
    .unwrap();
    v["id"] = id.into();
    v["previous_attempt_id"] = previous.map(Into::into).unwrap_or(serde_json::Value::Null);
    v["created_at"] = created_at.into();
    serde_json::from_value(v).unwrap()
}

#[test]
fn same_second_attempts_are_ordered_by_the_chain() {
    let t = "2026-11-26T02:00:00Z";
    let a = plaid_attempt("idv_a", None, t);
    let b = plaid_attempt("idv_b", Some("idv_a"), t);
    let c = plaid_attempt("idv_c", Some("idv_b"), t);
    // Listing order must not matter.
    for all in [
        vec![a.clone(), b.clone(), c.clone()],
        vec![c.clone(), b.clone(), a.clone()],
    ] {
        let at = a.created_at;
        assert_eq!(newer_than(&all, &id("idv_a"), at).unwrap().id, id("idv_c"));
        assert_eq!(newer_than(&all, &id("idv_b"), at).unwrap().id, id("idv_c"));
        // The tip has nothing newer: its ancestors of the same second are older.
        assert!(newer_than(&all, &id("idv_c"), at).is_none());
    }
}

#[test]
fn without_a_chain_the_later_created_at_wins() {
    let a = plaid_attempt("idv_a", None, "2026-11-26T02:00:00Z");
    let b = plaid_attempt("idv_b", None, "2026-11-26T02:00:05Z");
    let all = [a.clone(), b.clone()];
    assert_eq!(
        newer_than(&all, &id("idv_a"), a.created_at).unwrap().id,
        id("idv_b")
    );
    assert!(newer_than(&all, &id("idv_b"), b.created_at).is_none());
}

#[test]
fn a_cycle_in_the_chain_does_not_hang() {
    let t = "2026-11-26T02:00:00Z";
    let a = plaid_attempt("idv_a", Some("idv_b"), t);
    let b = plaid_attempt("idv_b", Some("idv_a"), t);
    let all = [a.clone(), b];
    let _ = newer_than(&all, &id("idv_a"), a.created_at);
}

#[test]
fn records_and_plaid_attempts_order_alike() {
    let t = "2026-11-26T02:00:00Z";
    let first = plaid_attempt("idv_a", None, t);
    let retry = plaid_attempt("idv_b", Some("idv_a"), t);
    let window = chrono::Duration::days(1);
    let (r1, r2) = (
        SessionRecord::from_plaid(&first, first.created_at, window),
        SessionRecord::from_plaid(&retry, retry.created_at, window),
    );
    assert_eq!(compare(&retry, &first), Some(Ordering::Greater));
    assert_eq!(compare(&r2, &r1), compare(&retry, &first));
}

proptest! {
    #![proptest_config(crate::proptest_seed::config(256))]

    /// However the index or Plaid's list orders one second's chain, the newest is its tip, and
    /// every other member has exactly the tip newer than it.
    #[test]
    fn a_chain_in_any_order_has_its_tip_newest(
        shuffled in (1usize..7).prop_flat_map(|n| Just(chain(n)).prop_shuffle()),
        pick in any::<prop::sample::Index>(),
    ) {
        let tip = format!("idv_{}", shuffled.len() - 1);
        let top = newest(shuffled.clone()).unwrap();
        prop_assert_eq!(top.id.as_str(), tip.as_str());
        let known = &shuffled[pick.index(shuffled.len())];
        let newer = newer_than(&shuffled, &known.id, known.created_at).map(|x| x.id.as_str());
        if known.id.as_str() == tip {
            prop_assert_eq!(newer, None);
        } else {
            prop_assert_eq!(newer, Some(tip.as_str()));
        }
    }

    /// The comparator is antisymmetric, and ordering a page keeps its members and its seconds
    /// newest first, leaving no retry anywhere behind its same-second predecessor.
    #[test]
    fn ordering_a_page_puts_each_retry_before_what_it_retried(
        mut seconds in prop::collection::vec(0i64..3, 1..8),
        links in prop::collection::vec(0u8..3, 8),
    ) {
        seconds.sort_unstable_by(|x, y| y.cmp(x));
        let n = seconds.len();
        // Attempt i may retry its older neighbour (i + 1) or its newer one (i - 1), as an index
        // that cannot order one second may list them either way.
        let prev = |i: usize| match links[i] {
            1 if i + 1 < n => Some(i + 1),
            2 if i > 0 => Some(i - 1),
            _ => None,
        };
        // No two attempts retrying each other: that is a cycle, not a chain.
        prop_assume!((0..n).all(|i| prev(i).is_none_or(|p| prev(p) != Some(i))));
        let page: Vec<A> = (0..n)
            .map(|i| {
                let p = prev(i).map(|p| format!("idv_{p}"));
                a(&format!("idv_{i}"), p.as_deref(), seconds[i])
            })
            .collect();
        for x in &page {
            for y in &page {
                prop_assert_eq!(compare(x, y), compare(y, x).map(Ordering::reverse));
            }
        }
        let mut ordered = page.clone();
        order_newest_first(&mut ordered);
        let mut before: Vec<_> = ids(&page);
        let mut after: Vec<_> = ids(&ordered);
        before.sort_unstable();
        after.sort_unstable();
        prop_assert_eq!(before, after);
        for w in ordered.windows(2) {
            prop_assert!(w[0].created_at >= w[1].created_at);
        }
        for (i, earlier) in ordered.iter().enumerate() {
            for later in &ordered[i + 1..] {
                prop_assert_ne!(compare(later, earlier), Some(Ordering::Greater));
            }
        }
    }

    /// One second's chain, listed in any order, comes out tip first, back to its root.
    #[test]
    fn a_shuffled_chain_is_ordered_tip_first(
        shuffled in (1usize..7).prop_flat_map(|n| Just(chain(n)).prop_shuffle()),
    ) {
        let mut ordered = shuffled.clone();
        order_newest_first(&mut ordered);
        let expected: Vec<String> = (0..shuffled.len()).rev().map(|i| format!("idv_{i}")).collect();
        prop_assert_eq!(ids(&ordered), expected);
    }
}
