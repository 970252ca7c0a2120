//! `make package`'s release folder (testkit::release), written from stand-in bootstraps: the
//! arm64 release build is `make package`'s own work, not the tests'.

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use testkit::cfn;
use testkit::localstack::workspace_root;
use testkit::release::{self, Inputs, VERSION};

/// A scratch folder of this test's own, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("testkit-release-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn binaries() -> Vec<String> {
    release::functions(&cfn::workspace_template())
        .unwrap()
        .into_iter()
        .map(|(_, bin)| bin)
        .collect()
}

/// `<dir>/<bin>/bootstrap.zip` for each of `bins`, each with its own bytes.
fn stand_in_zips(dir: &Path, bins: &[String]) {
    for bin in bins {
        std::fs::create_dir_all(dir.join(bin)).unwrap();
        std::fs::write(
            dir.join(bin).join("bootstrap.zip"),
            format!("stand-in bootstrap.zip of {bin}"),
        )
        .unwrap();
    }
}

fn files(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            for f in files(&e.path()) {
                out.insert(format!("{name}/{f}"));
            }
        } else {
            out.insert(name);
        }
    }
    out
}

#[test]
fn the_release_folder_holds_each_zip_with_its_sum_the_packaged_template_and_the_docs() {
    let tmp = scratch("layout");
    let bins = binaries();
    stand_in_zips(&tmp.join("lambda"), &bins);
    let root = workspace_root();
    let dir = release::write(&Inputs {
        root: root.clone(),
        lambda_dir: tmp.join("lambda"),
        out_dir: tmp.join("out"),
    })
    .unwrap();
    assert_eq!(dir, tmp.join("out").join(format!("release-{VERSION}")));
    assert!(
        !tmp.join("out")
            .join(format!("release-{VERSION}.partial"))
            .exists()
    );

    let mut want: BTreeSet<String> = bins.iter().map(|b| format!("{b}.zip")).collect();
    for f in [
        "template.yaml",
        "openapi.yaml",
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "SHA256SUMS",
    ] {
        want.insert(f.to_owned());
    }
    // The outcome events' schema, once shared/events/ holds it.
    if let Ok(entries) = std::fs::read_dir(root.join("shared/events")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                want.insert(format!("events/{name}"));
            }
        }
    }
    assert_eq!(files(&dir), want);

    for bin in &bins {
        assert_eq!(
            std::fs::read(dir.join(format!("{bin}.zip"))).unwrap(),
            format!("stand-in bootstrap.zip of {bin}").into_bytes(),
            "{bin}.zip is the build's zip"
        );
    }
    assert_eq!(
        std::fs::read(dir.join("openapi.yaml")).unwrap(),
        std::fs::read(root.join("shared/openapi.yaml")).unwrap()
    );

    // SHA256SUMS: `sha256sum --check` form, every other file once, each sum right.
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    let mut summed = BTreeSet::new();
    for line in sums.lines() {
        let (hex, name) = line.split_once("  ").expect("<sum>  <file>");
        assert_eq!(
            hex,
            hex::encode(Sha256::digest(std::fs::read(dir.join(name)).unwrap())),
            "{name}"
        );
        assert!(summed.insert(name.to_owned()), "{name} summed twice");
    }
    want.remove("SHA256SUMS");
    assert_eq!(summed, want);

    // The packaged template deploys these zips and builds nothing; the rest is the template's.
    let source = cfn::workspace_template();
    let packaged = cfn::read(&dir.join("template.yaml")).unwrap();
    assert!(packaged["Globals"]["Function"].get("CodeUri").is_none());
    for (id, bin) in release::functions(&source).unwrap() {
        let f = &packaged["Resources"][&id];
        assert_eq!(f["Properties"]["CodeUri"], format!("{bin}.zip"), "{id}");
        assert!(f["Metadata"].get("BuildMethod").is_none(), "{id}");
        assert_eq!(
            f["Properties"].get("Events"),
            source["Resources"][&id]["Properties"].get("Events"),
            "{id}"
        );
    }
    for (id, r) in cfn::resources(&source) {
        if r["Type"] != "AWS::Serverless::Function" {
            assert_eq!(&packaged["Resources"][id], r, "{id} as in the template");
        }
    }
    let app = &packaged["Metadata"]["AWS::ServerlessRepo::Application"];
    assert_eq!(app["SemanticVersion"], VERSION);
    for key in ["LicenseUrl", "ReadmeUrl"] {
        let file = app[key].as_str().unwrap();
        assert!(dir.join(file).is_file(), "{key} {file} is in the folder");
    }
    assert_eq!(packaged["Outputs"], source["Outputs"]);
    assert_eq!(packaged["Parameters"], source["Parameters"]);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_function_without_its_zip_stops_the_release_and_leaves_no_folder() {
    let tmp = scratch("missing");
    let bins = binaries();
    let (last, rest) = bins.split_last().unwrap();
    stand_in_zips(&tmp.join("lambda"), rest);
    let err = release::write(&Inputs {
        root: workspace_root(),
        lambda_dir: tmp.join("lambda"),
        out_dir: tmp.join("out"),
    })
    .unwrap_err();
    assert!(err.contains(&format!("{last}/bootstrap.zip")), "{err}");
    assert!(!tmp.join("out").exists(), "nothing written");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_template_of_another_version_is_not_packaged() {
    let mut t = cfn::workspace_template();
    t["Metadata"]["AWS::ServerlessRepo::Application"]["SemanticVersion"] =
        Value::String("9.9.9".into());
    let err = release::packaged_template(&t).unwrap_err();
    assert!(err.contains("9.9.9") && err.contains(VERSION), "{err}");
}
