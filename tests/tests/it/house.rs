//! The house rule on file size: no non-test Rust source file over 600 lines, counted outside
//! `#[cfg(test)] mod tests { ... }` blocks. Files named `tests.rs` and files under a `tests/`
//! directory are test code and not counted. A file may be allowed over the limit only when it
//! is named in `ALLOWED` with the reason.

use std::path::{Path, PathBuf};

const LIMIT: usize = 600;

/// Where the crates' own sources live, relative to the workspace root.
const ROOTS: &[&str] = &[
    "shared/src",
    "functions",
    "tests/src",
    "tests/plaid-emulator/src",
];

/// Files allowed over the limit for now, each with why.
const ALLOWED: &[(&str, &str)] = &[];

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the test kit sits in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "tests" && name != "target" {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// Lines outside `#[cfg(test)] mod tests { ... }` blocks. rustfmt puts a block's closing brace
/// alone on a line at the block's own indentation, which is where the block ends.
fn counted_lines(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut counted = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = &line[..line.len() - line.trim_start().len()];
        let opens_tests = line.trim() == "#[cfg(test)]"
            && lines.get(i + 1).is_some_and(|next| {
                let next = next.trim();
                next == "mod tests {" || next == "pub(crate) mod tests {"
            });
        if opens_tests {
            let close = format!("{indent}}}");
            i += 2;
            while i < lines.len() && lines[i] != close {
                i += 1;
            }
            i += 1;
            continue;
        }
        counted += 1;
        i += 1;
    }
    counted
}

#[test]
fn test_blocks_are_not_counted() {
    let text =
        "fn a() {}\n\n#[cfg(test)]\nmod tests {\n    #[test]\n    fn t() {\n    }\n}\nfn b() {}\n";
    assert_eq!(counted_lines(text), 3);
    let nested = "mod m {\n    #[cfg(test)]\n    mod tests {\n        fn t() {}\n    }\n}\n";
    assert_eq!(counted_lines(nested), 2);
}

#[test]
fn no_source_file_is_over_the_limit() {
    let root = workspace_root();
    let mut files = Vec::new();
    for dir in ROOTS {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut offenders = Vec::new();
    let mut allowed_seen = Vec::new();
    for path in &files {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let n = counted_lines(&text);
        let rel = path.strip_prefix(&root).unwrap_or(path);
        let rel = rel.to_string_lossy().replace('\\', "/");
        if n <= LIMIT {
            continue;
        }
        if ALLOWED.iter().any(|(p, _)| *p == rel) {
            allowed_seen.push(rel);
        } else {
            offenders.push(format!("{rel}: {n} lines"));
        }
    }
    offenders.sort();
    assert!(
        offenders.is_empty(),
        "over {LIMIT} lines outside test modules (split them, move only):\n  {}",
        offenders.join("\n  ")
    );
    let stale: Vec<_> = ALLOWED
        .iter()
        .filter(|(p, _)| !allowed_seen.iter().any(|s| s == p))
        .map(|(p, _)| *p)
        .collect();
    assert!(
        stale.is_empty(),
        "allowed over the limit but no longer over it; remove from ALLOWED: {stale:?}"
    );
}
