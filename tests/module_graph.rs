//! The layering of `src/core` has no cycles: no file of the core uses, directly or through others, a file
//! that uses it back. Each file (`config/session.rs` is `config::session`) is a node; every path it names
//! (`crate::core::a::b::Item`, `super::x`, `self::y`, `use` groups) outside its `#[cfg(test)]` items is an edge
//! to the deepest module that path reaches. A module's own submodules and ancestors are not edges (Rust nests
//! them by design). A cycle fails this test with the files that form it, so that cycles cannot quietly return.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

fn modules(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if path.extension().is_none_or(|e| e != "rs") || parts.last().is_some_and(|p| p == "tests") {
                continue;
            }
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            out.insert(parts.join("::"), std::fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The source without comments and without `#[cfg(test)]` items (a `mod tests { … }`, a test-only fn).
fn without_tests_and_comments(src: &str) -> String {
    let no_comments: String = src.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = no_comments;
    while let Some(at) = out.find("#[cfg(test)]") {
        let rest = &out[at..];
        let (brace, semi) = (rest.find('{'), rest.find(';'));
        let end = match (brace, semi) {
            (_, Some(s)) if brace.is_none_or(|b| s < b) => at + s + 1,
            (Some(b), _) => {
                let mut depth = 0usize;
                let mut end = out.len();
                for (i, c) in out[at + b..].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = at + b + i + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                end
            }
            _ => out.len(),
        };
        out.replace_range(at..end, "");
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Every path the source names from `crate::core::`, `super::` or `self::`, as segments from the core's root
/// (`use` groups expanded).
fn paths(module: &[String], src: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes: Vec<char> = src.chars().collect();
    let text: String = bytes.iter().collect();
    for start in ["crate::core::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = text[from..].find(start).map(|i| i + from) {
            from = i + start.len();
            if i > 0 && text[..i].chars().next_back().is_some_and(|c| is_ident(c) || c == ':') {
                continue;
            }
            let base: Vec<String> = match start {
                "crate::core::" => vec![],
                "self::" => module.to_vec(),
                _ => {
                    let mut base = module.to_vec();
                    base.pop();
                    base
                }
            };
            expand(&text[from..], base, &mut found);
        }
    }
    found
}

/// Reads `a::b::{c, d::e}` (or `a::b::C`) at the start of `rest` and pushes each full path.
fn expand(rest: &str, mut prefix: Vec<String>, found: &mut Vec<Vec<String>>) {
    let mut rest = rest;
    loop {
        if rest.starts_with("super::") {
            prefix.pop();
            rest = &rest["super::".len()..];
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = 0;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        expand(group[item_start..i].trim(), prefix.clone(), found);
                        return;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(group[item_start..i].trim(), prefix.clone(), found);
                        item_start = i + 1;
                    }
                    _ => {}
                }
            }
            return;
        }
        let ident_len = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        if ident_len == 0 {
            found.push(prefix);
            return;
        }
        prefix.push(rest[..ident_len].to_string());
        rest = &rest[ident_len..];
        match rest.strip_prefix("::") {
            Some(r) => rest = r,
            None => {
                found.push(prefix);
                return;
            }
        }
    }
}

fn graph(root: &Path) -> Graph {
    let modules = modules(root);
    let mut graph = Graph::new();
    for (name, src) in &modules {
        let me: Vec<String> = if name.is_empty() { vec![] } else { name.split("::").map(str::to_string).collect() };
        let edges = graph.entry(name.clone()).or_default();
        for path in paths(&me, &without_tests_and_comments(src)) {
            let target = (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| modules.contains_key(m));
            let Some(target) = target else { continue };
            let related = target == *name
                || name.starts_with(&format!("{target}::"))
                || target.starts_with(&format!("{name}::"))
                || name.is_empty();
            if !related {
                edges.insert(target);
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on_stack: BTreeSet::new(),
        next: 0,
        found: vec![],
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.found
}

#[test]
fn the_core_has_no_module_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let graph = graph(&root);
    assert!(graph.len() > 30, "the core's files were found: {:?}", graph.keys().collect::<Vec<_>>());
    let found = cycles(&graph);
    let detail: Vec<String> = found
        .iter()
        .map(|c| {
            let edges: Vec<String> = c
                .iter()
                .flat_map(|m| graph[m].iter().filter(|t| c.contains(t)).map(move |t| format!("{m} -> {t}")))
                .collect();
            format!("cycle {c:?}: {}", edges.join(", "))
        })
        .collect();
    assert!(found.is_empty(), "module cycles in src/core:\n{}", detail.join("\n"));
}

#[test]
fn the_check_sees_a_cycle_when_there_is_one() {
    // The checker itself, on a core it must refuse: `a` uses `b::X`, `b` uses `super::a::{Y, z::W}`.
    let dir = std::env::temp_dir().join(format!("edge-auth-module-graph-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("b")).unwrap();
    std::fs::write(dir.join("a.rs"), "use crate::core::b::X;\n").unwrap();
    std::fs::write(
        dir.join("b/mod.rs"),
        "use super::a::{Y, z::W};\n#[cfg(test)]\nmod tests { use crate::core::c::Q; }\n",
    )
    .unwrap();
    std::fs::write(dir.join("c.rs"), "// use crate::core::a::X;\nuse crate::core::b::Z;\n").unwrap();
    let graph = graph(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(cycles(&graph), vec![vec!["a".to_string(), "b".to_string()]], "{graph:?}");
    assert!(!graph["b"].contains("c"), "test modules are not edges: {graph:?}");
    assert!(!graph["c"].contains("a"), "comments are not edges: {graph:?}");
}
