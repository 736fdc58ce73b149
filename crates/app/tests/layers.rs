//! The app crate's floors, checked from its source: every `crate::…` path
//! in a context points to a context listed below it (ARCHITECTURE.md draws
//! the same order), and no two files import each other, directly or around
//! a circle. `lib.rs` and `error.rs` (the shared `App` and `Internal`) may
//! be used by everyone.

// A test crate: its helpers fail the way its tests do, by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The contexts, top floor first.
const FLOORS: [&str; 10] =
    ["jobs", "o2o", "commerce", "mp", "discovery", "payments", "outbox", "parties", "access", "runtime"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `mp/component.rs` → `["mp", "component"]`; `mp/mod.rs` → `["mp"]`.
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The module paths a file names (`crate::a::b::Item` and `super::x`),
/// outside its test module.
fn references(module: &[String], text: &str) -> BTreeSet<Vec<String>> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for (prefix, base) in [("crate::", vec![]), ("super::", module[..module.len().saturating_sub(1)].to_vec())] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: Vec<String> = code[at + prefix.len()..]
                .split("::")
                .map(|seg| seg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
                .take_while(|seg| !seg.is_empty())
                .collect();
            let mut full = base.clone();
            full.extend(path);
            out.insert(full);
        }
    }
    out
}

#[test]
fn every_context_imports_only_contexts_below_it_and_no_file_circles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&root, f)).collect();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut upward = Vec::new();
    for file in &files {
        let me = module_of(&root, file);
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for path in references(&me, &text) {
            // The longest prefix that is a module of the crate.
            let target = (0..=path.len()).rev().map(|k| path[..k].to_vec()).find(|p| modules.contains(p));
            let Some(target) = target.filter(|t| !t.is_empty() && *t != me) else { continue };
            edges.entry(me.clone()).or_default().insert(target.clone());
            let (Some(from), Some(to)) = (me.first(), target.first()) else { continue };
            if from == to || to == "error" {
                continue;
            }
            let floor = |m: &str| FLOORS.iter().position(|f| *f == m);
            match (floor(from), floor(to)) {
                (Some(a), Some(b)) if a < b => {}
                _ => upward.push(format!("{} -> {}", me.join("::"), target.join("::"))),
            }
        }
    }
    assert!(upward.is_empty(), "imports that do not point down the floors {FLOORS:?}: {upward:#?}");
    // No circle: a depth-first walk never meets a module on its own path.
    fn walk(
        m: &Vec<String>,
        edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            let circle: Vec<String> = path[at..].iter().map(|p| p.join("::")).collect();
            panic!("an import circle: {}", circle.join(" -> "));
        }
        if !done.insert(m.clone()) {
            return;
        }
        path.push(m.clone());
        for next in edges.get(m).into_iter().flatten() {
            walk(next, edges, path, done);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    for m in edges.keys() {
        walk(m, &edges, &mut Vec::new(), &mut done);
    }
}
