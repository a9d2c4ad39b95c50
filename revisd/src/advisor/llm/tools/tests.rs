//! The tools as the agent calls them: output shapes, caps, refusals, and the rule that a hidden
//! file is indistinguishable from a missing one in every tool.

use serde_json::{Value, json};

use super::*;

const CANARY: &str = "CANARY-7f3a9";

struct FakeLogs {
    number: u32,
    text: String,
}

impl LogSource for FakeLogs {
    fn log_text(&self, iteration: Option<u32>) -> Result<(u32, String), String> {
        match iteration {
            None => Ok((self.number, self.text.clone())),
            Some(n) if n == self.number => Ok((n, self.text.clone())),
            Some(n) => Err(format!("iteration {n} has no training log")),
        }
    }
}

struct FakeHistory;

impl HistorySource for FakeHistory {
    fn history(&self, last: Option<usize>) -> Value {
        let all: Vec<Value> =
            (0..5).map(|n| json!({"iteration": n, "metrics": {"loss": 1.0 / f64::from(n + 1)}})).collect();
        let skip = last.map_or(0, |l| all.len().saturating_sub(l));
        Value::Array(all[skip..].to_vec())
    }
}

struct FakeSearch;

impl SearchSource for FakeSearch {
    fn suggestion(&self) -> Result<Value, String> {
        Ok(json!({"params": {"lr": 0.01}, "expected_improvement": 2.5}))
    }
}

struct NoSpace;

impl SearchSource for NoSpace {
    fn suggestion(&self) -> Result<Value, String> {
        Err("this session has no search.space".into())
    }
}

#[test]
fn the_search_suggestion_is_a_tool() {
    let f = Fixture::new(&[]);
    let out = f.ok("suggest_search_point", json!({}));
    assert!(out.contains("\"expected_improvement\": 2.5") && out.contains("\"lr\": 0.01"), "{out}");
    assert!(f.err("suggest_search_point", json!({"n": 2})).contains("n"));
    let ws = Workspace { root: f.dir.path(), deny: &f.deny, logs: &f.logs, history: &FakeHistory, search: &NoSpace };
    let out = ws.run_tool("suggest_search_point", &json!({}));
    assert!(out.is_error && out.content.contains("no search.space"), "{}", out.content);
}

struct Fixture {
    dir: tempfile::TempDir,
    deny: Deny,
    logs: FakeLogs,
}

impl Fixture {
    fn new(deny: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let deny = Deny::new(&deny.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap_or_else(|e| panic!("{e}"));
        Self { dir, deny, logs: FakeLogs { number: 3, text: String::new() } }
    }

    fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(path, content).unwrap_or_else(|e| panic!("write: {e}"));
    }

    fn run(&self, tool: &str, args: Value) -> ToolOutcome {
        let ws = Workspace {
            root: self.dir.path(),
            deny: &self.deny,
            logs: &self.logs,
            history: &FakeHistory,
            search: &FakeSearch,
        };
        ws.run_tool(tool, &args)
    }

    fn ok(&self, tool: &str, args: Value) -> String {
        let out = self.run(tool, args.clone());
        assert!(!out.is_error, "{tool} {args}: {}", out.content);
        out.content
    }

    fn err(&self, tool: &str, args: Value) -> String {
        let out = self.run(tool, args.clone());
        assert!(out.is_error, "{tool} {args} should fail: {}", out.content);
        out.content
    }
}

fn numbered(n: usize) -> String {
    (1..=n).map(|i| format!("line {i}\n")).collect()
}

#[test]
fn specs_are_well_formed() {
    let specs = tool_specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "read_file",
            "list_directory",
            "search_code",
            "get_training_logs",
            "get_history",
            "suggest_search_point",
            SUBMIT_DECISION
        ]
    );
    for spec in &specs {
        assert!(spec.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
        assert!(spec.description.len() > 40, "{} needs a real description", spec.name);
        assert_eq!(spec.parameters["type"], "object");
        let properties = spec.parameters["properties"].as_object().cloned().unwrap_or_default();
        for required in spec.parameters["required"].as_array().cloned().unwrap_or_default() {
            assert!(properties.contains_key(required.as_str().unwrap_or("")), "{}: {required}", spec.name);
        }
    }
    let kinds: Vec<Value> = specs[6].parameters["properties"]["changes"]["items"]["anyOf"]
        .as_array()
        .map(|variants| variants.iter().map(|v| v["properties"]["kind"]["enum"][0].clone()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, [json!("config_edit"), json!("arg"), json!("command"), json!("code")]);
}

#[test]
fn read_file_numbers_lines_and_honours_ranges() {
    let f = Fixture::new(&[]);
    f.write("train.py", "import torch\n\nlr = 0.01\nprint(lr)\n");
    let all = f.ok("read_file", json!({"path": "train.py"}));
    assert_eq!(
        all,
        "train.py (lines 1-4 of 4 lines):\n     1\timport torch\n     2\t\n     3\tlr = 0.01\n     4\tprint(lr)\n"
    );
    let some = f.ok("read_file", json!({"path": "./train.py", "start_line": 3, "end_line": 3}));
    assert_eq!(some, "train.py (lines 3-3 of 4 lines):\n     3\tlr = 0.01\n[more lines follow line 3]\n");
    // Integers written loosely are accepted; ranges past the end are clipped.
    let loose = f.ok("read_file", json!({"path": "train.py", "start_line": 2.0, "end_line": "99"}));
    assert!(loose.starts_with("train.py (lines 2-4 of 4 lines):"), "{loose}");
    f.write("empty.txt", "");
    assert_eq!(f.ok("read_file", json!({"path": "empty.txt"})), "`empty.txt` is empty (0 lines)");
    f.write("crlf.txt", "a\r\nb");
    assert!(f.ok("read_file", json!({"path": "crlf.txt"})).ends_with("     1\ta\n     2\tb\n"));
}

#[test]
fn read_file_reports_bad_calls_clearly() {
    let f = Fixture::new(&[]);
    f.write("a.txt", "x\n");
    f.write("dir/b.txt", "y\n");
    let cases = [
        (json!({}), "read_file: the argument `path` is required"),
        (json!({"path": 3}), "read_file: `path` must be a string, got a number"),
        (json!({"path": "a.txt", "start_line": 0}), "read_file: `start_line` must be between 1 and"),
        (json!({"path": "a.txt", "start_line": "two"}), "read_file: `start_line` must be a whole number"),
        (json!({"path": "a.txt", "start_line": 3, "end_line": 2}), "read_file: end_line (2) is before start_line (3)"),
        (
            json!({"path": "a.txt", "line": 2}),
            "read_file has no argument `line` (it takes: path, start_line, end_line)",
        ),
        (json!({"path": "a.txt", "start_line": 5}), "start_line 5 is past the end of `a.txt` (1 lines)"),
        (json!({"path": "dir"}), "`dir` is a directory; use list_directory"),
        (json!("a.txt"), "the arguments of read_file must be a JSON object, got a string"),
    ];
    for (args, want) in cases {
        let got = f.err("read_file", args.clone());
        assert!(got.starts_with(want), "{args}: {got:?}");
    }
}

#[test]
fn read_file_caps_lines_and_bytes_and_says_how_to_continue() {
    let f = Fixture::new(&[]);
    f.write("long.txt", numbered(1000));
    let first = f.ok("read_file", json!({"path": "long.txt"}));
    assert!(first.starts_with("long.txt (lines 1-400 of 1000 lines):\n"), "{}", &first[..80]);
    assert!(first.contains("   400\tline 400\n") && !first.contains("line 401\n"));
    assert!(first.ends_with("continue with read_file {\"path\": \"long.txt\", \"start_line\": 401}]\n"), "{first}");
    let next = f.ok("read_file", json!({"path": "long.txt", "start_line": 401, "end_line": 450}));
    assert!(next.starts_with("long.txt (lines 401-450 of 1000 lines):\n   401\tline 401\n"), "{next}");

    let wide: String = (1..=300).map(|i| format!("{i:04}{}\n", "x".repeat(996))).collect();
    f.write("wide.txt", wide);
    let out = f.ok("read_file", json!({"path": "wide.txt"}));
    assert!(out.len() <= MAX_OUTPUT_BYTES, "{}", out.len());
    // Each numbered line takes 1008 bytes: 64 of them fit in a 64 KiB page.
    assert!(out.contains("    64\t0064x") && !out.contains("\t0065x"), "{}", &out[out.len() - 200..]);
    assert!(out.ends_with("{\"path\": \"wide.txt\", \"start_line\": 65}]\n"), "{}", &out[out.len() - 200..]);

    f.write("oneline.json", format!("{{\"a\": \"{}\"}}", "y".repeat(10_000)));
    let clipped = f.ok("read_file", json!({"path": "oneline.json"}));
    assert!(clipped.contains("more bytes]") && clipped.len() < 3000, "{}", clipped.len());
}

#[test]
fn read_file_refuses_binary_files() {
    let f = Fixture::new(&[]);
    f.write("model.pt", b"PK\x03\x04\x00\x00weights");
    f.write("latin1.txt", b"caf\xe9\n");
    let mut late = numbered(2000).into_bytes();
    late.extend_from_slice(b"\xff\xfe\n");
    f.write("late.txt", late);
    for path in ["model.pt", "latin1.txt"] {
        let got = f.err("read_file", json!({"path": path}));
        assert_eq!(got, format!("`{path}` is a binary file (or not UTF-8 text); read_file only shows text"));
    }
    // Invalid bytes past the first page only matter when that part is read.
    assert!(!f.run("read_file", json!({"path": "late.txt"})).is_error);
    assert!(f.run("read_file", json!({"path": "late.txt", "start_line": 1990})).is_error);
}

#[test]
fn hidden_files_are_invisible_in_every_tool() {
    let f = Fixture::new(&["secrets/", "*.key", "data/**"]);
    f.write("train.py", "print('hello')\n");
    f.write("secrets/token.yaml", format!("token: {CANARY}\n"));
    f.write("api.key", CANARY);
    f.write("data/train.csv", CANARY);
    f.write(".env", format!("KEY={CANARY}\n"));
    f.write("sub/.env.local", CANARY);
    f.write(".git/config", CANARY);
    std::os::unix::fs::symlink("secrets/token.yaml", f.dir.path().join("innocent.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));

    for hidden in
        ["secrets/token.yaml", "api.key", "data/train.csv", ".env", "sub/.env.local", ".git/config", "innocent.yaml"]
    {
        let got = f.err("read_file", json!({"path": hidden}));
        assert_eq!(got, format!("no such file or directory: {hidden}"));
        let missing = f.err("read_file", json!({"path": format!("{hidden}.missing")}));
        assert_eq!(missing, format!("no such file or directory: {hidden}.missing"), "same wording as missing");
    }
    for hidden_dir in ["secrets", "data", ".git"] {
        assert_eq!(
            f.err("list_directory", json!({"path": hidden_dir})),
            format!("no such file or directory: {hidden_dir}")
        );
        assert_eq!(
            f.err("search_code", json!({"pattern": ".", "path": hidden_dir})),
            format!("no such file or directory: {hidden_dir}")
        );
    }
    let listing = f.ok("list_directory", json!({}));
    assert_eq!(listing, "./ (2 entries)\nsub/\ntrain.py  (15 B)\n");
    assert_eq!(f.ok("list_directory", json!({"path": "sub"})), "sub/ is empty\n");
    let search = f.ok("search_code", json!({"pattern": CANARY}));
    assert_eq!(search, format!("no matches for /{CANARY}/ in `.`\n"));
    let everything = f.ok("search_code", json!({"pattern": ".", "max_results": 200}));
    assert!(!everything.contains(CANARY) && !everything.contains("secrets") && !everything.contains(".env"));
}

#[test]
fn a_symlinked_directory_does_not_unhide_what_is_below_it() {
    let f = Fixture::new(&["data/*.csv"]);
    f.write("data/train.csv", CANARY);
    f.write("data/notes.txt", "about the data\n");
    std::os::unix::fs::symlink("data", f.dir.path().join("alias")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.ok("list_directory", json!({"path": "alias"})), "alias/ (1 entries)\nnotes.txt  (15 B)\n");
    assert_eq!(f.err("read_file", json!({"path": "alias/train.csv"})), "no such file or directory: alias/train.csv");
    let search = f.ok("search_code", json!({"pattern": ".", "path": "alias"}));
    assert_eq!(search, "alias/notes.txt:1: about the data\n");
}

#[test]
fn escapes_are_refused_by_every_tool() {
    let f = Fixture::new(&[]);
    let outside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(outside.path().join("o.txt"), CANARY).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(outside.path(), f.dir.path().join("out")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink(outside.path().join("o.txt"), f.dir.path().join("o.txt"))
        .unwrap_or_else(|e| panic!("{e}"));
    f.write("in.txt", "inside\n");
    let abs = outside.path().join("o.txt").display().to_string();
    for path in ["../o.txt", "a/../../o.txt", abs.as_str(), "out/o.txt", "o.txt"] {
        let got = f.err("read_file", json!({"path": path}));
        assert!(got.contains("is not allowed") && !got.contains(CANARY), "{path}: {got}");
    }
    for path in ["..", "/", "out"] {
        assert!(f.err("list_directory", json!({"path": path})).contains("is not allowed"), "{path}");
        assert!(f.err("search_code", json!({"pattern": "x", "path": path})).contains("is not allowed"), "{path}");
    }
    // Symlinks that lead outside are neither listed nor searched.
    assert_eq!(f.ok("list_directory", json!({})), "./ (1 entries)\nin.txt  (7 B)\n");
    assert!(f.ok("search_code", json!({"pattern": CANARY})).starts_with("no matches"));
}

#[test]
fn nested_links_out_of_the_worktree_or_into_hidden_files_are_never_followed() {
    let f = Fixture::new(&[]);
    let outside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir(outside.path().join("deep")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(outside.path().join("deep/o.txt"), CANARY).unwrap_or_else(|e| panic!("{e}"));
    f.write(".env", format!("KEY={CANARY}\n"));
    f.write("notes/readme.md", "notes\n");
    let link = |target: &std::path::Path, at: &str| {
        std::os::unix::fs::symlink(target, f.dir.path().join(at)).unwrap_or_else(|e| panic!("{e}"))
    };
    link(std::path::Path::new("../.env"), "notes/link");
    link(&outside.path().join("deep"), "notes/out");
    link(&outside.path().join("deep/o.txt"), "notes/o.txt");
    for path in ["notes/link", "notes/out/o.txt", "notes/o.txt", "notes/out"] {
        let got = f.err("read_file", json!({"path": path}));
        assert!(!got.contains(CANARY), "{path}: {got}");
        let searched = f.run("search_code", json!({"pattern": ".", "path": path}));
        assert!(searched.is_error && !searched.content.contains(CANARY), "{path}: {searched:?}");
    }
    assert_eq!(f.ok("list_directory", json!({"path": "notes"})), "notes/ (1 entries)\nreadme.md  (6 B)\n");
    let everything = f.ok("search_code", json!({"pattern": ".", "max_results": 200}));
    assert_eq!(everything, "notes/readme.md:1: notes\n");
}

#[test]
fn a_path_that_became_a_symlink_is_not_opened() {
    let f = Fixture::new(&[]);
    let outside = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(outside.path().join("o.txt"), CANARY).unwrap_or_else(|e| panic!("{e}"));
    let link = f.dir.path().join("swapped.txt");
    std::os::unix::fs::symlink(outside.path().join("o.txt"), &link).unwrap_or_else(|e| panic!("{e}"));
    assert!(files::open_no_follow(&link).is_err(), "O_NOFOLLOW must refuse a symlink");
    f.write("plain.txt", "ok\n");
    assert!(files::open_no_follow(&f.dir.path().join("plain.txt")).is_ok());
}

#[test]
fn list_directory_sorts_marks_dirs_and_caps() {
    let f = Fixture::new(&[]);
    f.write("b.py", "x");
    f.write("a/inner.txt", "x");
    f.write("C.md", "x");
    f.write("__pycache__/m.pyc", "x");
    f.write("node_modules/x/index.js", "x");
    f.write(".venv/bin/python", "x");
    f.write(".gitignore", "x");
    assert_eq!(
        f.ok("list_directory", json!({"path": "."})),
        "./ (4 entries)\n.gitignore  (1 B)\nC.md  (1 B)\na/\nb.py  (1 B)\n"
    );
    assert_eq!(
        f.err("list_directory", json!({"path": "b.py"})),
        "`b.py` is a file, not a directory; use read_file to read it"
    );
    for i in 0..510 {
        f.write(&format!("many/f{i:03}.txt"), "x");
    }
    let many = f.ok("list_directory", json!({"path": "many/"}));
    assert!(many.starts_with("many/ (510 entries)\nf000.txt  (1 B)\n"), "{}", &many[..60]);
    assert!(many.contains("f499.txt") && !many.contains("f500.txt"));
    assert!(many.ends_with("[10 more entries not shown; list a subdirectory or use search_code]\n"));
}

#[test]
fn search_code_finds_regex_matches_in_text_files() {
    let f = Fixture::new(&[]);
    f.write("train.py", "import torch\nLR = 0.01\nlr_decay = 0.9\n");
    f.write("cfg/base.yaml", "optimizer:\n  lr: 0.01\n");
    f.write("weights.bin", b"lr = \x00\x01");
    f.write("big.txt", format!("lr = 1\n{}", "z".repeat(1_100_000)));
    f.write("__pycache__/t.py", "lr = 2\n");
    let out = f.ok("search_code", json!({"pattern": r"(?i)\blr\b"}));
    assert_eq!(out, "cfg/base.yaml:2: lr: 0.01\ntrain.py:2: LR = 0.01\n");
    let scoped = f.ok("search_code", json!({"pattern": "lr", "path": "train.py"}));
    assert_eq!(scoped, "train.py:3: lr_decay = 0.9\n");
    assert!(f.err("search_code", json!({"pattern": "("})).starts_with("search_code: invalid regex \"(\""));
    assert!(f.err("search_code", json!({})).contains("`pattern` is required"));

    f.write("many.txt", numbered(300));
    let capped = f.ok("search_code", json!({"pattern": "^line", "path": "many.txt", "max_results": 5}));
    assert_eq!(capped.lines().count(), 6, "{capped}");
    assert!(capped.ends_with("[stopped at 5 matches; narrow the pattern or the path, or raise max_results]\n"));
    assert!(f.err("search_code", json!({"pattern": "x", "max_results": 1000})).contains("between 1 and 200"));
}

fn log_fixture(text: &str) -> Fixture {
    let mut f = Fixture::new(&[]);
    f.logs = FakeLogs { number: 3, text: text.to_string() };
    f
}

#[test]
fn training_logs_tail_errors_and_metrics() {
    let log = "\
starting
epoch 1 step 10 loss=2.31 lr=1.0e-03
progress 10%\rprogress 50%\rprogress 100%
epoch 2 val_acc: 0.41 loss = 1.9
warning: slow dataloader
Traceback (most recent call last):
  File \"train.py\", line 3, in <module>
    main()
ValueError: shapes do not match
after 1
after 2
after 3
after 4
loss=nan
done";
    let f = log_fixture(log);
    let tail = f.ok("get_training_logs", json!({"lines": 2}));
    assert_eq!(tail, "last 2 lines of the training log of iteration 3:\nloss=nan\ndone\n");
    let tail = f.ok("get_training_logs", json!({"iteration": 3, "mode": "tail"}));
    assert!(tail.contains("\nprogress 100%\n") && !tail.contains("progress 50%"), "{tail}");

    let errors = f.ok("get_training_logs", json!({"mode": "errors"}));
    let want = "\
3 error lines in the last 15 lines of the training log of iteration 3 (with context):
epoch 2 val_acc: 0.41 loss = 1.9
warning: slow dataloader
Traceback (most recent call last):
  File \"train.py\", line 3, in <module>
    main()
ValueError: shapes do not match
after 1
after 2
after 3
after 4
loss=nan
done
";
    assert_eq!(errors, want);
    let few = f.ok("get_training_logs", json!({"mode": "errors", "lines": 3}));
    assert!(few.ends_with("[stopped at 3 lines; use mode \"tail\" or a larger `lines` for more]\n"), "{few}");

    let metrics = f.ok("get_training_logs", json!({"mode": "METRICS"}));
    assert_eq!(
        metrics,
        "last 3 of 3 metric lines in the training log of iteration 3:\n\
         epoch 1 step 10 loss=2.31 lr=1.0e-03\nepoch 2 val_acc: 0.41 loss = 1.9\nloss=nan\n"
    );
    assert_eq!(f.err("get_training_logs", json!({"iteration": 7})), "iteration 7 has no training log");
    assert!(f.err("get_training_logs", json!({"mode": "all"})).contains("must be one of tail, errors, metrics"));
    assert!(f.err("get_training_logs", json!({"lines": 0})).contains("between 1 and 500"));
}

#[test]
fn errors_mode_separates_groups_and_says_when_there_are_none() {
    let mut lines: Vec<String> = (0..30).map(|i| format!("step {i}")).collect();
    lines[5] = "RuntimeError: CUDA error: out of memory".into();
    lines[20] = "Killed".into();
    let out = logs::errors(4, &lines, 100);
    let want = "2 error lines in the last 30 lines of the training log of iteration 4 (with context):\n\
                step 3\nstep 4\nRuntimeError: CUDA error: out of memory\nstep 6\nstep 7\nstep 8\n--\n\
                step 18\nstep 19\nKilled\nstep 21\nstep 22\nstep 23\n";
    assert_eq!(out, want);
    let calm: Vec<String> = ["loss=0.3", "errors=0", "info: ok", "error_rate: 0.1"].map(String::from).to_vec();
    assert!(logs::errors(1, &calm, 100).starts_with("no error lines"), "{}", logs::errors(1, &calm, 100));
}

#[test]
fn an_empty_log_is_reported_as_such() {
    let f = log_fixture("\n\n");
    assert_eq!(f.ok("get_training_logs", json!({})), "the training log of iteration 3 is empty");
}

#[test]
fn history_and_dispatch() {
    let f = Fixture::new(&[]);
    let all: Value = serde_json::from_str(&f.ok("get_history", json!({}))).unwrap_or_default();
    assert_eq!(all.as_array().map(Vec::len), Some(5));
    let last: Value = serde_json::from_str(&f.ok("get_history", json!({"last": 2}))).unwrap_or_default();
    assert_eq!(last[0]["iteration"], 3);
    assert!(f.err("get_history", json!({"last": -1})).contains("`last` must be a whole number"));
    assert!(f.err("rm_rf", json!({})).starts_with("unknown tool `rm_rf`"));
    assert!(f.err(SUBMIT_DECISION, json!({})).contains("answered by the agent"));
    // `null` arguments mean none.
    assert!(!f.run("list_directory", Value::Null).is_error);
}
