//! The template as a published application: one version everywhere, the Serverless Application
//! Repository's metadata, the outputs a nesting stack reads, and the release build's list of
//! functions.

use super::*;

fn assert_caught(what: &str, problems: Vec<String>, needle: &str) {
    assert!(
        problems.iter().any(|p| p.contains(needle)),
        "{what}: expected a problem mentioning {needle:?}, got {problems:?}"
    );
}

/// The workspace version (Cargo.toml `[workspace.package]`, which every crate inherits), the
/// template's `SemanticVersion`, the OpenAPI `info.version` and the newest CHANGELOG release.
pub(super) fn check_versions(
    cargo: &str,
    t: &Value,
    openapi: &Value,
    changelog: &str,
) -> Vec<String> {
    let mut problems = Vec::new();
    let template = t["Metadata"]["AWS::ServerlessRepo::Application"]["SemanticVersion"]
        .as_str()
        .unwrap_or("(none)");
    let api = openapi["info"]["version"].as_str().unwrap_or("(none)");
    // Keep a Changelog: `## [Unreleased]` may come first, then `## [x.y.z] - date`.
    let newest = changelog
        .lines()
        .filter_map(|l| l.strip_prefix("## ["))
        .filter_map(|l| l.split_once(']').map(|(v, _)| v))
        .find(|v| !v.eq_ignore_ascii_case("unreleased"))
        .unwrap_or("(none)");
    for (what, v) in [
        ("template SemanticVersion", template),
        ("shared/openapi.yaml info.version", api),
        ("CHANGELOG.md's newest release", newest),
    ] {
        if v != cargo {
            problems.push(format!("{what} is {v}, the workspace's version {cargo}"));
        }
    }
    problems
}

/// What `sam publish` sends and the repository's rules for it (AWS Serverless Application
/// Repository API, CreateApplication): the fields present, in their patterns and lengths, and
/// the licence and readme files there.
pub(super) fn check_application(t: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let app = &t["Metadata"]["AWS::ServerlessRepo::Application"];
    let text = |k: &str| app[k].as_str().unwrap_or("");
    for key in [
        "Name",
        "Description",
        "Author",
        "SpdxLicenseId",
        "LicenseUrl",
        "ReadmeUrl",
        "HomePageUrl",
        "SemanticVersion",
        "SourceCodeUrl",
    ] {
        if text(key).is_empty() {
            problems.push(format!("AWS::ServerlessRepo::Application has no {key}"));
        }
    }
    let lower_hyphens = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && !s.ends_with('-')
            && !s.contains("--")
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !lower_hyphens(text("Author")) {
        problems.push("Author: lower-case letters, digits and single hyphens only".into());
    }
    let name = text("Name");
    if name.len() > 140 || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        problems.push("Name: letters, digits and hyphens, at most 140".into());
    }
    if text("Description").chars().count() > 256 {
        problems.push("Description: at most 256 characters".into());
    }
    if text("SpdxLicenseId") != "Apache-2.0" {
        problems.push("SpdxLicenseId is not Apache-2.0 (Cargo.toml's licence)".into());
    }
    for key in ["HomePageUrl", "SourceCodeUrl"] {
        if !text(key).starts_with("https://") {
            problems.push(format!("{key} is not an https URL"));
        }
    }
    for key in ["LicenseUrl", "ReadmeUrl"] {
        let file = repo_root().join("infra").join(text(key));
        if !file.is_file() {
            problems.push(format!("{key}: no file {}", file.display()));
        }
    }
    let labels = as_strings(&app["Labels"]);
    if labels.is_empty() || labels.len() > 10 {
        problems.push(format!("Labels: 1 to 10, found {}", labels.len()));
    }
    for l in &labels {
        let ok = l.len() <= 127
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-_:/@".contains(c));
        if !ok {
            problems.push(format!("label {l:?} is not allowed"));
        }
    }
    problems
}

/// What a stack nesting this one reads, by output name. (The outcome events' bus, name and
/// ARN, joins with the events.)
pub(super) const NESTING_OUTPUTS: [&str; 9] = [
    "ApiUrl",
    "WebhookUrl",
    "ApiId",
    "TableName",
    "TableArn",
    "PlaidSecretArn",
    "AlarmTopicArn",
    "EventBusName",
    "EventBusArn",
];

pub(super) fn check_outputs(t: &Value) -> Vec<String> {
    NESTING_OUTPUTS
        .iter()
        .filter(|o| t["Outputs"][**o]["Value"].is_null())
        .map(|o| format!("no output {o} for a nesting stack"))
        .collect()
}

/// `LAMBDA_BINS` in infra/infra.mk, the functions `make lambda-build` and `make package` build.
fn make_lambda_bins() -> BTreeSet<String> {
    let mk = std::fs::read_to_string(repo_root().join("infra/infra.mk")).expect("infra/infra.mk");
    let line = mk
        .lines()
        .find_map(|l| l.strip_prefix("LAMBDA_BINS"))
        .expect("LAMBDA_BINS in infra/infra.mk");
    let value = line.split_once('=').expect("LAMBDA_BINS := ...").1;
    value.split_whitespace().map(str::to_owned).collect()
}

fn openapi() -> Value {
    let text = std::fs::read_to_string(repo_root().join("shared/openapi.yaml")).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn changelog() -> String {
    std::fs::read_to_string(repo_root().join("CHANGELOG.md")).expect("CHANGELOG.md")
}

#[test]
fn one_version_in_cargo_the_template_the_openapi_file_and_the_changelog() {
    assert_clean(
        "versions",
        check_versions(
            env!("CARGO_PKG_VERSION"),
            &load_template(),
            &openapi(),
            &changelog(),
        ),
    );
}

#[test]
fn sam_publish_finds_the_application_metadata() {
    assert_clean("application", check_application(&load_template()));
}

#[test]
fn a_nesting_stack_finds_its_outputs() {
    assert_clean("outputs", check_outputs(&load_template()));
}

#[test]
fn the_release_build_builds_every_deployed_function() {
    assert_eq!(make_lambda_bins(), lambda_bins(), "infra.mk LAMBDA_BINS");
}

#[test]
fn catches_a_version_changed_alone_and_bad_metadata() {
    let cargo = env!("CARGO_PKG_VERSION");
    let mut t = load_template();
    t["Metadata"]["AWS::ServerlessRepo::Application"]["SemanticVersion"] = json!("9.9.9");
    assert_caught(
        "template version",
        check_versions(cargo, &t, &openapi(), &changelog()),
        "template SemanticVersion is 9.9.9",
    );
    let mut api = openapi();
    api["info"]["version"] = json!("0.0.1");
    assert_caught(
        "openapi version",
        check_versions(cargo, &load_template(), &api, &changelog()),
        "info.version is 0.0.1",
    );
    let log = changelog().replacen(&format!("## [{cargo}]"), "## [0.0.2]", 1);
    assert_caught(
        "changelog",
        check_versions(cargo, &load_template(), &openapi(), &log),
        "newest release is 0.0.2",
    );

    let mut t = load_template();
    let app = &mut t["Metadata"]["AWS::ServerlessRepo::Application"];
    app["Author"] = json!("Some Team");
    app["ReadmeUrl"] = json!("../NOPE.md");
    app.as_object_mut().unwrap().remove("HomePageUrl");
    let problems = check_application(&t);
    assert_caught("author", problems.clone(), "Author");
    assert_caught("readme", problems.clone(), "ReadmeUrl: no file");
    assert_caught("home page", problems, "no HomePageUrl");

    let mut t = load_template();
    t["Outputs"].as_object_mut().unwrap().remove("TableName");
    assert_caught("outputs", check_outputs(&t), "no output TableName");
}
