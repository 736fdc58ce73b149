//! The workspace's import graph, checked from the sources:
//!
//! - in every crate, no two modules import each other, directly or around a
//!   circle (a parent that declares and routes to its children keeps what
//!   they share in a child of its own, never in itself);
//! - in `crates/app`, every `crate::…` path of a context points to a context
//!   listed below it (ARCHITECTURE.md draws the same floors); `lib.rs` and
//!   `error.rs` (the shared `App` and `Internal`) may be used by everyone.
//!
//! A module's references are its `crate::…` and `super::…` paths (one level
//! of `{…}` expanded) and, in a module with children, the children it names
//! (`child::…`); comments and test modules do not count.

// A test crate: its helpers fail the way its tests do, by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The app crate's contexts, top floor first.
const FLOORS: [&str; 10] =
    ["jobs", "o2o", "commerce", "mp", "discovery", "payments", "outbox", "parties", "access", "runtime"];

type Module = Vec<String>;
type Graph = BTreeMap<Module, BTreeSet<Module>>;

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// `mp/component.rs` → `["mp", "component"]`; `mp/mod.rs` → `["mp"]`.
fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Module = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
        parts.pop();
    }
    parts
}

/// The code of a file that counts: before its test module, without
/// comments, with `prefix::{a, b::c}` written out as `prefix::a prefix::b::c`.
fn code(text: &str) -> String {
    let before_tests = text.split("#[cfg(test)]").next().unwrap_or_default();
    let lines: Vec<&str> = before_tests.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
    let mut code = lines.join("\n");
    for prefix in ["crate::", "super::"] {
        let mut out = String::new();
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            out.push_str(&rest[..at]);
            let after = &rest[at..];
            let head_len =
                after.char_indices().take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == ':').count();
            let head = &after[..head_len];
            if after[head_len..].starts_with('{') && head.ends_with("::") {
                let close = after[head_len..].find('}').map_or(after.len(), |c| head_len + c);
                for item in after[head_len + 1..close].split(',') {
                    let item = item.split(" as ").next().unwrap_or("").trim().trim_start_matches('{');
                    if !item.is_empty() {
                        out.push_str(&format!(" {head}{item} "));
                    }
                }
                rest = &after[(close + 1).min(after.len())..];
            } else {
                out.push_str(head);
                rest = &after[head_len.max(1).min(after.len())..];
            }
        }
        out.push_str(rest);
        code = out;
    }
    code
}

/// The module paths `text` names from module `me` of a crate whose modules
/// are `modules`.
fn references(me: &Module, modules: &BTreeSet<Module>, text: &str) -> BTreeSet<Module> {
    let code = code(text);
    let mut paths = Vec::new();
    let path_at = |s: &str| -> Module {
        s.split("::")
            .map(|seg| seg.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>())
            .take_while(|seg| !seg.is_empty())
            .collect()
    };
    let word_start =
        |at: usize| code[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
    for (prefix, base) in [("crate::", vec![]), ("super::", me[..me.len().saturating_sub(1)].to_vec())] {
        for (at, _) in code.match_indices(prefix) {
            if word_start(at) {
                let mut full = base.clone();
                full.extend(path_at(&code[at + prefix.len()..]));
                paths.push(full);
            }
        }
    }
    for child in modules.iter().filter(|m| m.len() == me.len() + 1 && m.starts_with(me)) {
        let name = format!("{}::", child[me.len()]);
        if code.match_indices(&name).any(|(at, _)| word_start(at)) {
            paths.push(child.clone());
        }
    }
    paths
        .into_iter()
        .filter_map(|p| (0..=p.len()).rev().map(|k| p[..k].to_vec()).find(|m| modules.contains(m)))
        // The crate root (`lib.rs`: the shared context) is everyone's.
        .filter(|m| !m.is_empty() && m != me)
        .collect()
}

fn graph_of(krate: &str) -> Graph {
    let root = crates_dir().join(krate).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&root, f)).collect();
    let mut graph = Graph::new();
    for file in &files {
        let me = module_of(&root, file);
        if me.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        graph.insert(me.clone(), references(&me, &modules, &text));
    }
    graph
}

/// A circle of `graph`, if it has one.
fn circle(graph: &Graph) -> Option<Vec<String>> {
    fn walk(m: &Module, graph: &Graph, path: &mut Vec<Module>, done: &mut BTreeSet<Module>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            return Some(path[at..].iter().chain(std::iter::once(m)).map(|p| p.join("::")).collect());
        }
        if !done.insert(m.clone()) {
            return None;
        }
        path.push(m.clone());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = walk(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|m| walk(m, graph, &mut Vec::new(), &mut done))
}

#[test]
fn no_crate_has_an_import_circle() {
    let mut circles = Vec::new();
    for krate in ["domain", "protocol", "store", "app", "http", "koudai", "testkit"] {
        if let Some(c) = circle(&graph_of(krate)) {
            circles.push(format!("crates/{krate}: {}", c.join(" -> ")));
        }
    }
    assert!(circles.is_empty(), "import circles: {circles:#?}");
}

#[test]
fn every_app_context_imports_only_contexts_below_it() {
    let mut upward = Vec::new();
    for (me, targets) in graph_of("app") {
        for target in targets {
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
}

#[test]
fn the_check_sees_what_it_must() {
    let modules: BTreeSet<Module> =
        [vec![], vec!["a".into()], vec!["a".into(), "b".into()], vec!["c".into()]].into_iter().collect();
    let me: Module = vec!["a".into(), "b".into()];
    let found = references(&me, &modules, "use super::{x, y};\nuse crate::{c::Thing, a};\n// crate::c::not_counted\n");
    assert_eq!(found, [vec!["a".to_owned()], vec!["c".to_owned()]].into_iter().collect::<BTreeSet<_>>());
    let parent: Module = vec!["a".into()];
    let found = references(&parent, &modules, "fn f() { b::go() }");
    assert_eq!(found, [me.clone()].into_iter().collect::<BTreeSet<_>>());
    let mut g = Graph::new();
    g.insert(parent.clone(), [me.clone()].into());
    g.insert(me.clone(), [parent.clone()].into());
    assert!(circle(&g).is_some());
}
