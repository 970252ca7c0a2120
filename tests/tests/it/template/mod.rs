//! Checks on `infra/template.yaml` that cfn-lint and `sam validate` cannot make: the template
//! deploys exactly the binaries the workspace builds, routes and authorizes exactly the design's
//! API, grants each function only the DynamoDB actions its code performs, gives the functions an
//! environment the real `Config` parser accepts, and keeps local-only switches out of the cloud.
//!
//! Every check returns the list of problems it found; the `catches_*` tests break a copy of the
//! template on purpose and assert that the check notices, so no check passes vacuously. The
//! other direction, that the grants cover what the code asks of DynamoDB, is checked by running
//! every function's paths against moto through a call-counting store.

use serde_json::{Map, Value, json};
use shared::config::Config;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use testkit::cfn::{
    as_strings, binary_of, env_of, fn_prop, function_by_binary, functions, is_no_value,
    resource_list, resources, resources_of_type, statements,
};
use testkit::emulator::endpoints::IDV_RETRY;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits inside the repository")
        .to_path_buf()
}

/// The template, read once per check through the test kit's one CloudFormation reader.
fn load_template() -> Value {
    testkit::cfn::workspace_template()
}

/// Cargo's own view of the workspace: `(package manifest path, bin target name)`.
fn workspace_bins() -> Vec<(PathBuf, String)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_owned());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
        ])
        .arg("--manifest-path")
        .arg(repo_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON");
    let mut bins = Vec::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let manifest = PathBuf::from(pkg["manifest_path"].as_str().unwrap_or_default());
        for target in pkg["targets"].as_array().into_iter().flatten() {
            let is_bin = target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"));
            if is_bin {
                bins.push((
                    manifest.clone(),
                    target["name"].as_str().unwrap_or_default().to_owned(),
                ));
            }
        }
    }
    bins
}

/// The Lambda binaries: every bin target of a package under `functions/`.
fn lambda_bins() -> BTreeSet<String> {
    let functions_dir = repo_root().join("functions");
    workspace_bins()
        .into_iter()
        .filter(|(manifest, _)| manifest.starts_with(&functions_dir))
        .map(|(_, name)| name)
        .collect()
}

mod catches;
mod checks;
mod cors;
mod events;
mod grants;
mod metrics;
mod outcome_webhook;
mod release;

use checks::*;

// ---------------------------------------------------------------------------------------------
// Tests on the real template.
// ---------------------------------------------------------------------------------------------

fn assert_clean(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn every_function_builds_a_workspace_binary_and_every_binary_is_deployed() {
    let bins = lambda_bins();
    assert_eq!(
        bins,
        BTreeSet::from(
            [
                "create-session",
                "link-token",
                "get-session",
                "webhook",
                "reconcile",
                "publish-events"
            ]
            .map(String::from)
        ),
        "the design's six binaries"
    );
    assert_clean("binaries", check_binaries(&load_template(), &bins));
}

#[test]
fn routes_and_authorizers_are_exactly_the_designs() {
    assert_clean("routes", check_routes(&load_template()));
}

#[test]
fn iam_is_least_privilege() {
    assert_clean("iam", check_iam(&load_template()));
}

#[test]
fn table_matches_what_the_store_queries() {
    assert_clean("table", check_table(&load_template()));
}

#[test]
fn environment_is_complete_parseable_and_cloud_only() {
    assert_clean("environment", check_env(&load_template()));
}

#[test]
fn timeouts_fit_plaid_and_the_schedule() {
    assert_clean("timeouts", check_timeouts(&load_template()));
}

#[test]
fn logs_are_json_expire_and_hold_no_request_content() {
    assert_clean("logging", check_logging(&load_template()));
}

#[test]
fn the_webhook_route_is_throttled_and_its_function_reserved_on_their_own() {
    assert_clean("webhook limits", check_webhook_limits(&load_template()));
}

#[test]
fn customer_managed_keys_are_optional_and_granted_when_set() {
    assert_clean("kms", check_kms(&load_template()));
}

#[test]
fn failed_reconcile_runs_are_kept_and_alarmed() {
    assert_clean(
        "reconcile failures",
        check_reconcile_failures(&load_template()),
    );
}

#[test]
fn every_function_has_a_reserved_concurrency_parameter() {
    assert_clean(
        "reserved concurrency",
        check_reserved_concurrency(&load_template()),
    );
}

#[test]
fn every_scanner_suppression_says_why() {
    assert_clean(
        "checkov suppressions",
        check_scanner_suppressions(&load_template()),
    );
}

/// infra/README.md's parameter table names every template parameter (the operator's only guide
/// to the optional keys and reservations).
#[test]
fn every_parameter_is_in_the_readme_table() {
    let readme =
        std::fs::read_to_string(repo_root().join("infra/README.md")).expect("infra/README.md");
    let table: String = readme
        .split("\n## Parameters\n")
        .nth(1)
        .expect("infra/README.md has a `## Parameters` section")
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let t = load_template();
    let missing: Vec<&String> = t["Parameters"]
        .as_object()
        .expect("Parameters")
        .keys()
        .filter(|p| !table.contains(&format!("`{p}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "not in infra/README.md's parameter table: {missing:?}"
    );
}

/// `make run` serves the deployed routes through cargo lambda watch's router
/// (`[workspace.metadata.lambda.watch.router]` in Cargo.toml): the same paths, each method to the
/// same function as in the template, and nothing else. (A path with one function may name it
/// for every method: the function refuses the others itself.)
#[test]
fn the_local_router_serves_the_deployed_routes() {
    let manifest = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let header = "[workspace.metadata.lambda.watch.router]";
    let start = manifest
        .find(header)
        .expect("a cargo lambda watch router in Cargo.toml")
        + header.len();
    let section = &manifest[start..];
    let section = &section[..section.find("\n[").unwrap_or(section.len())];
    let quoted =
        |s: &str| -> Vec<String> { s.split('"').skip(1).step_by(2).map(str::to_owned).collect() };
    // Entries start at lines beginning with a quoted path.
    let mut entries: Vec<String> = Vec::new();
    for line in section
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if line.starts_with('"') {
            entries.push(line.to_owned());
        } else if let Some(last) = entries.last_mut() {
            last.push_str(line);
        }
    }
    // (method or "*", path) → function
    let mut router: BTreeMap<(String, String), String> = BTreeMap::new();
    for entry in &entries {
        let (key, value) = entry.split_once('=').expect("path = route");
        let path = quoted(key).remove(0);
        let value = value.trim();
        if value.starts_with('"') {
            router.insert(("*".into(), path), quoted(value).remove(0));
        } else {
            for item in value.split('{').skip(1) {
                let field = |name: &str| {
                    let at = item
                        .find(name)
                        .unwrap_or_else(|| panic!("{name} in {item}"));
                    quoted(&item[at..]).remove(0)
                };
                router.insert((field("method"), path.clone()), field("function"));
            }
        }
    }
    let expected = expected_routes();
    let expected_paths: BTreeSet<&String> = expected.keys().map(|(_, p)| p).collect();
    for (method, path) in router.keys() {
        assert!(
            expected_paths.contains(path),
            "the router serves {method} {path}, which is not deployed"
        );
    }
    for ((method, path), (binary, _)) in &expected {
        let routed = router
            .get(&(method.clone(), path.clone()))
            .or_else(|| router.get(&("*".to_owned(), path.clone())));
        assert_eq!(routed, Some(binary), "{method} {path} locally");
    }
    for ((method, path), function) in &router {
        if method != "*" {
            assert_eq!(
                expected
                    .get(&(method.clone(), path.clone()))
                    .map(|(b, _)| b),
                Some(function),
                "{method} {path}"
            );
        }
    }
}
