//! The crate's modules import only modules of lower layers: the order written in the
//! `# Layers` list of `src/lib.rs`'s module doc, read here so the doc and the check cannot
//! drift apart.
//!
//! A unit is a top-level module, or a submodule the list names on its own (`plaid::types`,
//! which sits far below the rest of `plaid`). A file belongs to the longest unit its path
//! starts with; a reference `crate::a::b::…` (in a `use`, a brace group of one, or a path in
//! code) names the longest unit it starts with. Only `crate::` paths are followed: `super::`
//! stays inside a unit by the crate's habit, and `crate::` is how the crate crosses modules.
//! Test code counts like any other: a unit test that needs a module above it belongs in
//! `tests/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Unit name to layer number (1 at the bottom), from `lib.rs`'s `# Layers` list: lines
/// `//! N. `a`, `b`: why`, every backticked name before the first colon outside backticks.
fn layers(lib: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut in_list = false;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if doc.starts_with('#') {
            in_list = doc.trim_start_matches('#').trim() == "Layers";
            continue;
        }
        if !in_list {
            continue;
        }
        let Some((n, rest)) = doc.split_once(". ") else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else {
            continue;
        };
        // Odd pieces are names, even ones what lies between; the first colon outside
        // backticks ends the names.
        let pieces: Vec<&str> = rest.split('`').collect();
        let names = pieces
            .iter()
            .enumerate()
            .take_while(|(i, p)| i % 2 == 1 || *i == 0 || !p.contains(':'))
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, p)| *p);
        for name in names {
            assert!(
                out.insert(name.to_owned(), n).is_none(),
                "{name} is listed twice in lib.rs's layers"
            );
        }
    }
    out
}

/// The longest unit `path` (module names) starts with.
fn unit_of(path: &[String], units: &BTreeMap<String, usize>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|u| units.contains_key(u))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/`: `plaid/types.rs` and `plaid/types/mod.rs` are
/// `plaid::types`.
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The source without comments and string literals, which may mention `crate::` in prose.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let end = src[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            i = end;
        } else if b[i] == b'"' {
            // A raw string's `r#"` leaves `r#` behind, harmless; its body is skipped the same.
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal (`'"'`, `'\n'`); lifetimes (`'a`) fall through.
            let close = src[i + 2..].find('\'').map_or(b.len(), |e| i + 2 + e + 1);
            i = close;
            out.push_str("' '");
        } else {
            let ch = src[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn ident(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

/// Every module path a `crate::` reference in `code` names (a brace group gives one per
/// member: `crate::{a::X, b}` names `a` and `b`).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            continue; // `$crate::` or a longer identifier ending in `crate`
        }
        out.extend(paths_from(rest, Vec::new()));
    }
    out
}

/// The paths at the start of `s` (just after a `::`), each prefixed by `prefix`.
fn paths_from(s: &str, prefix: Vec<String>) -> Vec<Vec<String>> {
    let s = s.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut end = group.len();
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        let inner = &group[..end];
        let mut out = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices().chain([(inner.len(), ',')]) {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    let member = inner[start..i].trim();
                    if !member.is_empty() && member != "self" {
                        out.extend(paths_from(member, prefix.clone()));
                    }
                    start = i + 1;
                }
                _ => {}
            }
        }
        return out;
    }
    let (name, after) = ident(s);
    if name.is_empty() || name == "self" {
        return vec![prefix];
    }
    let mut path = prefix;
    path.push(name.to_owned());
    match after.trim_start().strip_prefix("::") {
        Some(more) => paths_from(more, path),
        None => vec![path],
    }
}

#[test]
fn no_module_imports_a_module_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let units = layers(&std::fs::read_to_string(src.join("lib.rs")).unwrap());
    assert!(
        units.len() > 5,
        "lib.rs's module doc has no `# Layers` list"
    );

    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut unlisted = BTreeSet::new();
    let mut violations = BTreeSet::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let from_path = module_path(rel);
        if from_path.is_empty() {
            continue; // lib.rs: declares every module
        }
        let Some(from) = unit_of(&from_path, &units) else {
            unlisted.insert(from_path[0].clone());
            continue;
        };
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        for path in crate_paths(&code) {
            let Some(to) = unit_of(&path, &units) else {
                if let Some(top) = path.first() {
                    unlisted.insert(top.clone());
                }
                continue;
            };
            if to != from && units[&to] >= units[&from] {
                violations.insert(format!(
                    "{} ({from}, layer {}) uses crate::{} ({to}, layer {})",
                    rel.display(),
                    units[&from],
                    path.join("::"),
                    units[&to]
                ));
            }
        }
    }
    assert!(
        unlisted.is_empty(),
        "modules missing from lib.rs's layers: {unlisted:?}"
    );
    assert!(
        violations.is_empty(),
        "{} imports of a module in the same layer or above:\n{}",
        violations.len(),
        violations.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_parser_reads_groups_paths_and_skips_prose() {
    let code = code_only(
        "use crate::{a::X, b::{c, d::Y}, self};\n\
         // crate::comment::Z\n\
         let s = \"crate::string\";\n\
         let c = '\"';\n\
         fn f() { crate::e::f(); $crate::g::h(); }\n",
    );
    let got: Vec<String> = crate_paths(&code).iter().map(|p| p.join("::")).collect();
    assert_eq!(got, ["a::X", "b::c", "b::d::Y", "e::f"]);
    let units = layers("//! # Layers\n//!\n//! 1. `x`, `p::t`: leaves\n//! 2. `p`: the rest\n");
    assert_eq!(units.len(), 3);
    let path = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(unit_of(&path("p::t::Z"), &units).as_deref(), Some("p::t"));
    assert_eq!(unit_of(&path("p::client"), &units).as_deref(), Some("p"));
    assert_eq!(module_path(Path::new("p/t/mod.rs")), path("p::t"));
}
