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
    // The HTTP API: a front end beside the CLI, over app and everything below it.
    (
        "web",
        &[
            "provisor-module-api",
            "provisor-store",
            "provisor-runtime",
            "provisor-billing",
            "provisor-engine",
            "provisor-app",
        ],
    ),
    // The binary: the front ends' top; nothing depends on it.
    (
        "cli",
        &[
            "provisor-module-api",
            "provisor-store",
            "provisor-runtime",
            "provisor-billing",
            "provisor-engine",
            "provisor-app",
            "provisor-web",
            "provisor-simulators",
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
        if in_deps
            && (line.starts_with("provisor-")
                || line.starts_with("provisor ")
                || line.starts_with("provisor="))
        {
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
    // Nothing depends on the binary's crate.
    for (dir, _) in LAYERS {
        let deps = provisor_deps(&root().join("host").join(dir).join("Cargo.toml"));
        assert!(!deps.contains("provisor"), "host/{dir} depends on the CLI");
    }
    // The simulators of remote panels are the demo's, never a library crate's.
    for (dir, _) in LAYERS.iter().filter(|(d, _)| *d != "cli") {
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
    for dir in ["store", "runtime", "billing", "engine", "app", "web", "cli"] {
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

/// Where the (possibly nested) block comment starting at `i` ends, counting its lines.
fn after_block_comment(chars: &[char], mut i: usize, line: &mut usize) -> usize {
    let at = |i: usize, s: &str| chars[i..].iter().take(s.len()).copied().eq(s.chars());
    let mut nest = 0;
    while i < chars.len() {
        if at(i, "/*") {
            nest += 1;
            i += 2;
        } else if at(i, "*/") {
            nest -= 1;
            i += 2;
            if nest == 0 {
                break;
            }
        } else {
            if chars[i] == '\n' {
                *line += 1;
            }
            i += 1;
        }
    }
    i
}

/// The string literals of a Rust file outside comments and `#[cfg(test)]` items, each
/// with its line, and the names of the modules it declares as `#[cfg(test)] mod NAME;`
/// (whose files are test code too).
fn literals(text: &str) -> (Vec<(usize, String)>, Vec<String>) {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut test_mods = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // The nesting depth of `{}` at which a `#[cfg(test)]` item is skipped, if one is.
    let mut skipping: Option<usize> = None;
    let mut depth = 0usize;
    let mut pending_test = false;
    let at = |i: usize, s: &str| chars[i..].iter().take(s.len()).copied().eq(s.chars());
    while i < chars.len() {
        let c = chars[i];
        let ident_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '\n' {
            line += 1;
            i += 1;
        } else if at(i, "//") {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if at(i, "/*") {
            i = after_block_comment(&chars, i, &mut line);
        } else if c == '"'
            || (c == 'r' && !ident_before && matches!(chars.get(i + 1), Some('"' | '#')))
        {
            // A string: `"…"` with escapes, or raw `r#"…"#`.
            let start = line;
            let mut s = String::new();
            if c == 'r' {
                let mut hashes = 0;
                i += 1;
                while chars.get(i) == Some(&'#') {
                    hashes += 1;
                    i += 1;
                }
                if chars.get(i) != Some(&'"') {
                    continue; // `r#ident`, not a string
                }
                i += 1;
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                while i < chars.len() && !at(i, &close) {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                i += close.len();
            } else {
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        s.push(chars[i]);
                        i += 1;
                    }
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            if skipping.is_none() {
                out.push((start, s));
            }
        } else if c == '\'' {
            // A char literal (`'"'`, `'\''`), or a lifetime or label.
            if chars.get(i + 1) == Some(&'\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if at(i, "#[cfg(test)]") {
            pending_test = skipping.is_none();
            i += "#[cfg(test)]".len();
        } else if c == '{' {
            if pending_test {
                skipping = Some(depth);
                pending_test = false;
            }
            depth += 1;
            i += 1;
        } else if c == '}' {
            depth = depth.saturating_sub(1);
            if skipping == Some(depth) {
                skipping = None;
            }
            i += 1;
        } else if c == ';' {
            if pending_test {
                // `#[cfg(test)] mod NAME;`: that file is test code; any other item ends here.
                let item: String = chars[..i].iter().rev().take_while(|c| **c != ']').collect();
                let item: String = item.chars().rev().collect();
                if let Some(name) = item.trim().strip_prefix("mod ") {
                    test_mods.push(name.trim().to_string());
                }
                pending_test = false;
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    (out, test_mods)
}

/// Text a string literal in a library crate may not hold: a command-line flag (`--` and
/// a letter) or a `provisor` command. The library crates serve the CLI, the HTTP API and
/// web pages alike: a message names an input by its neutral field name and a next step
/// as a `Fix` (`provisor_store::error`), and each front end words them its own way.
fn names_the_cli(s: &str) -> bool {
    s.contains("`provisor ")
        || s.as_bytes()
            .windows(3)
            .any(|w| w[0] == b'-' && w[1] == b'-' && w[2].is_ascii_alphabetic())
}

/// Literals allowed to name the command line anyway, by file and a piece of the
/// literal, each with the reason.
const CLI_TEXT_ALLOWED: &[(&str, &str)] = &[
    // The one table of settings: each key's variable and the command-line flag that
    // overrides it, which `config show` and the loader's messages name as a value's
    // source (docs/configuration.md).
    ("host/app/src/config/keys.rs", "--database-url"),
    ("host/app/src/config/keys.rs", "--call-timeout"),
    ("host/app/src/config/keys.rs", "--max-stuck-calls"),
    ("host/app/src/config/keys.rs", "--retry-secs"),
    // The head of the provisor.toml that `provisor init` writes: a file the admin edits on
    // the server, where the command showing the settings in effect is the help it needs.
    ("host/app/src/config/keys.rs", "`provisor config show`"),
    // A shell command to run in the modules directory, not one of ours: it is the same
    // advice whichever front end shows the refusal.
    (
        "host/runtime/src/registry/loader.rs",
        "cp --remove-destination",
    ),
];

#[test]
fn library_text_names_no_cli_flag_or_command() {
    let mut found = Vec::new();
    for dir in ["store", "runtime", "billing", "engine", "app", "web"] {
        let src = root().join("host").join(dir).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut test_files = BTreeSet::new();
        let mut scanned = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("read source");
            let (lits, test_mods) = literals(&text);
            let here = if matches!(
                f.file_name().and_then(|n| n.to_str()),
                Some("mod.rs" | "lib.rs" | "main.rs")
            ) {
                f.parent().expect("a directory").to_path_buf()
            } else {
                f.with_extension("")
            };
            for m in test_mods {
                test_files.insert(here.join(format!("{m}.rs")));
                test_files.insert(here.join(&m).join("mod.rs"));
            }
            scanned.push((f.clone(), lits));
        }
        for (f, lits) in scanned {
            if test_files.contains(&f) {
                continue;
            }
            let shown = f
                .strip_prefix(root())
                .unwrap_or(&f)
                .to_string_lossy()
                .replace("../", "");
            for (line, s) in lits {
                let allowed = CLI_TEXT_ALLOWED
                    .iter()
                    .any(|(file, piece)| shown.ends_with(file) && s.contains(piece));
                if names_the_cli(&s) && !allowed {
                    found.push(format!("{shown}:{line}: {s:?}"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "library text names a CLI flag or command; name the field (`Message::about`) or \
         the next step (`Fix`) instead and let the CLI word it:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_literal_scanner_skips_comments_and_test_code() {
    let source = r##"
        // "--in-a-comment"
        /* "--in /* a nested */ block" */
        fn f() -> char { let _ = r#"--raw"#; let _: &'static str = "a \" --escaped"; '"' }
        #[cfg(test)]
        mod tests { fn g() { let _ = "--test-only"; } }
        #[cfg(test)]
        mod more;
        const X: &str = "`provisor after";
    "##;
    let (lits, test_mods) = literals(source);
    let texts: Vec<&str> = lits.iter().map(|(_, s)| s.as_str()).collect();
    assert_eq!(texts, ["--raw", "a \\\" --escaped", "`provisor after"]);
    assert_eq!(lits[2].0, 9, "the line of a literal");
    assert_eq!(test_mods, ["more"]);
    assert!(texts.iter().all(|s| names_the_cli(s)));
    assert!(!names_the_cli("-- 5") && !names_the_cli("a-b--"));
}
