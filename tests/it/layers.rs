//! The layered layout holds: every `crate::` path in `src/` points to the
//! module's own layer or one below, the modules import each other without a
//! cycle, and every module of `src/` has a layer. The layer table lives in
//! one place, `docs/ARCHITECTURE.md` (the fenced block after the `layers`
//! marker); this test reads it from there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Module name -> layer number, from ARCHITECTURE.md.
fn layer_table() -> BTreeMap<String, u32> {
    let doc = std::fs::read_to_string(repo().join("docs/ARCHITECTURE.md"))
        .expect("docs/ARCHITECTURE.md is readable");
    let after = doc
        .split_once("<!-- layers:")
        .expect("ARCHITECTURE.md has the layers marker")
        .1;
    let block = after
        .split_once("```text\n")
        .and_then(|(_, b)| b.split_once("```"))
        .expect("a ```text block follows the layers marker")
        .0;
    let mut table = BTreeMap::new();
    for line in block.lines() {
        let mut words = line.split_whitespace();
        let Some(n) = words.next() else { continue };
        let n: u32 = n.parse().expect("each layer line starts with its number");
        for m in words {
            assert!(
                table.insert(m.to_string(), n).is_none(),
                "module `{m}` is in two layers"
            );
        }
    }
    table
}

/// The top-level module a file of `src/` belongs to (`cli` for the binary).
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .expect("a path under src/");
    match first.strip_suffix(".rs").unwrap_or(first) {
        "main" => "cli".to_string(),
        m => m.to_string(),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The modules a line names through `crate::`: `crate::a::b`, and each
/// item of a group `crate::{a::b, c::{d, e}}`.
fn crate_refs(line: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut refs = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        let rest = &line[i + "crate::".len()..];
        let Some(group) = rest.strip_prefix('{') else {
            refs.push(ident(rest));
            continue;
        };
        // The group's items start after `{` and after each comma at the
        // group's own depth.
        let mut depth = 0;
        let mut item_start = Some(0);
        for (j, c) in group.char_indices() {
            if let Some(k) = item_start.take() {
                refs.push(ident(&group[k..]));
            }
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => item_start = Some(j + 1),
                _ => {}
            }
        }
    }
    refs.retain(|r| !r.is_empty());
    refs
}

#[test]
fn no_module_imports_a_higher_layer_and_there_is_no_cycle() {
    let table = layer_table();
    let src = repo().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(files.len() > 50, "only {} files under src/", files.len());
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    let mut unplaced = BTreeSet::new();
    for path in &files {
        let rel = path.strip_prefix(&src).expect("under src/");
        if rel == Path::new("lib.rs") {
            continue;
        }
        let from = module_of(rel);
        let Some(&from_layer) = table.get(&from) else {
            unplaced.insert(from);
            continue;
        };
        let text = std::fs::read_to_string(path).expect("source is readable");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for to in crate_refs(line) {
                if to == from {
                    continue;
                }
                let Some(&to_layer) = table.get(&to) else {
                    unplaced.insert(to);
                    continue;
                };
                edges.entry(from.clone()).or_default().insert(to.clone());
                if to_layer > from_layer {
                    upward.push(format!(
                        "{}:{}: {from} (layer {from_layer}) uses {to} (layer {to_layer})",
                        rel.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        unplaced.is_empty(),
        "modules with no layer in docs/ARCHITECTURE.md: {unplaced:?}"
    );
    assert!(upward.is_empty(), "upward imports:\n{}", upward.join("\n"));
    // Same-layer imports are allowed, cycles are not.
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        let cycle = visit(m, &edges, &mut Vec::new(), &mut done);
        assert!(
            cycle.is_none(),
            "import cycle: {}",
            cycle.unwrap_or_default().join(" -> ")
        );
    }
}

#[test]
fn the_reference_reader_sees_single_and_grouped_paths() {
    assert_eq!(crate_refs("use crate::engine::Engine;"), ["engine"]);
    assert_eq!(
        crate_refs("use crate::{record::Record, model::{Nanos, Venue}};"),
        ["record", "model"]
    );
    assert_eq!(
        crate_refs("let x = crate::net::http::get(); crate::sink::Tee(a, b)"),
        ["net", "sink"]
    );
}
