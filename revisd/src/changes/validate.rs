//! Checking a whole decision before anything is applied, and saying *everything* that is wrong
//! with it at once, in words a model can act on: the LLM advisor returns these problems as a
//! tool error and the model corrects its decision on the next turn.
//!
//! Denied files read exactly like missing ones. Nothing here writes to the worktree.

use std::path::Path;

use super::ChangeError;
use super::apply::Plan;
use super::config_file::{Format, scalar_keys};
use super::shell::tokenize;
use crate::advisor::Change;
use crate::path_policy::{Deny, resolve, resolve_existing};

/// How many keys of a file are considered for "closest keys", and how many are suggested.
const KEY_SCAN_LIMIT: usize = 5000;
const SUGGESTIONS: usize = 3;

/// Every problem of `changes` applied in order to `command` in `worktree`, each prefixed with
/// the change it concerns (`changes[1] (config_edit): ...`). Changes are checked as `apply`
/// would apply them, so a later argument change sees an earlier command replacement. `Code`
/// changes are valid when they carry a request and name no hidden or outside path.
pub fn validate(worktree: &Path, command: &str, changes: &[Change], deny: &Deny) -> Result<(), Vec<String>> {
    let mut plan = Plan::new(command);
    let mut problems = Vec::new();
    for (index, change) in changes.iter().enumerate() {
        let label = format!("changes[{index}] ({})", kind(change));
        for problem in check(worktree, &mut plan, change, deny) {
            problems.push(format!("{label}: {problem}"));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

fn kind(change: &Change) -> &'static str {
    match change {
        Change::ConfigEdit { .. } => "config_edit",
        Change::Arg { .. } => "arg",
        Change::Command { .. } => "command",
        Change::Code { .. } => "code",
    }
}

/// The problems of one change; a valid change is added to `plan`.
fn check(worktree: &Path, plan: &mut Plan, change: &Change, deny: &Deny) -> Vec<String> {
    match change {
        Change::ConfigEdit { file, key, .. } => {
            let real = match resolve_existing(worktree, file, deny) {
                Ok(real) => real,
                Err(e) => return vec![e.to_string()],
            };
            if !real.is_file() {
                return vec![format!("`{file}` is a directory, not a config file")];
            }
            if Format::of(Path::new(file)).is_err() {
                return vec![format!(
                    "`{file}` is not a YAML (.yaml, .yml), JSON (.json) or TOML (.toml) file; \
                     config_edit only edits those (use a `code` change for other files)"
                )];
            }
            if key.trim().is_empty() {
                return vec!["the key is empty (use a dotted key such as `optimizer.lr`)".to_string()];
            }
            match plan.add(worktree, change) {
                Ok(()) => Vec::new(),
                Err(e @ (ChangeError::MissingKey { .. } | ChangeError::NotMapping { .. })) => {
                    let pending = plan.files.get(&real).map(|p| p.text.as_str());
                    vec![with_suggestions(&e, pending, file, key)]
                }
                Err(e) => vec![e.to_string()],
            }
        }
        Change::Arg { .. } => plan.add(worktree, change).err().map(|e| e.to_string()).into_iter().collect(),
        Change::Command { text } => {
            if text.trim().is_empty() {
                return vec!["the new training command is empty".to_string()];
            }
            if let Err(reason) = tokenize(text) {
                return vec![format!("cannot parse the new command `{text}`: {reason}")];
            }
            plan.add(worktree, change).err().map(|e| e.to_string()).into_iter().collect()
        }
        Change::Code { request, files } => {
            let mut problems = Vec::new();
            if request.trim().is_empty() {
                problems.push("the request is empty: say what the code change should do".to_string());
            }
            // Files may be new, so only escapes and hidden paths are problems.
            for file in files {
                if let Err(e) = resolve(worktree, file, deny) {
                    problems.push(format!("files: {e}"));
                }
            }
            if problems.is_empty() {
                // Never fails for a code change: it is only recorded as deferred.
                let _ = plan.add(worktree, change);
            }
            problems
        }
    }
}

/// The error, plus the existing keys that look most like the one asked for.
fn with_suggestions(error: &ChangeError, text: Option<&str>, file: &str, key: &str) -> String {
    let path = Path::new(file);
    let keys = match (text, Format::of(path)) {
        (Some(text), Ok(format)) => scalar_keys(text, format, path, KEY_SCAN_LIMIT).unwrap_or_default(),
        _ => Vec::new(),
    };
    let closest = closest_keys(key, &keys);
    if closest.is_empty() {
        return format!("{error}; the file has no editable keys");
    }
    let list = closest.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
    format!("{error}; closest existing keys: {list}")
}

/// The existing keys most similar to `wanted`, best first. The last segment counts on its own
/// too, so `lr` finds `optimizer.lr`.
fn closest_keys(wanted: &str, keys: &[String]) -> Vec<String> {
    let last = |k: &str| k.rsplit('.').next().unwrap_or(k).to_ascii_lowercase();
    let wanted_lower = wanted.to_ascii_lowercase();
    let wanted_last = last(wanted);
    let mut scored: Vec<(f64, &String)> = keys
        .iter()
        .map(|key| {
            let whole = strsim::jaro_winkler(&wanted_lower, &key.to_ascii_lowercase());
            let tail = strsim::jaro_winkler(&wanted_last, &last(key)) * 0.95;
            (whole.max(tail), key)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(SUGGESTIONS).map(|(_, key)| key.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
    }

    fn deny(patterns: &[&str]) -> Deny {
        let owned: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        Deny::new(&owned).unwrap_or_else(|e| panic!("{e}"))
    }

    fn config_edit(file: &str, key: &str, value: serde_json::Value) -> Change {
        Change::ConfigEdit { file: file.into(), key: key.into(), value }
    }

    #[test]
    fn lists_every_problem_at_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(dir.path(), "configs/base.yaml", "optimizer:\n  lr: 0.01\n  kind: adamw\nepochs: 10\n");
        write(dir.path(), "secrets/key.yaml", "token: abc\n");
        write(dir.path(), "train.py", "print(1)\n");
        let changes = [
            config_edit("configs/base.yaml", "optimizer.lrr", json!(0.1)),
            config_edit("secrets/key.yaml", "token", json!("x")),
            config_edit("configs/none.yaml", "a", json!(1)),
            config_edit("train.py", "a", json!(1)),
            config_edit("configs/base.yaml", "epochs", json!("many")),
            Change::Arg { name: "batch-size".into(), value: Some(json!(4)) },
            Change::Command { text: "  ".into() },
            Change::Code { request: "".into(), files: vec!["../x.py".into()] },
            config_edit("../up.yaml", "a", json!(1)),
            config_edit("configs/base.yaml", "optimizer.lr", json!(0.003)),
        ];
        let problems =
            validate(dir.path(), "python train.py", &changes, &deny(&["secrets/"])).err().unwrap_or_default();
        let expect = [
            "changes[0] (config_edit): key `optimizer.lrr`",
            "changes[1] (config_edit): no such file or directory: secrets/key.yaml",
            "changes[2] (config_edit): no such file or directory: configs/none.yaml",
            "changes[3] (config_edit): `train.py` is not a YAML",
            "changes[4] (config_edit): wrong value for epochs",
            "changes[5] (arg): `batch-size` is not a CLI option name",
            "changes[6] (command): the new training command is empty",
            "changes[7] (code): the request is empty",
            "changes[7] (code): files: path `../x.py` is not allowed",
            "changes[8] (config_edit): path `../up.yaml` is not allowed",
        ];
        assert_eq!(problems.len(), expect.len(), "{problems:#?}");
        for (got, want) in problems.iter().zip(expect) {
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
        assert!(problems[0].contains("closest existing keys: `optimizer.lr`"), "{}", problems[0]);
        assert!(problems[4].contains("the key holds an integer, got a string"), "{}", problems[4]);
        // A denied file and a missing one read the same.
        assert_eq!(problems[1], "changes[1] (config_edit): no such file or directory: secrets/key.yaml");
        assert_eq!(problems[2], "changes[2] (config_edit): no such file or directory: configs/none.yaml");
    }

    #[test]
    fn valid_decisions_pass_and_code_changes_are_accepted() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(dir.path(), "pyproject.toml", "[tool.train]\nlr = 0.01 # tuned\n");
        write(dir.path(), "c.json", "{\"a\": {\"b\": 1}}");
        let changes = [
            config_edit("pyproject.toml", "tool.train.lr", json!(0.02)),
            config_edit("c.json", "a.b", json!(2)),
            Change::Command { text: "python train.py --epochs 3".into() },
            Change::Arg { name: "--epochs".into(), value: Some(json!(5)) },
            Change::Code { request: "add a cosine schedule".into(), files: vec!["train.py".into(), "new.py".into()] },
        ];
        assert_eq!(validate(dir.path(), "python old.py", &changes, &deny(&[])), Ok(()));
        // Nothing was written.
        let text = std::fs::read_to_string(dir.path().join("c.json")).unwrap_or_default();
        assert_eq!(text, "{\"a\": {\"b\": 1}}");
    }

    #[test]
    fn code_changes_cannot_name_hidden_files() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let changes = [Change::Code { request: "x".into(), files: vec![".env".into()] }];
        let problems = validate(dir.path(), "python t.py", &changes, &deny(&[])).err().unwrap_or_default();
        assert_eq!(problems, ["changes[0] (code): files: no such file or directory: .env"]);
    }

    #[test]
    fn later_changes_see_earlier_ones() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        write(dir.path(), "c.yaml", "a: 1\n");
        // The second edit of the same key is checked against the first's result, and an
        // argument change against the replaced command.
        let changes = [
            config_edit("c.yaml", "a", json!(2)),
            config_edit("c.yaml", "a", json!(3)),
            Change::Command { text: "python 'unclosed".into() },
        ];
        let problems = validate(dir.path(), "python t.py", &changes, &deny(&[])).err().unwrap_or_default();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("changes[2] (command): cannot parse"), "{problems:?}");
    }

    #[test]
    fn closest_keys_rank_by_whole_key_and_last_segment() {
        let keys: Vec<String> = ["optimizer.lr", "optimizer.kind", "model.name", "epochs"].map(String::from).to_vec();
        assert_eq!(closest_keys("lr", &keys)[0], "optimizer.lr");
        assert_eq!(closest_keys("optimiser.kind", &keys)[0], "optimizer.kind");
        assert_eq!(closest_keys("epoch", &keys)[0], "epochs");
    }
}
