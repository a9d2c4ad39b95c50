//! `revis compare` and `revis export` against a real short search session: the comparison of
//! the baseline and the first iteration (changes, the git diff between their commits, metrics
//! with direction-aware deltas), and the JSON and CSV exports read back with a parser.

use revis_tests::session::{iteration, iterations, pretty};
use revis_tests::{TestEnv, standard_project};
use serde_json::Value;

#[test]
fn compare_and_export_a_finished_session() {
    let env = TestEnv::new(standard_project(&[]));
    env.start_loop("cmp", &["--max-iterations", "3"]);
    let s = env.wait_ended("cmp");
    let first = iteration(&s, 1).unwrap_or_else(|| panic!("no iteration 1: {}", pretty(&s)));

    check_compare_text(&env, &s, &first);
    check_compare_json(&env, &s, &first);
    check_export_json(&env, &s);
    check_export_csv(&env, &s);
    check_usage_errors(&env);
}

fn check_compare_text(env: &TestEnv, s: &Value, first: &Value) {
    let text = env.revis_ok(&["compare", "cmp", "0", "1"]);
    assert!(text.starts_with("cmp: #0 vs #1 — val_loss, lower is better\n"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when stdout is not a terminal: {text:?}");
    assert!(text.contains("#0  baseline"), "{text}");
    assert!(text.contains("val_loss (primary)") && text.contains("accuracy"), "{text}");
    let change = first["change"].as_str().unwrap_or_default();
    assert!(!change.is_empty() && text.contains(change.lines().next().unwrap_or_default()), "{text}");
    let base = &s["base_commit"].as_str().unwrap_or_default()[..10];
    assert!(text.contains(&format!("Code and config {base}")), "{text}");
    if edits_config(first) {
        assert!(text.contains("config.json |"), "the stat names the edited file: {text}");
        assert!(text.contains("-  \"lr\": 1.0,"), "the diff shows the old lr: {text}");
    }
}

fn check_compare_json(env: &TestEnv, s: &Value, first: &Value) {
    let c: Value = parse_json(&env.revis_ok(&["compare", "cmp", "0", "1", "--json"]));
    assert_eq!(c["schema_version"], 1, "{}", pretty(&c));
    assert_eq!(c["session"], "cmp");
    assert_eq!(c["primary"], "val_loss");
    assert_eq!(c["minimize"], true);
    assert_eq!(c["iterations"][0]["number"], 0);
    assert_eq!(c["iterations"][1]["number"], 1);
    assert_eq!(c["iterations"][1]["change"], first["change"]);
    assert_eq!(c["diff"]["from"], s["base_commit"], "{}", pretty(&c));
    assert!(c["diff"]["to"].as_str().is_some_and(|to| first["commit"].as_str().is_some_and(|f| to.starts_with(f))));
    assert_eq!(c["diff"]["error"], Value::Null, "{}", pretty(&c));
    if edits_config(first) {
        assert!(c["diff"]["text"].as_str().unwrap_or_default().contains("config.json"), "{}", pretty(&c));
    }

    let rows = c["metrics"].as_array().cloned().unwrap_or_default();
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["val_loss", "accuracy"], "{}", pretty(&c));
    let loss = &rows[0];
    let (a, b) = (loss["a"].as_f64().unwrap_or(f64::NAN), loss["b"].as_f64().unwrap_or(f64::NAN));
    assert_eq!(Some(a), iteration(s, 0).and_then(|it| it["primary"].as_f64()));
    assert_eq!(Some(b), first["primary"].as_f64());
    // serde_json's default float parsing may be off by an ulp: compare with a tolerance.
    let delta = loss["delta"].as_f64().unwrap_or(f64::NAN);
    assert!((delta - (b - a)).abs() <= 1e-12 * (1.0 + a.abs()), "{}", pretty(loss));
    let expected = if b < a {
        "better"
    } else if b > a {
        "worse"
    } else {
        "same"
    };
    assert_eq!(loss["verdict"], expected, "{}", pretty(loss));
    assert_eq!(loss["direction"], "minimize");
}

fn check_export_json(env: &TestEnv, s: &Value) {
    let e: Value = parse_json(&env.revis_ok(&["export", "cmp", "--format", "json"]));
    assert_eq!(e["schema_version"], 1);
    let session = &e["session"];
    for key in ["name", "project", "branch", "state", "stop_reason", "primary", "minimize", "baseline", "best"] {
        assert!(session.get(key).is_some(), "session.{key} missing: {}", pretty(session));
    }
    assert_eq!(session["name"], "cmp");
    assert_eq!(session["branch"], "revis/cmp");
    assert_eq!(session["state"], s["state"]);
    assert_eq!(session["primary"], "val_loss");
    assert_eq!(session["best"], s["best"]);
    assert!(session["spend"]["active_seconds"].is_f64(), "{}", pretty(session));

    let exported = e["iterations"].as_array().cloned().unwrap_or_default();
    assert_eq!(exported.len(), iterations(s).len(), "{}", pretty(&e));
    for (it, shown) in exported.iter().zip(iterations(s)) {
        assert_eq!(it["number"], shown["number"]);
        assert_eq!(it["outcome"], shown["outcome"]);
        assert_eq!(it["primary"], shown["primary"]);
        assert_eq!(it["metrics"]["val_loss"], shown["metrics"]["val_loss"]);
        assert_eq!(it["metrics"]["accuracy"], shown["metrics"]["accuracy"]);
        for key in [
            "commit",
            "change",
            "rationale",
            "hypothesis",
            "started_at",
            "ended_at",
            "duration_seconds",
            "llm_usd",
            "llm_unpriced_calls",
            "agent",
        ] {
            assert!(it.get(key).is_some(), "iteration.{key} missing: {}", pretty(it));
        }
    }

    // -o writes the same document to a file, and nothing to stdout.
    let path = env.project.scratch().join("export.json");
    let path_text = path.to_string_lossy().into_owned();
    let stdout = env.revis_ok(&["export", "cmp", "-o", &path_text]);
    assert!(stdout.is_empty(), "{stdout}");
    let from_file = parse_json(&std::fs::read_to_string(&path).unwrap_or_default());
    assert_eq!(from_file, e);
}

fn check_export_csv(env: &TestEnv, s: &Value) {
    let text = env.revis_ok(&["export", "cmp", "--format", "csv"]);
    let rows = parse_csv(&text);
    let (header, body) = rows.split_first().unwrap_or_else(|| panic!("empty CSV: {text:?}"));
    assert_eq!(&header[..5], ["session", "number", "state", "outcome", "primary"], "{header:?}");
    let metric_columns: Vec<&str> = header.iter().filter(|h| h.starts_with("metric.")).map(String::as_str).collect();
    assert_eq!(metric_columns, ["metric.accuracy", "metric.val_loss"], "{header:?}");
    assert_eq!(body.len(), iterations(s).len(), "{text}");
    let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    for (row, shown) in body.iter().zip(iterations(s)) {
        assert_eq!(row.len(), header.len(), "{row:?}");
        assert_eq!(row[column("session")], "cmp");
        assert_eq!(row[column("number")], shown["number"].to_string());
        assert!(close(&row[column("metric.val_loss")], &shown["metrics"]["val_loss"]), "{row:?}");
        assert!(close(&row[column("metric.accuracy")], &shown["metrics"]["accuracy"]), "{row:?}");
        assert!(close(&row[column("primary")], &shown["primary"]), "{row:?}");
        if shown["number"] != 0 {
            assert!(!row[column("changes")].is_empty(), "changes flattened into one cell: {row:?}");
        }
    }

    // The format follows the file extension when --format is not given.
    let path = env.project.scratch().join("iterations.csv");
    env.revis_ok(&["export", "cmp", "-o", &path.to_string_lossy()]);
    assert_eq!(std::fs::read_to_string(&path).unwrap_or_default(), text);
}

fn check_usage_errors(env: &TestEnv) {
    let out = env.revis(&["compare", "cmp", "0", "99"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("has no iteration 99"), "{out:?}");
    let out = env.revis(&["export", "cmp", "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// A CSV number against a JSON one, allowing for serde_json's last-ulp parsing error.
fn close(cell: &str, json: &Value) -> bool {
    match (cell.parse::<f64>().ok(), json.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
        (None, None) => cell.is_empty(),
        _ => false,
    }
}

fn edits_config(it: &Value) -> bool {
    it["changes"].as_array().is_some_and(|cs| cs.iter().any(|c| c["kind"] == "config_edit"))
}

fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("invalid JSON ({e}): {text}"))
}

/// RFC 4180: quoted fields may hold commas, doubled quotes and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field) = (Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(!quoted && field.is_empty() && row.is_empty(), "CSV does not end with a complete line: {text:?}");
    rows
}
