//! The docs hold together: every relative link in every tracked `*.md` resolves (the file, and
//! the `#anchor` by GitHub's rules), every `make <target>` they name exists in the Makefiles, and
//! every environment variable the functions' code reads has its row in functions/README.md's
//! configuration table. The variables are derived from the code, so a new one without a row
//! fails here. The checks are plain functions over texts, so the last test can show each one
//! failing on a broken copy of the real docs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .expect("repo root")
}

/// Every tracked `*.md` (git's list, so build output and virtualenvs are not docs), by path
/// relative to the root.
fn tracked_docs(root: &Path) -> BTreeMap<PathBuf, String> {
    let out = std::process::Command::new("git")
        .args(["ls-files", "-z", "--", "*.md"])
        .current_dir(root)
        .output()
        .expect("git ls-files (the docs test needs git)");
    assert!(out.status.success(), "git ls-files failed");
    let docs: BTreeMap<PathBuf, String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| PathBuf::from(String::from_utf8_lossy(p).into_owned()))
        .filter(|p| root.join(p).is_file())
        .map(|p| {
            let text = std::fs::read_to_string(root.join(&p)).expect("read doc");
            (p, text)
        })
        .collect();
    assert!(
        docs.contains_key(Path::new("README.md"))
            && docs.contains_key(Path::new("functions/README.md")),
        "tracked docs: {:?}",
        docs.keys()
    );
    docs
}

/// A markdown text split into its prose (code blanked out, newlines kept) and its code: fenced
/// blocks and inline code spans (a span may cross a line end).
fn split_code(text: &str) -> (String, Vec<String>) {
    let mut prose = String::with_capacity(text.len());
    let mut code = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut block = String::new();
    let mut outside = String::new();
    let flush_outside = |outside: &mut String, prose: &mut String, code: &mut Vec<String>| {
        let (p, mut c) = split_spans(outside);
        prose.push_str(&p);
        code.append(&mut c);
        outside.clear();
    };
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match (fence, marker) {
            (None, Some(m)) if run >= 3 => {
                flush_outside(&mut outside, &mut prose, &mut code);
                fence = Some((m, run));
                prose.push('\n');
            }
            (Some((m, n)), Some(c)) if c == m && run >= n && trimmed.trim_end().len() == run => {
                fence = None;
                code.push(std::mem::take(&mut block));
                prose.push('\n');
            }
            (Some(_), _) => {
                block.push_str(line);
                prose.push('\n');
            }
            (None, _) => outside.push_str(line),
        }
    }
    flush_outside(&mut outside, &mut prose, &mut code);
    if fence.is_some() {
        code.push(block);
    }
    (prose, code)
}

/// Inline code spans: a run of n backticks up to the next run of exactly n.
fn split_spans(text: &str) -> (String, Vec<String>) {
    let chars: Vec<char> = text.chars().collect();
    let run_at = |i: usize| chars[i..].iter().take_while(|c| **c == '`').count();
    let (mut prose, mut code) = (String::new(), Vec::new());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            prose.push(chars[i]);
            i += 1;
            continue;
        }
        let n = run_at(i);
        let start = i + n;
        let mut j = start;
        let close = loop {
            if j >= chars.len() {
                break None;
            }
            if chars[j] == '`' {
                let m = run_at(j);
                if m == n {
                    break Some(j);
                }
                j += m;
            } else {
                j += 1;
            }
        };
        match close {
            Some(end) => {
                let span: String = chars[start..end].iter().collect();
                prose.extend(span.chars().map(|c| if c == '\n' { '\n' } else { ' ' }));
                code.push(span);
                i = end + n;
            }
            None => {
                prose.extend(std::iter::repeat_n('`', n));
                i = start;
            }
        }
    }
    (prose, code)
}

/// The anchors GitHub gives a document's headings: the heading's text as rendered, lower-cased,
/// with everything but letters, digits, `-`, `_` and spaces dropped and spaces made `-`; a
/// repeated anchor gets `-1`, `-2`, ... Also explicit `<a id>` / `<a name>` anchors.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        for key in ["<a id=\"", "<a name=\""] {
            for part in line.split(key).skip(1) {
                if let Some(id) = part.split('"').next() {
                    out.insert(id.to_owned());
                }
            }
        }
        let hashes = t.chars().take_while(|c| *c == '#').count();
        if !(1..=6).contains(&hashes) || !t[hashes..].starts_with(' ') {
            continue;
        }
        let slug = slug(t[hashes..].trim().trim_end_matches('#').trim());
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

fn slug(heading: &str) -> String {
    // Links render as their text.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find('[') {
        let Some(mid) = rest[open..].find("](") else {
            break;
        };
        let Some(close) = rest[open + mid..].find(')') else {
            break;
        };
        text.push_str(&rest[..open]);
        text.push_str(&rest[open + 1..open + mid]);
        rest = &rest[open + mid + close + 1..];
    }
    text.push_str(rest);
    text.to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The targets of the prose's inline links `[text](target)`, `![alt](target)` and reference
/// definitions `[label]: target`.
fn link_targets(prose: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in prose.split("](").skip(1) {
        let inner = part.split(')').next().unwrap_or("");
        let target = inner.split_whitespace().next().unwrap_or("");
        out.push(target.trim_matches(['<', '>']).to_owned());
    }
    for line in prose.lines() {
        let t = line.trim_start();
        if t.starts_with('[')
            && let Some(close) = t.find("]:")
            && let Some(target) = t[close + 2..].split_whitespace().next()
        {
            out.push(target.trim_matches(['<', '>']).to_owned());
        }
    }
    out
}

/// Every relative link that does not resolve, as `file: target (why)`. A link to a doc in
/// `docs` is checked against that text (so the broken copies of the last test are seen);
/// anything else against the file system.
fn broken_links(root: &Path, docs: &BTreeMap<PathBuf, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (file, text) in docs {
        let (prose, _) = split_code(text);
        for target in link_targets(&prose) {
            if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target.as_str(), None),
            };
            let rel = if path.is_empty() {
                file.clone()
            } else {
                normalize(&file.parent().unwrap_or(Path::new("")).join(path))
            };
            let doc = docs.get(&rel);
            if doc.is_none() && !root.join(&rel).exists() {
                problems.push(format!("{}: {target} (no such file)", file.display()));
                continue;
            }
            let Some(anchor) = anchor else { continue };
            let is_md = rel.extension().is_some_and(|e| e == "md");
            if !is_md {
                continue;
            }
            let text = match doc {
                Some(t) => t.clone(),
                None => std::fs::read_to_string(root.join(&rel)).unwrap_or_default(),
            };
            if !anchors(&text).contains(anchor) {
                problems.push(format!(
                    "{}: {target} (no heading with anchor #{anchor} in {})",
                    file.display(),
                    rel.display()
                ));
            }
        }
    }
    problems
}

/// `a/b/../c` → `a/c`, without touching the file system (the file may be missing).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// `make <target>` as the docs' code names it (inline spans and fenced blocks): the targets
/// after `make`, past its options and `VAR=value` arguments.
fn make_targets_named(docs: &BTreeMap<PathBuf, String>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (file, text) in docs {
        let (_, code) = split_code(text);
        for snippet in code {
            let words: Vec<&str> = snippet
                .split(|c: char| c.is_whitespace() || matches!(c, ';' | '|' | '&' | '(' | ')'))
                .filter(|w| !w.is_empty())
                .collect();
            let mut i = 0;
            while i < words.len() {
                if words[i] != "make" {
                    i += 1;
                    continue;
                }
                i += 1;
                while i < words.len() {
                    let w = words[i];
                    if matches!(w, "-o" | "-C" | "-f" | "-I" | "-W") {
                        i += 2;
                    } else if w.starts_with('-') || w.contains('=') {
                        i += 1;
                    } else if w
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                        && w.starts_with(|c: char| c.is_ascii_lowercase())
                    {
                        // The first target only: prose in a shell comment may follow it.
                        out.insert((file.display().to_string(), w.to_owned()));
                        break;
                    } else {
                        break;
                    }
                }
            }
        }
    }
    out
}

/// The targets the tracked Makefiles define (rules `name [name...]: ...`, not variables).
fn makefile_targets(root: &Path) -> BTreeSet<String> {
    let out = std::process::Command::new("git")
        .args(["ls-files", "-z", "--", "Makefile", "*.mk", "*/Makefile"])
        .current_dir(root)
        .output()
        .expect("git ls-files");
    let mut targets = BTreeSet::new();
    for file in out.stdout.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let text = std::fs::read_to_string(root.join(String::from_utf8_lossy(file).as_ref()))
            .expect("read Makefile");
        for line in text.lines() {
            if line.starts_with([' ', '\t', '#']) {
                continue;
            }
            let Some((head, rest)) = line.split_once(':') else {
                continue;
            };
            if head.contains('=') || rest.starts_with('=') || head.contains('$') {
                continue;
            }
            targets.extend(head.split_whitespace().map(str::to_owned));
        }
    }
    assert!(
        targets.contains("run") && targets.contains("test"),
        "{targets:?}"
    );
    targets
}

/// The environment variables the functions' code reads, with the file that reads each: the
/// `"UPPER_CASE"` literals of every non-test source file under shared/src and functions/ that
/// calls `env::var`, and every `const ..._VAR: &str = "..."` there (names kept beside the code
/// that validates them, read through a lookup closure).
fn env_vars_read(root: &Path) -> BTreeMap<String, String> {
    let mut files = Vec::new();
    for dir in ["shared/src", "functions"] {
        collect_rs(&root.join(dir), &mut files);
    }
    let mut vars = BTreeMap::new();
    for path in files {
        if path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read source");
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let reads_env = code.contains("env::var");
        for (before, literal) in string_literals(&code) {
            if !is_env_name(&literal) {
                continue;
            }
            let var_const = before.trim_end().ends_with("&str =")
                && before
                    .rsplit("const ")
                    .next()
                    .and_then(|d| d.split(':').next())
                    .is_some_and(|name| name.trim().ends_with("_VAR"));
            if reads_env || var_const {
                vars.entry(literal).or_insert_with(|| rel.clone());
            }
        }
    }
    vars
}

/// The string literals of Rust code, each with the code before it on its line: a small lexer
/// that knows escapes, raw strings, and char literals (`b'"'` must not open a string).
fn string_literals(code: &str) -> Vec<(String, String)> {
    let c: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut line = String::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\n' => {
                line.clear();
                i += 1;
            }
            '\'' if c.get(i + 1) == Some(&'\\') => {
                // An escaped char literal: up to the closing quote.
                i += 2;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            '\'' if c.get(i + 2) == Some(&'\'') => i += 3,
            'r' if matches!(c.get(i + 1), Some('"' | '#'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_')) =>
            {
                let hashes = c[i + 1..].iter().take_while(|x| **x == '#').count();
                let open = i + 1 + hashes;
                if c.get(open) != Some(&'"') {
                    line.push(c[i]);
                    i += 1;
                    continue;
                }
                let mut j = open + 1;
                while j < c.len()
                    && !(c[j] == '"'
                        && c[j + 1..].iter().take_while(|x| **x == '#').count() >= hashes)
                {
                    j += 1;
                }
                out.push((line.clone(), c[open + 1..j.min(c.len())].iter().collect()));
                i = j + 1 + hashes;
            }
            '"' => {
                let mut lit = String::new();
                let mut j = i + 1;
                while j < c.len() && c[j] != '"' {
                    if c[j] == '\\' {
                        j += 1;
                    }
                    if let Some(ch) = c.get(j) {
                        lit.push(*ch);
                    }
                    j += 1;
                }
                out.push((line.clone(), lit));
                i = j + 1;
            }
            ch => {
                line.push(ch);
                i += 1;
            }
        }
    }
    out
}

fn is_env_name(s: &str) -> bool {
    s.contains('_')
        && s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            // A crate's own `tests/` holds tests, not what a deployed function reads.
            if p.file_name().is_some_and(|n| n != "tests" && n != "target") {
                collect_rs(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The variables with a row in functions/README.md's `## Configuration` table (the first
/// cell's code spans).
fn documented_vars(functions_readme: &str) -> BTreeSet<String> {
    let section = functions_readme
        .split("\n## Configuration\n")
        .nth(1)
        .expect("functions/README.md has a `## Configuration` section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(|cell| split_spans(cell).1)
        .filter(|v| is_env_name(v))
        .collect()
}

fn undocumented(vars: &BTreeMap<String, String>, functions_readme: &str) -> Vec<String> {
    let documented = documented_vars(functions_readme);
    vars.iter()
        .filter(|(v, _)| !documented.contains(*v))
        .map(|(v, file)| format!("{v} (read in {file})"))
        .collect()
}

fn missing_targets(named: &BTreeSet<(String, String)>, defined: &BTreeSet<String>) -> Vec<String> {
    named
        .iter()
        .filter(|(_, t)| !defined.contains(t))
        .map(|(file, t)| format!("{file}: make {t}"))
        .collect()
}

#[test]
fn every_relative_link_in_the_docs_resolves() {
    let root = repo_root();
    let docs = tracked_docs(&root);
    let broken = broken_links(&root, &docs);
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn every_make_target_the_docs_name_exists() {
    let root = repo_root();
    let named = make_targets_named(&tracked_docs(&root));
    assert!(
        named.iter().any(|(_, t)| t == "run") && named.iter().any(|(_, t)| t == "test"),
        "the docs name `make run` and `make test`: {named:?}"
    );
    let missing = missing_targets(&named, &makefile_targets(&root));
    assert!(
        missing.is_empty(),
        "targets the Makefiles do not define:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_variable_the_code_reads_is_documented() {
    let root = repo_root();
    let vars = env_vars_read(&root);
    // The derivation itself must see the config, or this test would pass on nothing.
    for known in [
        "TABLE_NAME",
        "PLAID_WEBHOOK_SOURCE_IPS",
        "IDV_LOCAL_IDENTITY",
        "RUST_LOG",
    ] {
        assert!(vars.contains_key(known), "{known} not found in {vars:?}");
    }
    let readme = std::fs::read_to_string(root.join("functions/README.md")).expect("readme");
    let missing = undocumented(&vars, &readme);
    assert!(
        missing.is_empty(),
        "read by the code, no row in functions/README.md's configuration table:\n{}",
        missing.join("\n")
    );
}

/// Each check fails on a copy of the real docs with one thing broken.
#[test]
fn the_checks_catch_a_broken_link_a_dropped_row_and_a_missing_target() {
    let root = repo_root();
    let docs = tracked_docs(&root);
    let readme = Path::new("README.md");

    let mut broken = docs.clone();
    let text = broken[readme].replace("(infra/README.md)", "(infra/READ_ME.md)");
    assert_ne!(text, broken[readme], "README.md links infra/README.md");
    broken.insert(readme.into(), text);
    assert!(
        broken_links(&root, &broken)
            .iter()
            .any(|p| p.contains("infra/READ_ME.md (no such file)")),
        "a link to a missing file"
    );

    let mut broken = docs.clone();
    let text = broken[readme].replace(
        "(functions/README.md#error-codes)",
        "(functions/README.md#error-code)",
    );
    assert_ne!(text, broken[readme], "README.md links #error-codes");
    broken.insert(readme.into(), text);
    assert!(
        broken_links(&root, &broken)
            .iter()
            .any(|p| p.contains("#error-code)") || p.contains("anchor #error-code ")),
        "a link to a missing anchor: {:?}",
        broken_links(&root, &broken)
    );

    let functions = Path::new("functions/README.md");
    let vars = env_vars_read(&root);
    let dropped: String = docs[functions]
        .lines()
        .filter(|l| !l.starts_with("| `TABLE_NAME` |"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(dropped, docs[functions], "TABLE_NAME has a row");
    let before = undocumented(&vars, &docs[functions]);
    let after = undocumented(&vars, &dropped);
    let new: Vec<&String> = after.iter().filter(|m| !before.contains(m)).collect();
    assert_eq!(new, ["TABLE_NAME (read in shared/src/config.rs)"]);

    let mut broken = docs.clone();
    let text = broken[readme].replace("make test ", "make tset ");
    assert_ne!(text, broken[readme], "README.md shows `make test`");
    broken.insert(readme.into(), text);
    let defined = makefile_targets(&root);
    let before = missing_targets(&make_targets_named(&docs), &defined);
    let after = missing_targets(&make_targets_named(&broken), &defined);
    let new: Vec<&String> = after.iter().filter(|m| !before.contains(m)).collect();
    assert_eq!(new, ["README.md: make tset"]);
}

#[test]
fn anchors_follow_githubs_rules() {
    let doc = "# Local stack: `make run`\n## Hosted link (`shareable_url`), offline\n\
               ```\n# not a heading\n```\n## When Plaid's API moves\n## Tests\n## Tests\n\
               ## [Links](x.md) read as text\n";
    let got = anchors(doc);
    for want in [
        "local-stack-make-run",
        "hosted-link-shareable_url-offline",
        "when-plaids-api-moves",
        "tests",
        "tests-1",
        "links-read-as-text",
    ] {
        assert!(got.contains(want), "{want} not in {got:?}");
    }
    assert!(!got.contains("not-a-heading"), "{got:?}");
}
