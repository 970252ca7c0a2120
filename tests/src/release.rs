//! The release folder `make package` writes (`target/release-<version>/`): what a deployer
//! downloads, checks and uploads, with no build tools of their own.
//!
//! - `<function>.zip`: each function's arm64 `bootstrap`, as `cargo lambda build --arm64
//!   --output-format zip` wrote it (`<lambda dir>/<function>/bootstrap.zip`);
//! - `template.yaml`: `infra/template.yaml` with each function's `CodeUri` set to its zip (the
//!   build metadata and the workspace `CodeUri` gone) and the application's licence and readme
//!   pointing at the copies beside it, so `sam package` run in the folder uploads exactly these
//!   files (then `sam deploy`, or `sam publish` to the Serverless Application Repository);
//! - `openapi.yaml` (the HTTP API), `events/*.json` (the outcome events' schema, when
//!   `shared/events/` holds any), `LICENSE`, `README.md`, `CHANGELOG.md`;
//! - `SHA256SUMS`: every other file's SHA-256, in `sha256sum --check` form.
//!
//! The template's functions are the list: a function without its zip stops the release, as does
//! a template whose `SemanticVersion` is not the workspace's version. The folder is written
//! under a `.partial` name and renamed when complete, so a failed run leaves no half release.

use crate::cfn;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The workspace's one version (Cargo.toml `[workspace.package]`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Where the inputs are and where the folder goes.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The repository root: `infra/template.yaml`, `shared/openapi.yaml`, `shared/events/`,
    /// `LICENSE`, `README.md`, `CHANGELOG.md`.
    pub root: PathBuf,
    /// `<lambda_dir>/<function>/bootstrap.zip` for every function (`target/lambda`).
    pub lambda_dir: PathBuf,
    /// The folder is `<out_dir>/release-<version>`.
    pub out_dir: PathBuf,
}

/// The functions the template deploys: (resource id, binary).
pub fn functions(template: &Value) -> Result<Vec<(String, String)>, String> {
    cfn::functions(template)
        .into_iter()
        .map(|(id, f)| match cfn::binary_of(f) {
            Some(bin) => Ok((id.to_owned(), bin.to_owned())),
            None => Err(format!("{id}: no Metadata.BuildProperties.Binary")),
        })
        .collect()
}

/// The template as deployed from the release folder: each function's code is `<binary>.zip`
/// beside it, nothing is left to build, the licence and readme are the copies beside it.
pub fn packaged_template(template: &Value) -> Result<Value, String> {
    let mut t = template.clone();
    let app = &mut t["Metadata"]["AWS::ServerlessRepo::Application"];
    let version = app["SemanticVersion"].as_str().unwrap_or("");
    if version != VERSION {
        return Err(format!(
            "the template's SemanticVersion is {version:?}, the workspace's version {VERSION}"
        ));
    }
    app["LicenseUrl"] = json!("LICENSE");
    app["ReadmeUrl"] = json!("README.md");
    if let Some(globals) = t["Globals"]["Function"].as_object_mut() {
        globals.remove("CodeUri");
    }
    for (id, bin) in functions(template)? {
        let f = &mut t["Resources"][&id];
        f["Properties"]["CodeUri"] = json!(format!("{bin}.zip"));
        if let Some(meta) = f["Metadata"].as_object_mut() {
            meta.remove("BuildMethod");
            meta.remove("BuildProperties");
            if meta.is_empty() {
                f.as_object_mut().map(|r| r.remove("Metadata"));
            }
        }
    }
    Ok(t)
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copy {} to {}: {e}", from.display(), to.display()))
}

fn sha256_hex(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Every file under `dir` (relative, `/`-separated, sorted).
fn files_under(dir: &Path) -> Result<Vec<String>, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> Result<(), String> {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if entry.path().is_dir() {
                walk(&entry.path(), &format!("{rel}/"), out)?;
            } else {
                out.push(rel);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out)?;
    out.sort();
    Ok(out)
}

/// Writes the release folder and returns its path.
pub fn write(inputs: &Inputs) -> Result<PathBuf, String> {
    let template = cfn::read(&inputs.root.join("infra/template.yaml"))?;
    let packaged = packaged_template(&template)?;
    let functions = functions(&template)?;
    let missing: Vec<String> = functions
        .iter()
        .map(|(_, bin)| inputs.lambda_dir.join(bin).join("bootstrap.zip"))
        .filter(|zip| !zip.is_file())
        .map(|zip| zip.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no bootstrap.zip for every function (make lambda-build): {}",
            missing.join(", ")
        ));
    }

    let done = inputs.out_dir.join(format!("release-{VERSION}"));
    let partial = inputs.out_dir.join(format!("release-{VERSION}.partial"));
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    if partial.exists() {
        std::fs::remove_dir_all(&partial).map_err(|e| io("remove", &partial, e))?;
    }
    std::fs::create_dir_all(&partial).map_err(|e| io("create", &partial, e))?;

    for (_, bin) in &functions {
        copy(
            &inputs.lambda_dir.join(bin).join("bootstrap.zip"),
            &partial.join(format!("{bin}.zip")),
        )?;
    }
    let yaml = serde_yaml_ng::to_string(&packaged).map_err(|e| e.to_string())?;
    let header = format!(
        "# Release {VERSION}: infra/template.yaml with each function's CodeUri set to its zip in\n\
         # this folder. Upload and deploy from here: sam package, then sam deploy or sam publish.\n"
    );
    let path = partial.join("template.yaml");
    std::fs::write(&path, header + &yaml).map_err(|e| io("write", &path, e))?;
    copy(
        &inputs.root.join("shared/openapi.yaml"),
        &partial.join("openapi.yaml"),
    )?;
    for doc in ["LICENSE", "README.md", "CHANGELOG.md"] {
        copy(&inputs.root.join(doc), &partial.join(doc))?;
    }
    let events = inputs.root.join("shared/events");
    if events.is_dir() {
        let schemas: Vec<String> = files_under(&events)?
            .into_iter()
            .filter(|f| !f.contains('/') && f.ends_with(".json"))
            .collect();
        if !schemas.is_empty() {
            let dir = partial.join("events");
            std::fs::create_dir_all(&dir).map_err(|e| io("create", &dir, e))?;
            for f in schemas {
                copy(&events.join(&f), &dir.join(&f))?;
            }
        }
    }

    let mut sums = String::new();
    for f in files_under(&partial)? {
        sums.push_str(&format!("{}  {f}\n", sha256_hex(&partial.join(&f))?));
    }
    let path = partial.join("SHA256SUMS");
    std::fs::write(&path, sums).map_err(|e| io("write", &path, e))?;

    if done.exists() {
        std::fs::remove_dir_all(&done).map_err(|e| io("remove", &done, e))?;
    }
    std::fs::rename(&partial, &done).map_err(|e| io("rename", &partial, e))?;
    Ok(done)
}
