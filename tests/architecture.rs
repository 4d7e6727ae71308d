//! The layering of `docs/architecture.md`, checked on the source: which host crate may
//! depend on which (read from each crate's Cargo.toml), and no import cycle between the
//! modules inside a crate (read from the `crate::` and `super::` paths in its files).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The host crates, by directory, with the Provisor crates each may depend on.
const LAYERS: &[(&str, &[&str])] = &[
    ("store", &["provisor-module-api"]),
    ("runtime", &["provisor-module-api", "provisor-store"]),
    ("billing", &["provisor-module-api", "provisor-store"]),
    (
        "engine",
        &["provisor-module-api", "provisor-store", "provisor-runtime"],
    ),
    (
        "app",
        &[
            "provisor-module-api",
            "provisor-store",
            "provisor-runtime",
            "provisor-billing",
            "provisor-engine",
        ],
    ),
];

/// The `provisor-*` names in a Cargo.toml's `[dependencies]` table.
fn provisor_deps(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).expect("read Cargo.toml");
    let mut in_deps = false;
    let mut deps = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && line.starts_with("provisor-") {
            let name = line.split(['=', '.', ' ']).next().unwrap_or("");
            deps.insert(name.to_string());
        }
    }
    deps
}

#[test]
fn each_host_crate_depends_only_on_the_layers_below_it() {
    for (dir, allowed) in LAYERS {
        let deps = provisor_deps(&root().join("host").join(dir).join("Cargo.toml"));
        let extra: Vec<&String> = deps
            .iter()
            .filter(|d| !allowed.contains(&d.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "host/{dir} depends on {extra:?}, which its layer may not use (allowed: {allowed:?})"
        );
    }
    // The simulators of remote panels are the demo's, never a library crate's.
    for (dir, _) in LAYERS {
        let deps = provisor_deps(&root().join("host").join(dir).join("Cargo.toml"));
        assert!(
            !deps.contains("provisor-simulators"),
            "host/{dir} uses the simulators"
        );
    }
}

/// A file's module path inside its crate (`usage/collect.rs` is `["usage", "collect"]`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The module paths a file refers to through `crate::…` and `super::…`.
fn references(text: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", {
            let mut b = here.to_vec();
            b.pop();
            b
        }),
    ] {
        let mut rest = code.as_str();
        while let Some(i) = rest.find(prefix) {
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut heads = Vec::new();
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    heads.push(item.trim().to_string());
                }
            } else {
                let end = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                heads.push(rest[..end].to_string());
            }
            for h in heads {
                let mut path = base.clone();
                path.extend(
                    h.split("::")
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty() && s != "self"),
                );
                found.push(path);
            }
        }
    }
    found
}

/// Depth-first search for a cycle through `n`.
fn visit(
    n: &Vec<String>,
    edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    state: &mut BTreeMap<Vec<String>, u8>,
    stack: &mut Vec<Vec<String>>,
) -> Option<Vec<Vec<String>>> {
    match state.get(n) {
        Some(2) => return None,
        Some(1) => {
            let at = stack.iter().position(|m| m == n).unwrap_or(0);
            let mut cycle = stack[at..].to_vec();
            cycle.push(n.clone());
            return Some(cycle);
        }
        _ => {}
    }
    state.insert(n.clone(), 1);
    stack.push(n.clone());
    for m in edges.get(n).into_iter().flatten() {
        if let Some(c) = visit(m, edges, state, stack) {
            return Some(c);
        }
    }
    stack.pop();
    state.insert(n.clone(), 2);
    None
}

#[test]
fn no_module_cycles_inside_a_host_crate() {
    for dir in ["store", "runtime", "billing", "engine", "app", "cli"] {
        let src = root().join("host").join(dir).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
        // Edges between siblings: a reference from A to B counts between the children of
        // their deepest common ancestor that hold them (a child using its parent's
        // items, or a parent its children's, is not a cycle).
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for f in &files {
            let here = module_of(&src, f);
            let text = std::fs::read_to_string(f).expect("read source");
            for mut target in references(&text, &here) {
                while !target.is_empty() && !modules.contains(&target) {
                    target.pop();
                }
                let common = here.iter().zip(&target).take_while(|(a, b)| a == b).count();
                if common == here.len() || common == target.len() {
                    continue;
                }
                // Row types name each other both ways on purpose: a foreign key is a
                // `belongs_to` on one side and a `has_many` on the other (sea-orm's
                // relations), which is data, not layering.
                if dir == "store" && here.first().is_some_and(|m| m == "entities") && common >= 1 {
                    continue;
                }
                edges
                    .entry(here[..=common].to_vec())
                    .or_default()
                    .insert(target[..=common].to_vec());
            }
        }
        let mut state = BTreeMap::new();
        for n in edges.keys() {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(n, &edges, &mut state, &mut stack) {
                let shown: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
                panic!(
                    "host/{dir}: modules import each other: {}",
                    shown.join(" -> ")
                );
            }
        }
    }
}
