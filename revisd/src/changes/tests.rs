//! Behaviour of `changes` as the engine uses it: edits that keep files byte-identical except for
//! the value, argument edits in every form, and all-or-nothing application of a decision.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Value, json};

use super::*;
use crate::advisor::Change;
use crate::config::SearchParam;

fn temp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn write(dir: &Path, rel: &str, text: &str) -> PathBuf {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
    }
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write: {e}"));
    path
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read: {e}"))
}

const YAML: &str = "\
# Training config
model:
  name: resnet50      # backbone
  head: {dropout: 0.1, act: \"gelu\"}
  layers: [64, 128]
optimizer:
    kind: 'adamw'
    lr: 1.0e-3   # tuned by hand
    betas: [0.9, 0.999]
    warmup:
epochs: 10
";

#[test]
fn yaml_edit_changes_only_the_value() {
    let dir = temp();
    let path = write(dir.path(), "c.yaml", YAML);
    let previous = write_config_value(&path, "optimizer.lr", &json!(0.003)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(previous, json!(0.001));
    assert_eq!(read(&path), YAML.replace("lr: 1.0e-3 ", "lr: 0.003 "));

    write_config_value(&path, "optimizer.lr", &json!(1e-5)).unwrap_or_else(|e| panic!("{e}"));
    assert!(read(&path).contains("    lr: 1.0e-05   # tuned by hand\n"));
    assert_eq!(read_config_value(&path, "optimizer.lr").ok(), Some(json!(1e-5)));
}

#[test]
fn yaml_edit_keeps_quoting_and_flow_style() {
    let dir = temp();
    let path = write(dir.path(), "c.yml", YAML);
    write_config_value(&path, "optimizer.kind", &json!("sgd")).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "model.head.dropout", &json!(0.25)).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "model.head.act", &json!("relu")).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "epochs", &json!(20)).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "optimizer.warmup", &json!(100)).unwrap_or_else(|e| panic!("{e}"));
    let want = YAML
        .replace("kind: 'adamw'", "kind: 'sgd'")
        .replace("{dropout: 0.1, act: \"gelu\"}", "{dropout: 0.25, act: \"relu\"}")
        .replace("epochs: 10", "epochs: 20")
        .replace("warmup:\n", "warmup: 100\n");
    assert_eq!(read(&path), want);
}

#[test]
fn yaml_strings_that_would_change_type_are_quoted() {
    let dir = temp();
    let path = write(dir.path(), "c.yaml", "model:\n  name: resnet50\n");
    write_config_value(&path, "model.name", &json!("yes")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read(&path), "model:\n  name: \"yes\"\n");
    assert_eq!(read_config_value(&path, "model.name").ok(), Some(json!("yes")));
}

#[test]
fn json_edit_changes_only_the_value() {
    let text = "{\n  \"optimizer\": {\"lr\": 0.01,\n    \"betas\": [0.9, 0.999]},\n  \"name\": \"run\",\n  \"amp\": false\n}\n";
    let dir = temp();
    let path = write(dir.path(), "configs/base.json", text);
    let previous = write_config_value(&path, "optimizer.lr", &json!(3e-5)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(previous, json!(0.01));
    write_config_value(&path, "name", &json!("a \"b\"")).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "amp", &json!(true)).unwrap_or_else(|e| panic!("{e}"));
    let want = text.replace("0.01", "3.0e-05").replace("\"run\"", "\"a \\\"b\\\"\"").replace("false", "true");
    assert_eq!(read(&path), want);
}

#[test]
fn missing_keys_and_collections_are_errors_naming_file_and_key() {
    let dir = temp();
    let path = write(dir.path(), "c.yaml", YAML);
    let err = write_config_value(&path, "optimizer.momentum", &json!(0.9));
    let message = err.map(|_| ()).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("optimizer.momentum") && message.contains("c.yaml"), "{message}");
    assert!(matches!(write_config_value(&path, "optimizer", &json!(1)), Err(ChangeError::NotScalar { .. })));
    assert!(matches!(write_config_value(&path, "optimizer.betas", &json!(1)), Err(ChangeError::NotScalar { .. })));
    assert!(matches!(write_config_value(&path, "epochs.x", &json!(1)), Err(ChangeError::NotMapping { .. })));
    let json_path = write(dir.path(), "c.json", "{\"a\": {\"b\": 1}}");
    assert!(matches!(read_config_value(&json_path, "a.c"), Err(ChangeError::MissingKey { .. })));
    assert_eq!(read(&path), YAML, "failed edits leave the file alone");
}

#[test]
fn values_must_fit_the_type_of_the_key() {
    let dir = temp();
    let path = write(dir.path(), "c.yaml", YAML);
    let mismatch = |key: &str, value: Value| {
        matches!(write_config_value(&path, key, &value), Err(ChangeError::TypeMismatch { .. }))
    };
    assert!(mismatch("optimizer.lr", json!("fast")));
    assert!(mismatch("model.name", json!(3)));
    assert!(mismatch("epochs", json!(2.5)));
    assert!(mismatch("optimizer.lr", json!(true)));
    // An integral float for an int key is written as an int; an int for a float key as a float.
    write_config_value(&path, "epochs", &json!(30.0)).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "optimizer.lr", &json!(1)).unwrap_or_else(|e| panic!("{e}"));
    let text = read(&path);
    assert!(text.contains("epochs: 30\n") && text.contains("lr: 1.0   #"), "{text}");
}

#[test]
fn writes_leave_no_temporary_files() {
    let dir = temp();
    let path = write(dir.path(), "c.json", "{\"a\": 1}");
    write_config_value(&path, "a", &json!(2)).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(names, ["c.json"]);
}

#[test]
fn reads_args_in_every_form() {
    let command = "python train.py --lr 0.01 --name='my run' --amp --offset -1 --out=\"a b\" --x";
    let arg = |name: &str| read_arg(command, name).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(arg("--lr"), Some(ArgValue::Value("0.01".into())));
    assert_eq!(arg("--name"), Some(ArgValue::Value("my run".into())));
    assert_eq!(arg("--amp"), Some(ArgValue::Flag));
    assert_eq!(arg("--offset"), Some(ArgValue::Value("-1".into())));
    assert_eq!(arg("--out"), Some(ArgValue::Value("a b".into())));
    assert_eq!(arg("--x"), Some(ArgValue::Flag));
    assert_eq!(arg("--batch-size"), None);
    assert!(matches!(read_arg(command, "lr"), Err(ChangeError::BadArgName { .. })));
}

#[test]
fn sets_args_in_place() {
    let base = "python train.py --lr 0.01 --name='my run'  --amp --out=x  # keep";
    let set = |name: &str, value: Option<Value>| set_arg(base, name, value.as_ref()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set("--lr", Some(json!(0.003))), base.replace("0.01", "0.003"));
    assert_eq!(set("--name", Some(json!("b c"))), base.replace("'my run'", "'b c'"));
    assert_eq!(set("--out", Some(json!("y z"))), base.replace("--out=x", "--out='y z'"));
    assert_eq!(set("--amp", Some(json!(4))), base.replace("--amp", "--amp 4"));
    assert_eq!(set("--amp", Some(json!(true))), base);
    assert_eq!(set("--lr", Some(json!(true))), base.replace("--lr 0.01", "--lr"));
    assert_eq!(set("--amp", Some(json!(false))), base.replace("  --amp", ""));
    assert_eq!(set("--lr", None), base.replace(" --lr 0.01", ""));
    assert_eq!(set("--out", None), base.replace(" --out=x", ""));
    assert_eq!(set("--missing", None), base);
    assert_eq!(set("--batch-size", Some(json!(64))), base.replace("--out=x", "--out=x --batch-size 64"));
    assert_eq!(set("--fp16", Some(json!(true))), base.replace("--out=x", "--out=x --fp16"));
}

#[test]
fn appends_args_to_the_training_command() {
    let cases = [
        ("cd src && python train.py | tee log.txt", "cd src && python train.py --bs 8 | tee log.txt"),
        ("python train.py > out.log 2>&1", "python train.py --bs 8 > out.log 2>&1"),
        ("uv run train", "uv run train --bs 8"),
    ];
    for (command, want) in cases {
        let got = set_arg(command, "--bs", Some(&json!(8))).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got, want);
        assert_eq!(read_arg(&got, "--bs").ok().flatten(), Some(ArgValue::Value("8".into())));
    }
    assert!(matches!(set_arg("python 'oops", "--bs", Some(&json!(8))), Err(ChangeError::Shell { .. })));
}

#[test]
fn apply_validates_every_change_before_writing() {
    let dir = temp();
    let path = write(dir.path(), "configs/base.yaml", YAML);
    let changes = [
        Change::ConfigEdit { file: "configs/base.yaml".into(), key: "epochs".into(), value: json!(5) },
        Change::ConfigEdit { file: "configs/base.yaml".into(), key: "nope".into(), value: json!(5) },
    ];
    assert!(apply(dir.path(), "python t.py", &changes).is_err());
    assert_eq!(read(&path), YAML);

    let outside = [Change::ConfigEdit { file: "../x.yaml".into(), key: "a".into(), value: json!(1) }];
    assert!(matches!(apply(dir.path(), "python t.py", &outside), Err(ChangeError::OutsideWorktree { .. })));
    let bad_then_code = [
        Change::ConfigEdit { file: "configs/base.yaml".into(), key: "epochs".into(), value: json!("x") },
        Change::Code { request: "refactor".into(), files: vec![] },
    ];
    assert!(matches!(apply(dir.path(), "python t.py", &bad_then_code), Err(ChangeError::TypeMismatch { .. })));
    assert_eq!(read(&path), YAML);
    let missing = [Change::ConfigEdit { file: "configs/none.yaml".into(), key: "a".into(), value: json!(1) }];
    assert!(matches!(apply(dir.path(), "python t.py", &missing), Err(ChangeError::MissingFile { .. })));
}

#[test]
fn apply_reports_each_change() {
    let dir = temp();
    let path = write(dir.path(), "configs/base.json", "{\"optimizer\": {\"lr\": 0.01}}\n");
    let changes = [
        Change::ConfigEdit { file: "configs/base.json".into(), key: "optimizer.lr".into(), value: json!(0.003) },
        Change::Arg { name: "--batch-size".into(), value: Some(json!(64)) },
        Change::Arg { name: "--epochs".into(), value: None },
    ];
    let applied =
        apply(dir.path(), "python train.py --batch-size 32 --epochs 3", &changes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(applied.command, "python train.py --batch-size 64");
    let summaries: Vec<&str> = applied.applied.iter().map(|a| a.summary.as_str()).collect();
    assert_eq!(
        summaries,
        ["optimizer.lr in configs/base.json: 0.01 → 0.003", "--batch-size: 32 → 64", "--epochs: 3 → (absent)"]
    );
    assert_eq!(applied.applied[0].previous, Some(json!(0.01)));
    assert_eq!(applied.applied[1].previous, Some(json!("32")));
    assert_eq!(read(&path), "{\"optimizer\": {\"lr\": 0.003}}\n");

    let same = apply(dir.path(), "python t.py", &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(same, Applied { command: "python t.py".into(), applied: vec![], deferred: vec![] });
    let replaced = apply(dir.path(), "python t.py", &[Change::Command { text: "make train".into() }])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(replaced.command, "make train");
}

fn param(file: Option<&str>, key: Option<&str>, arg: Option<&str>) -> SearchParam {
    SearchParam {
        file: file.map(str::to_string),
        key: key.map(str::to_string),
        arg: arg.map(str::to_string),
        low: None,
        high: None,
        log: false,
        kind: None,
        step: None,
        grid_points: None,
        values: None,
    }
}

#[test]
fn reads_current_params_and_builds_changes() {
    let dir = temp();
    write(dir.path(), "configs/base.yaml", YAML);
    let mut space: IndexMap<String, SearchParam> = IndexMap::new();
    space.insert(
        "lr".into(),
        SearchParam {
            low: Some(1e-5),
            high: Some(0.1),
            log: true,
            ..param(Some("configs/base.yaml"), Some("optimizer.lr"), None)
        },
    );
    space.insert(
        "batch_size".into(),
        SearchParam { values: Some(vec![json!(32), json!(64)]), ..param(None, None, Some("--batch-size")) },
    );
    space.insert(
        "amp".into(),
        SearchParam { values: Some(vec![json!(true), json!(false)]), ..param(None, None, Some("--amp")) },
    );
    space.insert("seed".into(), param(None, None, Some("--seed")));
    let command = "python train.py --batch-size 64";
    let current = current_params(&space, dir.path(), command).unwrap_or_else(|e| panic!("{e}"));
    let want: IndexMap<String, Value> = [
        ("lr".to_string(), json!(0.001)),
        ("batch_size".to_string(), json!(64)),
        ("amp".to_string(), json!(false)),
        ("seed".to_string(), Value::Null),
    ]
    .into_iter()
    .collect();
    assert_eq!(current, want);

    let mut to = current.clone();
    to.insert("lr".into(), json!(0.003));
    to.insert("batch_size".into(), json!(64.0));
    to.insert("amp".into(), json!(true));
    let changes = changes_for(&space, &current, &to);
    assert_eq!(
        changes,
        [
            Change::ConfigEdit { file: "configs/base.yaml".into(), key: "optimizer.lr".into(), value: json!(0.003) },
            Change::Arg { name: "--amp".into(), value: Some(json!(true)) },
        ]
    );
    let applied = apply(dir.path(), command, &changes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(applied.command, "python train.py --batch-size 64 --amp");
    let after = current_params(&space, dir.path(), &applied.command).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.get("lr"), Some(&json!(0.003)));
    assert_eq!(after.get("amp"), Some(&json!(true)));
}

#[test]
fn yaml_edits_in_less_common_layouts() {
    let cases = [
        ("a:\n  lr: 1\nb:\n  lr: 2.5\n", "b.lr", json!(0.5), "a:\n  lr: 1\nb:\n  lr: 0.5\n"),
        ("opt:\n  betas:\n  - 0.9\n  lr: 0.1\n", "opt.lr", json!(0.2), "opt:\n  betas:\n  - 0.9\n  lr: 0.2\n"),
        ("lr:\t0.1\r\nbs: 2\r\n", "lr", json!(0.3), "lr:\t0.3\r\nbs: 2\r\n"),
        ("url: \"http://x\"  # c\n", "url", json!("http://y"), "url: \"http://y\"  # c\n"),
        ("%YAML 1.2\n---\nx: &a 1\ny: 2\n...\n", "x", json!(5), "%YAML 1.2\n---\nx: &a 5\ny: 2\n...\n"),
        ("{\"lr\": 0.1, bs: 8}\n", "bs", json!(16), "{\"lr\": 0.1, bs: 16}\n"),
        ("'quoted key': 1\n", "quoted key", json!(2), "'quoted key': 2\n"),
    ];
    let dir = temp();
    for (text, key, value, want) in cases {
        let path = write(dir.path(), "c.yaml", text);
        write_config_value(&path, key, &value).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(read(&path), want);
    }
    let refused = [
        ("note: |\n  text\n", "note", json!("b")),
        ("x: &a 1\ny: *a\n", "y", json!(3)),
        ("msg: a long\n  plain value\n", "msg", json!("b")),
    ];
    for (text, key, value) in refused {
        let path = write(dir.path(), "c.yaml", text);
        let result = write_config_value(&path, key, &value);
        assert!(matches!(result, Err(ChangeError::CannotEdit { .. })), "{text:?}: {result:?}");
        assert_eq!(read(&path), text);
    }
}

#[test]
fn code_changes_are_deferred_not_applied() {
    let dir = temp();
    let path = write(dir.path(), "configs/base.yaml", YAML);
    let code = Change::Code { request: "add a cosine schedule".into(), files: vec!["train.py".into()] };
    let changes =
        [Change::ConfigEdit { file: "configs/base.yaml".into(), key: "epochs".into(), value: json!(5) }, code.clone()];
    let applied = apply(dir.path(), "python t.py", &changes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(applied.applied.len(), 1);
    assert_eq!(applied.deferred, [code]);
    assert_eq!(read(&path), YAML.replace("epochs: 10", "epochs: 5"));
}

const TOML: &str = "\
# Training config
title = \"baseline\"   # shown in reports

[optimizer]
kind = 'adamw'
lr = 1e-3        # tuned by hand
betas = [0.9, 0.999]
schedule = { warmup = 100, decay = 0.5 }

[model]
name = \"resnet50\"
layers.depth = 50
amp = false
started = 1979-05-27T07:32:00Z

[[stages]]
epochs = 3
";

#[test]
fn toml_edit_changes_only_the_value() {
    let dir = temp();
    let path = write(dir.path(), "pyproject.toml", TOML);
    let previous = write_config_value(&path, "optimizer.lr", &json!(0.003)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(previous, json!(0.001));
    assert_eq!(read(&path), TOML.replace("lr = 1e-3 ", "lr = 0.003 "));
    write_config_value(&path, "optimizer.kind", &json!("sgd")).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "optimizer.schedule.warmup", &json!(500.0)).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "model.layers.depth", &json!(101)).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "model.amp", &json!(true)).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "title", &json!("say \"hi\"")).unwrap_or_else(|e| panic!("{e}"));
    write_config_value(&path, "optimizer.lr", &json!(1e-5)).unwrap_or_else(|e| panic!("{e}"));
    let want = TOML
        .replace("lr = 1e-3 ", "lr = 1.0e-05 ")
        .replace("kind = 'adamw'", "kind = 'sgd'")
        .replace("warmup = 100", "warmup = 500")
        .replace("depth = 50", "depth = 101")
        .replace("amp = false", "amp = true")
        .replace("title = \"baseline\"", "title = \"say \\\"hi\\\"\"");
    assert_eq!(read(&path), want);
    assert_eq!(read_config_value(&path, "optimizer.lr").ok(), Some(json!(1e-5)));
    assert_eq!(read_config_value(&path, "title").ok(), Some(json!("say \"hi\"")));
}

#[test]
fn toml_refusals_name_the_problem_and_leave_the_file_alone() {
    let dir = temp();
    let path = write(dir.path(), "c.toml", TOML);
    let err = |key: &str, value: Value| write_config_value(&path, key, &value).err();
    assert!(matches!(err("optimizer.momentum", json!(0.9)), Some(ChangeError::MissingKey { .. })));
    assert!(matches!(err("optimizer.betas", json!(1)), Some(ChangeError::NotScalar { .. })));
    assert!(matches!(err("optimizer", json!(1)), Some(ChangeError::NotScalar { .. })));
    assert!(matches!(err("title.x", json!(1)), Some(ChangeError::NotMapping { .. })));
    assert!(matches!(err("stages.epochs", json!(1)), Some(ChangeError::NotMapping { .. })));
    assert!(matches!(err("model.started", json!("2020")), Some(ChangeError::CannotEdit { .. })));
    assert!(matches!(err("model.amp", json!(1)), Some(ChangeError::TypeMismatch { .. })));
    assert!(matches!(err("model.name", Value::Null), Some(ChangeError::TypeMismatch { .. })));
    let bad = write(dir.path(), "bad.toml", "a = [\n");
    assert!(matches!(read_config_value(&bad, "a"), Err(ChangeError::Parse { .. })));
    assert_eq!(read(&path), TOML);
}

#[test]
fn toml_edits_through_apply() {
    let dir = temp();
    let path = write(dir.path(), "cfg/train.toml", "[train]\nlr = 0.1\nbs = 32 # per device\n");
    let changes = [
        Change::ConfigEdit { file: "cfg/train.toml".into(), key: "train.lr".into(), value: json!(0.05) },
        Change::ConfigEdit { file: "cfg/train.toml".into(), key: "train.bs".into(), value: json!(64) },
    ];
    let applied = apply(dir.path(), "python t.py", &changes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(applied.applied[1].summary, "train.bs in cfg/train.toml: 32 → 64");
    assert_eq!(read(&path), "[train]\nlr = 0.05\nbs = 64 # per device\n");
}

fn symlink(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
}

const OUTSIDE_JSON: &str = "{\n  \"lr\": 0.5,\n  \"token\": \"CANARY-outside\"\n}\n";

#[test]
fn config_edits_through_symlinks_leading_outside_are_refused_and_write_nothing() {
    let dir = temp();
    let outside = temp();
    let target = write(outside.path(), "conf.json", OUTSIDE_JSON);
    write(outside.path(), "nested/c.yaml", "lr: 0.5\n");
    symlink(&target, &dir.path().join("link.json"));
    symlink(outside.path(), &dir.path().join("outdir"));
    for file in ["link.json", "outdir/conf.json", "outdir/nested/c.yaml", "./outdir/conf.json"] {
        let changes = vec![Change::ConfigEdit { file: file.into(), key: "lr".into(), value: json!(0.1) }];
        let err = apply(dir.path(), "python3 train.py", &changes);
        assert!(matches!(err, Err(ChangeError::OutsideWorktree { .. })), "{file}: {err:?}");
        let deny = crate::path_policy::Deny::new(&[]).unwrap_or_else(|e| panic!("{e}"));
        let problems = validate(dir.path(), "python3 train.py", &changes, &deny).err().unwrap_or_default();
        assert!(problems.len() == 1 && problems[0].contains("not allowed"), "{file}: {problems:?}");
        assert!(!problems[0].contains("CANARY"), "{problems:?}");
    }
    let space: IndexMap<String, SearchParam> =
        [("lr".to_string(), param(Some("outdir/conf.json"), Some("lr"), None))].into_iter().collect();
    let err = current_params(&space, dir.path(), "python3 train.py");
    assert!(matches!(err, Err(ChangeError::OutsideWorktree { .. })), "{err:?}");
    assert_eq!(read(&target), OUTSIDE_JSON);
    assert_eq!(read(&outside.path().join("nested/c.yaml")), "lr: 0.5\n");
}

#[test]
fn a_file_swapped_for_a_symlink_after_planning_is_not_written_through() {
    let dir = temp();
    let outside = temp();
    let target = write(outside.path(), "conf.json", OUTSIDE_JSON);
    write(dir.path(), "conf.json", "{\"lr\": 1.0}\n");
    let change = Change::ConfigEdit { file: "conf.json".into(), key: "lr".into(), value: json!(0.1) };
    let mut plan = apply::Plan::new("python3 train.py");
    plan.add(dir.path(), &change).unwrap_or_else(|e| panic!("{e}"));
    // Between the check and the write, the file becomes a link to a file outside.
    std::fs::remove_file(dir.path().join("conf.json")).unwrap_or_else(|e| panic!("{e}"));
    symlink(&target, &dir.path().join("conf.json"));
    let err = plan.write();
    assert!(matches!(err, Err(ChangeError::OutsideWorktree { .. })), "{err:?}");
    assert_eq!(read(&target), OUTSIDE_JSON);

    // Same for a directory above the file.
    write(dir.path(), "cfg/c.json", "{\"lr\": 1.0}\n");
    let change = Change::ConfigEdit { file: "cfg/c.json".into(), key: "lr".into(), value: json!(0.1) };
    let mut plan = apply::Plan::new("python3 train.py");
    plan.add(dir.path(), &change).unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(dir.path().join("cfg"), dir.path().join("cfg-old")).unwrap_or_else(|e| panic!("{e}"));
    write(outside.path(), "c.json", "{\"lr\": 1.0}\n");
    symlink(outside.path(), &dir.path().join("cfg"));
    let err = plan.write();
    assert!(matches!(err, Err(ChangeError::OutsideWorktree { .. })), "{err:?}");
    assert_eq!(read(&outside.path().join("c.json")), "{\"lr\": 1.0}\n");
}
