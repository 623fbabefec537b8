//! The dependency rule of `docs/architecture.md`, checked over the source: no import cycle
//! between the top-level modules under `src/`, and nothing but `server.rs`, `cli.rs` and
//! `main.rs` imports `server` (the composition root). A small reader of `crate::…` and
//! `super::…` paths, comments left out; it reports every cycle with the files that make it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules allowed to import `server`.
const MAY_IMPORT_SERVER: &[&str] = &["server", "cli"];

/// One source file: its module path (`["sync", "worker"]`) and its code without comments.
struct Source {
    file: String,
    module: Vec<String>,
    code: String,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Drops `//…` and `/* … */` comments, keeping string literals as they are.
fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 2;
                continue;
            }
            if c == b'"' {
                in_str = false;
            }
            out.push(c as char);
            i += 1;
        } else if c == b'"' {
            in_str = true;
            out.push('"');
            i += 1;
        } else if c == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal (`'"'`, `'\''`; not a lifetime): copied whole so that its quote
            // opens no string. The closing quote is searched after any escaped character.
            let from = if b[i + 1] == b'\\' { i + 3 } else { i + 2 };
            let end = text[from..].find('\'').map_or(b.len(), |n| from + n + 1);
            out.push_str(&text[i..end]);
            i = end;
        } else if text[i..].starts_with("//") {
            i = text[i..].find('\n').map_or(b.len(), |n| i + n);
        } else if text[i..].starts_with("/*") {
            i = text[i..].find("*/").map_or(b.len(), |n| i + n + 2);
        } else {
            let ch = text[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

fn sources(src: &Path) -> Vec<Source> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(src).expect("under src").to_path_buf();
            let mut module: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if module.last().is_some_and(|m| m == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                module.clear();
            }
            let text = std::fs::read_to_string(&path).expect("readable source");
            Source {
                file: format!("src/{}", rel.display()),
                module,
                code: strip_comments(&text),
            }
        })
        .collect()
}

fn ident_at(code: &str, at: usize) -> Option<String> {
    let name: String = code[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// The first segments after `crate::` — including each item of `crate::{a, b::c}`.
fn after_crate(code: &str, at: usize, out: &mut BTreeSet<String>) {
    if code[at..].starts_with('{') {
        let mut depth = 0;
        let mut item_start = true;
        for (n, c) in code[at..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    item_start = depth == 1;
                }
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                ',' if depth == 1 => item_start = true,
                c if c.is_whitespace() => {}
                _ if item_start && depth == 1 => {
                    if let Some(name) = ident_at(code, at + n) {
                        out.insert(name);
                    }
                    item_start = false;
                }
                _ => {}
            }
        }
    } else if let Some(name) = ident_at(code, at) {
        out.insert(name);
    }
}

/// The top-level modules a file names (besides its own).
fn references(s: &Source) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let code = &s.code;
    let boundary = |i: usize| {
        i == 0 || {
            let p = code.as_bytes()[i - 1];
            !(p.is_ascii_alphanumeric() || p == b'_' || p == b':')
        }
    };
    for (i, _) in code.match_indices("crate::") {
        if boundary(i) {
            after_crate(code, i + "crate::".len(), &mut out);
        }
    }
    // `super::` chains that climb to the crate root.
    for (i, _) in code.match_indices("super::") {
        if !boundary(i) {
            continue;
        }
        let mut ups = 0;
        let mut at = i;
        while code[at..].starts_with("super::") {
            ups += 1;
            at += "super::".len();
        }
        if ups == s.module.len() {
            after_crate(code, at, &mut out);
        }
    }
    // The crate root's own paths are relative (`pub use server::…`).
    if s.module.is_empty() {
        for line in code.lines() {
            let t = line.trim_start();
            let rest = t
                .strip_prefix("pub use ")
                .or_else(|| t.strip_prefix("use "));
            if let Some(rest) = rest {
                if let Some(name) = ident_at(rest, 0) {
                    out.insert(name);
                }
            }
        }
    }
    out
}

/// Edges between top-level modules, with the files that make each.
type Graph = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn graph(src: &Path) -> (BTreeSet<String>, Graph, Vec<String>) {
    let all = sources(src);
    let modules: BTreeSet<String> = all
        .iter()
        .filter_map(|s| s.module.first().cloned())
        .collect();
    let mut g: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    let mut server_importers = Vec::new();
    for s in &all {
        let from = s.module.first().cloned();
        for to in references(s) {
            if !modules.contains(&to) || from.as_ref() == Some(&to) {
                continue;
            }
            if to == "server"
                && s.file != "src/main.rs"
                && !from
                    .as_deref()
                    .is_some_and(|f| MAY_IMPORT_SERVER.contains(&f))
            {
                server_importers.push(s.file.clone());
            }
            if let Some(from) = &from {
                g.entry(from.clone())
                    .or_default()
                    .entry(to)
                    .or_default()
                    .insert(s.file.clone());
            }
        }
    }
    (modules, g, server_importers)
}

/// Strongly connected components with more than one module (each holds at least one cycle),
/// by Tarjan's algorithm.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.g[v].keys() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut scc = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    scc.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    self.out.push(scc);
                }
            }
        }
    }
    let mut t = Tarjan {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

/// One shortest cycle through `start` inside `scc` (breadth-first).
fn a_cycle(g: &Graph, scc: &[String], start: &str) -> Vec<String> {
    let inside: BTreeSet<&str> = scc.iter().map(String::as_str).collect();
    let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for w in g[v].keys().map(String::as_str) {
            if !inside.contains(w) {
                continue;
            }
            if w == start {
                let mut middle = Vec::new();
                let mut at = v;
                while at != start {
                    middle.push(at.to_string());
                    at = prev[at];
                }
                middle.reverse();
                let mut path = vec![start.to_string()];
                path.extend(middle);
                path.push(start.to_string());
                return path;
            }
            if !prev.contains_key(w) {
                prev.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    Vec::new()
}

fn picture(g: &Graph) -> String {
    g.iter()
        .map(|(from, to)| {
            let to: Vec<&str> = to.keys().map(String::as_str).collect();
            format!("  {from} -> {}", to.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn modules_depend_one_way_and_only_the_composition_root_imports_server() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let (modules, g, server_importers) = graph(&src);
    assert!(
        ["server", "scim", "directory", "sync"]
            .iter()
            .all(|m| modules.contains(*m)),
        "the reader found no modules under {}: {modules:?}",
        src.display()
    );
    let mut problems = Vec::new();
    for scc in cycles(&g) {
        let mut report = format!("import cycle between {}:\n", scc.join(", "));
        // A shortest cycle through each module, each cycle once.
        let mut seen = BTreeSet::new();
        for m in &scc {
            let cycle = a_cycle(&g, &scc, m);
            let mut key = cycle[1..].to_vec();
            key.sort();
            if seen.insert(key) {
                report.push_str(&format!("  {}\n", cycle.join(" -> ")));
            }
        }
        report.push_str("  made by these imports:\n");
        for from in &scc {
            for (to, files) in &g[from] {
                if scc.contains(to) {
                    let files: Vec<&str> = files.iter().map(String::as_str).collect();
                    report.push_str(&format!("    {from} -> {to}: {}\n", files.join(", ")));
                }
            }
        }
        problems.push(report);
    }
    if !server_importers.is_empty() {
        problems.push(format!(
            "only server.rs, cli.rs and main.rs may import `server` (the composition root); also: {}\n",
            server_importers.join(", ")
        ));
    }
    assert!(
        problems.is_empty(),
        "{}\nthe module picture:\n{}",
        problems.join("\n"),
        picture(&g)
    );
}

#[test]
fn the_reader_sees_grouped_nested_and_climbing_paths_and_skips_comments() {
    let source = |module: &[&str], text: &str| Source {
        file: "src/x.rs".into(),
        module: module.iter().map(|m| m.to_string()).collect(),
        code: strip_comments(text),
    };
    let refs = references(&source(
        &["sync", "worker"],
        "use crate::{audit::{self, Outcome}, store};\n\
         // crate::server is only named in a comment\n\
         /* crate::admin neither */\n\
         let s = \"// not a comment\"; let q = '\"'; crate::zenqms::call();\n\
         use super::super::mappings::RolePlan;\n\
         use super::queue;",
    ));
    assert_eq!(
        refs.into_iter().collect::<Vec<_>>(),
        ["audit", "mappings", "store", "zenqms"]
    );
    let root = references(&source(&[], "pub mod server;\npub use server::Services;"));
    assert!(root.contains("server"));

    let mut g: Graph = BTreeMap::new();
    for (a, b) in [
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("c", "d"),
        ("d", "e"),
        ("e", "d"),
    ] {
        g.entry(a.into())
            .or_default()
            .entry(b.into())
            .or_default()
            .insert(format!("src/{a}.rs"));
        g.entry(b.into()).or_default();
    }
    let found = cycles(&g);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.contains(&vec!["a".into(), "b".into(), "c".into()]));
    assert!(found.contains(&vec!["d".into(), "e".into()]));
    assert_eq!(
        a_cycle(&g, &found[0], &found[0][0]).len(),
        found[0].len() + 1
    );
}
