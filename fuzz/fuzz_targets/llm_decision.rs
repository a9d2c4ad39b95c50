//! `llm_decision`: what the LLM advisor does with `submit_decision` arguments —
//! `agent::accept_decision` (parse, then for a change the engine's own check,
//! `engine::llm_advice::check_decision`: the worktree plus the `context.frozen` rule) —
//! never panics, never writes to the worktree, and every accepted decision holds:
//! - a trimmed, non-empty rationale; a hypothesis that is absent or not blank; no params;
//! - a change decision has at least one change, and each change is usable: a config edit names
//!   an existing, non-denied, non-frozen file inside the worktree (reached through no symlink
//!   that leads out) and a non-empty key; a command is not blank; a code change has a request
//!   and names only confined, non-denied files.
//!
//! Input: JSON text (the arguments as a model would send them). Bytes that are not JSON drive a
//! structure-aware generator (`arbitrary`) over the fixture's file names and keys instead.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use revisd::advisor::llm::agent::accept_decision;
use revisd::path_policy::{Deny, resolve, resolve_existing};
use revisd::advisor::{Action, Change, Decision};
use serde_json::{Value, json};

const COMMAND: &str = "python train.py --epochs 3";
const DENY: &[&str] = &["secrets/", "*.key"];
const FROZEN: &[&str] = &["eval.yaml", "configs/frozen/**"];
const FILES: &[(&str, &str)] = &[
    ("configs/base.yaml", "optimizer:\n  lr: 0.01\n  kind: adamw\nepochs: 10\n"),
    ("configs/frozen/metric.yaml", "name: acc\n"),
    ("eval.yaml", "split: test\n"),
    ("c.json", "{\"a\": {\"b\": 1}, \"list\": [1, 2]}"),
    ("pyproject.toml", "[tool.train]\nlr = 0.01 # tuned\n"),
    ("train.py", "print(1)\n"),
    ("secrets/key.yaml", "token: abc\n"),
    ("api.key", "k\n"),
    (".env", "TOKEN=x\n"),
];

struct Fixture {
    root: PathBuf,
    deny: Deny,
    frozen: Deny,
    snapshot: BTreeMap<PathBuf, Vec<u8>>,
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fn build() -> Result<Fixture, String> {
    let base = tempfile::Builder::new().prefix("revis-fuzz-decision-").tempdir().map_err(|e| e.to_string())?.keep();
    let root = base.join("wt");
    let outside = base.join("outside");
    let io = |e: std::io::Error| e.to_string();
    for (file, text) in FILES {
        let path = root.join(file);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(path, text).map_err(io)?;
    }
    std::fs::create_dir_all(&outside).map_err(io)?;
    std::fs::write(outside.join("o.yaml"), "a: 1\n").map_err(io)?;
    std::os::unix::fs::symlink("../outside/o.yaml", root.join("out.yaml")).map_err(io)?;
    std::os::unix::fs::symlink("../outside", root.join("out")).map_err(io)?;
    std::os::unix::fs::symlink("configs/base.yaml", root.join("in.yaml")).map_err(io)?;
    std::os::unix::fs::symlink("secrets/key.yaml", root.join("peek.yaml")).map_err(io)?;
    std::os::unix::fs::symlink("eval.yaml", root.join("split.yaml")).map_err(io)?;
    let root = root.canonicalize().map_err(io)?;
    let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let deny = Deny::new(&strings(DENY)).map_err(|e| e.to_string())?;
    let frozen = Deny::new(&strings(FROZEN)).map_err(|e| e.to_string())?;
    let snapshot = snapshot(&base);
    Ok(Fixture { root, deny, frozen, snapshot })
}

/// Every regular file under `dir` (not following symlinks) with its content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => {
                    let content = std::fs::read(&path).unwrap_or_default();
                    out.insert(path, content);
                }
                _ => {}
            }
        }
    }
    out
}

fn fixture() -> &'static Fixture {
    FIXTURE.get_or_init(|| match build() {
        Ok(fixture) => fixture,
        Err(e) => panic!("cannot build the fuzz worktree: {e}"),
    })
}

/// The engine's own check (`engine::llm_advice::check_decision`).
fn engine_validate(fix: &Fixture, d: &Decision) -> Result<(), Vec<String>> {
    revisd::engine::llm_advice::check_decision(&fix.root, COMMAND, &fix.deny, &fix.frozen, d)
}

const NAMES: &[&str] = &[
    "configs/base.yaml",
    "./configs/base.yaml",
    "configs//base.yaml",
    "configs/frozen/metric.yaml",
    "eval.yaml",
    "./eval.yaml",
    "c.json",
    "pyproject.toml",
    "train.py",
    "secrets/key.yaml",
    "api.key",
    ".env",
    "out.yaml",
    "out/o.yaml",
    "in.yaml",
    "peek.yaml",
    "split.yaml",
    "../x.yaml",
    "/etc/passwd",
    "configs",
    "configs/missing.yaml",
    "new.py",
    "",
];
const KEYS: &[&str] =
    &["optimizer.lr", "optimizer.kind", "epochs", "split", "a.b", "list.0", "tool.train.lr", "", " ", "optimizer"];
const WORDS: &[&str] = &["", " ", "lower the learning rate", "\t\n", "--epochs", "epochs", "python train.py --lr 0.1"];

#[derive(Arbitrary, Debug)]
enum Text {
    Known(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(Text),
}

#[derive(Arbitrary, Debug)]
enum Shaped {
    ConfigEdit { file: Text, key: Text, value: Val },
    Arg { name: Text, value: Option<Val> },
    Command { text: Text },
    Code { request: Text, files: Vec<Text> },
}

#[derive(Arbitrary, Debug)]
struct ShapedDecision {
    action: u8,
    rationale: Text,
    hypothesis: Option<Text>,
    changes: Vec<Shaped>,
}

fn text(t: &Text, pool: &[&str]) -> String {
    match t {
        Text::Known(i) => pool[usize::from(*i) % pool.len()].to_string(),
        Text::Raw(s) => s.clone(),
    }
}

fn val(v: &Val) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => json!(b),
        Val::Int(i) => json!(i),
        Val::Float(f) => json!(f),
        Val::Text(t) => json!(text(t, WORDS)),
    }
}

fn shaped_json(d: &ShapedDecision) -> Value {
    let action = ["change", "stop", "escalate", "jump"][usize::from(d.action) % 4];
    let changes: Vec<Value> = d
        .changes
        .iter()
        .map(|c| match c {
            Shaped::ConfigEdit { file, key, value } => {
                json!({"kind": "config_edit", "file": text(file, NAMES), "key": text(key, KEYS), "value": val(value)})
            }
            Shaped::Arg { name, value } => {
                json!({"kind": "arg", "name": text(name, WORDS), "value": value.as_ref().map(val)})
            }
            Shaped::Command { text: t } => json!({"kind": "command", "text": text(t, WORDS)}),
            Shaped::Code { request, files } => json!({
                "kind": "code",
                "request": text(request, WORDS),
                "files": files.iter().map(|f| text(f, NAMES)).collect::<Vec<_>>(),
            }),
        })
        .collect();
    let mut args = json!({"action": action, "rationale": text(&d.rationale, WORDS), "changes": changes});
    if let (Some(h), Some(map)) = (&d.hypothesis, args.as_object_mut()) {
        map.insert("hypothesis".into(), json!(text(h, WORDS)));
    }
    args
}

/// No existing prefix of `rel`, opened from the root, leads outside it.
fn walk_stays_inside(root: &Path, rel: &str) -> bool {
    let mut current = root.to_path_buf();
    for component in Path::new(rel).components() {
        let std::path::Component::Normal(part) = component else { continue };
        current.push(part);
        if std::fs::symlink_metadata(&current).is_err() {
            return true;
        }
        match current.canonicalize() {
            Ok(real) if real.starts_with(root) => {}
            _ => return false,
        }
    }
    true
}

fn check_accepted(fix: &Fixture, d: &Decision, args: &Value) {
    assert!(!d.rationale.is_empty() && d.rationale == d.rationale.trim(), "rationale {:?} of {args}", d.rationale);
    assert!(d.hypothesis.as_deref().is_none_or(|h| !h.trim().is_empty()), "blank hypothesis accepted: {args}");
    assert!(d.params.is_empty(), "params from the model: {args}");
    if d.action != Action::Change {
        return;
    }
    assert!(!d.changes.is_empty(), "a change decision without changes: {args}");
    for change in &d.changes {
        match change {
            Change::ConfigEdit { file, key, .. } => {
                let real = resolve_existing(&fix.root, file, &fix.deny);
                assert!(
                    real.as_ref().is_ok_and(|r| r.is_file() && r.starts_with(&fix.root)),
                    "config_edit {file:?}: {args}"
                );
                assert!(!fix.frozen.is_denied(Path::new(file)), "frozen {file:?} edited: {args}");
                if let Ok(real) = &real {
                    let inside = real.strip_prefix(&fix.root).unwrap_or(real);
                    assert!(!fix.frozen.is_denied(inside), "frozen {file:?} edited through a link: {args}");
                }
                assert!(walk_stays_inside(&fix.root, file), "config_edit {file:?} goes through outside: {args}");
                assert!(!key.trim().is_empty(), "empty key accepted: {args}");
            }
            Change::Command { text } => assert!(!text.trim().is_empty(), "blank command accepted: {args}"),
            Change::Code { request, files } => {
                assert!(!request.trim().is_empty(), "blank code request accepted: {args}");
                for file in files {
                    assert!(resolve(&fix.root, file, &fix.deny).is_ok(), "code file {file:?}: {args}");
                }
            }
            Change::Arg { .. } => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let fix = fixture();
    let args = match serde_json::from_slice::<Value>(data) {
        Ok(args) => args,
        Err(_) => match ShapedDecision::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(shaped) => shaped_json(&shaped),
            Err(_) => return,
        },
    };
    let validate = |d: &Decision| engine_validate(fix, d);
    if let Ok(decision) = accept_decision(&args, &validate) {
        check_accepted(fix, &decision, &args);
    }
    let base = fix.root.parent().unwrap_or(&fix.root);
    assert!(snapshot(base) == fix.snapshot, "validation wrote to the worktree: {args}");
});
