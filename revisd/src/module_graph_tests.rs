//! The module graph rule: a top-level module of revisd (`engine`, `config`, `http`, ...) may
//! use another, but no chain of uses leads back to where it started. A loop means a shared
//! piece lives inside one of its users; the fix is to move it to the module that owns it (or
//! to a module of its own), not to reach around it.
//!
//! The graph is read from the source text: every `crate::x` path (in `use` trees, groups such
//! as `crate::{a, b}`, expressions and types, macro arguments included) and every `super::`
//! chain that climbs to the crate root, skipping comments and string and character literals.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Who uses whom: `from → to → where` (the first few `file:line` that say so).
type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    PathSep,
    Open,
    Close,
    Other,
}

/// The tokens that matter for paths, each with its line. Comments, strings and characters are
/// dropped so that a doc comment that mentions `crate::engine` is not a use of it.
fn tokens(text: &str) -> Vec<(Token, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let (mut out, mut i, mut line) = (Vec::new(), 0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'r' || c == 'b') && prefixed_string_at(&chars, i)) {
            i = skip_string(&chars, i, &mut line);
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{7f}') or a lifetime ('a), which is kept out.
            if at(i + 1) == '\\' {
                // Quote, backslash and the escaped character, then up to the closing quote.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), line));
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Token::PathSep, line));
            i += 2;
        } else {
            let token = match c {
                '{' => Token::Open,
                '}' => Token::Close,
                c if c.is_whitespace() => {
                    i += 1;
                    continue;
                }
                _ => Token::Other,
            };
            out.push((token, line));
            i += 1;
        }
    }
    out
}

/// Whether a string literal with a prefix (`b"`, `r"`, `r#"`, `br"`) starts at `i`.
fn prefixed_string_at(chars: &[char], i: usize) -> bool {
    // `var"` cannot occur, but the end of an identifier must not be taken for a prefix.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return false;
    }
    let mut j = i + usize::from(chars.get(i) == Some(&'b'));
    j += usize::from(chars.get(j) == Some(&'r'));
    j += chars[j.min(chars.len())..].iter().take_while(|c| **c == '#').count();
    j > i && chars.get(j) == Some(&'"')
}

/// Skips the string literal starting at `i` (plain, byte or raw) and returns the index after it.
fn skip_string(chars: &[char], i: usize, line: &mut usize) -> usize {
    let mut j = i + usize::from(chars[i] == 'b');
    let raw = chars.get(j) == Some(&'r');
    j += usize::from(raw);
    let hashes = chars[j..].iter().take_while(|c| **c == '#').count();
    j += hashes + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' if !raw => j += 2,
            '"' if chars[j + 1..].iter().take(hashes).all(|c| *c == '#') && chars.len() > j + hashes => {
                return j + 1 + hashes;
            }
            '\n' => {
                *line += 1;
                j += 1;
            }
            _ => j += 1,
        }
    }
    j
}

/// The module path of a file under `src`: `lib.rs` is the root, `a.rs` and `a/mod.rs` are `a`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if stem != "mod" && stem != "lib" {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// The first segment of each path in a `{ ... }` group starting at `tokens[open]`.
fn group_heads(tokens: &[(Token, usize)], open: usize) -> Vec<String> {
    let (mut heads, mut depth, mut expect_head) = (Vec::new(), 0, true);
    for (token, _) in &tokens[open..] {
        match token {
            Token::Open => {
                depth += 1;
                expect_head = depth == 1;
            }
            Token::Close => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Ident(name) if depth == 1 && expect_head => {
                heads.push(name.clone());
                expect_head = false;
            }
            Token::Other if depth == 1 => expect_head = true, // the `,` between paths
            _ => {}
        }
    }
    heads
}

/// One use found in a file: the top-level module of the code that uses (none at the crate
/// root itself), the first segment of what it names, and the line.
type Use = (Option<String>, String, usize);

/// What the file of `module` uses. Inline `mod x { ... }` blocks are followed, so that
/// `super::` in a test module means its file, and `mod x` in lib.rs is a module of its own.
fn uses(module: &[String], text: &str) -> Vec<Use> {
    let tokens = tokens(text);
    let mut found = Vec::new();
    // Inline modules as (name, brace depth at which they close).
    let (mut inline, mut depth): (Vec<(String, usize)>, usize) = (Vec::new(), 0);
    let mut i = 0;
    while i < tokens.len() {
        match &tokens[i].0 {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, at)| *at == depth) {
                    inline.pop();
                }
            }
            Token::Ident(word) if word == "mod" => {
                if let (Some((Token::Ident(name), _)), Some((Token::Open, _))) = (tokens.get(i + 1), tokens.get(i + 2))
                {
                    inline.push((name.clone(), depth));
                }
            }
            Token::Ident(word)
                if (word == "crate" || word == "super") && tokens.get(i + 1).map(|t| &t.0) == Some(&Token::PathSep) =>
            {
                let mut here: Vec<String> =
                    module.iter().cloned().chain(inline.iter().map(|(n, _)| n.clone())).collect();
                let from = here.first().cloned();
                let mut j = i;
                if word == "crate" {
                    here.clear();
                    j += 2;
                } else {
                    while tokens.get(j).map(|t| &t.0) == Some(&Token::Ident("super".into()))
                        && tokens.get(j + 1).map(|t| &t.0) == Some(&Token::PathSep)
                    {
                        here.pop();
                        j += 2;
                    }
                }
                let line = tokens[i].1;
                match (here.first(), tokens.get(j)) {
                    (Some(top), _) => found.push((from, top.clone(), line)),
                    (None, Some((Token::Ident(name), _))) => found.push((from, name.clone(), line)),
                    (None, Some((Token::Open, _))) => {
                        found.extend(group_heads(&tokens, j).into_iter().map(|h| (from.clone(), h, line)))
                    }
                    _ => {}
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())).path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The graph between top-level modules of the library (`main.rs` is the binary, not a module).
fn graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let read = |path: &Path| std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // What lib.rs declares, so `crate::SomeType` or `super::Foo` is never taken for a module.
    let lib = read(&src.join("lib.rs"));
    let lib_tokens = tokens(&lib);
    let tops: BTreeSet<String> = lib_tokens
        .windows(2)
        .filter_map(|w| match (&w[0].0, &w[1].0) {
            (Token::Ident(m), Token::Ident(name)) if m == "mod" => Some(name.clone()),
            _ => None,
        })
        .collect();
    let mut graph = Graph::new();
    for path in files {
        let rel = path.strip_prefix(&src).unwrap_or(&path);
        if rel == Path::new("main.rs") {
            continue;
        }
        for (from, to, line) in uses(&module_of(rel), &read(&path)) {
            let Some(from) = from else { continue };
            if from != to && tops.contains(&to) {
                let places = graph.entry(from).or_default().entry(to).or_default();
                if places.len() < 3 {
                    places.push(format!("{}:{line}", rel.display()));
                }
            }
        }
    }
    graph
}

/// A loop of the graph, as the modules along it (first repeated at the end), if there is one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(node: &str, graph: &Graph, path: &mut Vec<String>, done: &mut BTreeSet<String>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(|edges| edges.keys()) {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn top_level_modules_use_each_other_without_loops() {
    let graph = graph();
    // The reader must see the graph for the answer to mean anything.
    assert!(graph.get("engine").is_some_and(|e| e.contains_key("store")), "engine → store not found: {graph:#?}");
    if let Some(cycle) = find_cycle(&graph) {
        let evidence: Vec<String> = cycle
            .windows(2)
            .map(|pair| format!("  {} → {}: {}", pair[0], pair[1], graph[&pair[0]][&pair[1]].join(", ")))
            .collect();
        panic!(
            "top-level modules form a loop: {}\n{}\nMove the shared piece to the module that owns it, or to a module \
             of its own.",
            cycle.join(" → "),
            evidence.join("\n")
        );
    }
}

#[test]
fn the_reader_sees_uses_the_way_rustc_does() {
    let text = r##"
//! Mentions crate::advisor in a comment.
use crate::{changes, workspace::{self, view}};
use super::super::exec::Executor;
/* crate::store, /* nested */ still a comment */
fn f<'a>(x: &'a str) -> char {
    let _ = "crate::metrics \" crate::api"; let _ = r#"crate::daemon "quoted""#; let _ = ['{', '"', '\''];
    crate::config::load(x);
    '}'
}
mod tests {
    use super::*;
    use super::super::api;
}
"##;
    let seen = |module: &[&str], text: &str| -> Vec<(Option<String>, String)> {
        let module: Vec<String> = module.iter().map(|m| m.to_string()).collect();
        uses(&module, text).into_iter().map(|(from, to, _)| (from, to)).collect()
    };
    let engine = |to: &str| (Some("engine".to_string()), to.to_string());
    assert_eq!(
        seen(&["engine", "handoff"], text),
        [engine("changes"), engine("workspace"), engine("exec"), engine("config"), engine("engine"), engine("engine")]
    );
    assert_eq!(seen(&["engine"], "mod tests { use super::super::api; }"), [engine("api")]);
    // In lib.rs, an inline module is a top-level module of its own.
    assert_eq!(
        seen(&[], "pub mod http;\nmod shared { use crate::http; }\nuse crate::store;"),
        [(Some("shared".to_string()), "http".to_string()), (None, "store".to_string())]
    );
}

#[test]
fn a_loop_is_found_and_named() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("a", "d")] {
        graph.entry(from.to_string()).or_default().insert(to.to_string(), vec![]);
    }
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    graph.get_mut("c").map(|edges| edges.remove("a"));
    assert_eq!(find_cycle(&graph), None);
}
