//! The configuration every property test here runs with. A random seed that is not known
//! cannot replay the failure it found: each run draws its seed, prints it (libtest shows it
//! with a failing test's output), and takes `PROPTEST_RNG_SEED` instead when set, to replay.
//! Failing cases are also kept, shrunk, in `proptest-regressions/` beside the test's source
//! (proptest's file persistence, on explicitly here): commit those files, and every later run
//! tries them first.

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
use std::hash::{BuildHasher, Hasher};

/// `cases` cases, a printed seed, failures kept beside the source. `source_file` is filled in
/// by `proptest!`; a hand-built `TestRunner` must set it (see tests/tests/it/hardening.rs).
pub fn config(cases: u32) -> Config {
    let seed = match std::env::var("PROPTEST_RNG_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("PROPTEST_RNG_SEED={s:?} is not a u64")),
        Err(_) => std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish(),
    };
    eprintln!("proptest seed {seed} (replay: PROPTEST_RNG_SEED={seed})");
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::{Strategy, ValueTree};
    use proptest::test_runner::TestRunner;

    fn draws(seed: RngSeed) -> Vec<u64> {
        let mut runner = TestRunner::new(Config {
            rng_seed: seed,
            ..Config::default()
        });
        (0..5)
            .map(|_| {
                proptest::num::u64::ANY
                    .new_tree(&mut runner)
                    .unwrap()
                    .current()
            })
            .collect()
    }

    #[test]
    fn the_printed_seed_replays_the_same_cases_and_failures_are_kept() {
        let c = config(3);
        assert_eq!(c.cases, 3);
        let RngSeed::Fixed(seed) = c.rng_seed else {
            panic!("a random seed cannot be replayed: {}", c.rng_seed)
        };
        assert!(c.failure_persistence.is_some(), "failing cases are kept");
        assert_eq!(draws(RngSeed::Fixed(seed)), draws(RngSeed::Fixed(seed)));
    }
}
