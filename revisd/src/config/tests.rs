//! Loading tests: the documented example, the earlier implementation's output, and one test per
//! error kind with the line it must point at.

use std::path::Path;

use super::*;

const SPEC_EXAMPLE: &str = r#"entry:
  train: python train.py --config configs/base.yaml   # required; run with sh -c in the worktree
  env: {WANDB_MODE: offline}                          # extra environment
  env_passthrough: [HF_HOME]                          # copied from the daemon's environment
  smoke: python train.py --config configs/base.yaml --max-steps 20   # used by verify; optional
executor:
  type: local            # local | ssh | slurm
  host: gpu-box          # ssh: a host or an alias from ~/.ssh/config
  user: ubuntu
  port: 22
  key_path: ~/.ssh/id_ed25519
  work_dir: ~/revis-work
metrics:
  source: eval_json      # eval_json | wandb | mlflow
  project: my-project    # wandb / mlflow experiment
  entity: my-team
  primary: val_loss
  minimize: true
  target: 0.25           # optional: stop when reached
guardrails:
  plateau_threshold: 0.01    # relative improvement that counts as progress
  plateau_runs: 3            # stop after this many iterations without progress
  max_run_duration: 24h      # per run; accepts 90s, 45m, 1h30m, 2.5h, 1d
  retry_budget: 3            # consecutive failed iterations before the session fails
  divergence_multiplier: 10
  divergence_detection_enabled: true
  plateau_detection_enabled: true
context:
  deny: [".env", "secrets/**", "data/**"]   # hidden from the LLM and from coding-agent prompts
  constraints: ["do not change the eval split"]
  history: 10                # iterations shown to the LLM in full; older ones are summarised
  log_tail_lines: 200
  max_agent_iterations: 20   # LLM round-trips per decision
llm:
  model: anthropic/claude-sonnet-4-5   # provider/model, LiteLLM style; "none" disables
  api_base: null                        # for OpenAI-compatible servers (vLLM, Ollama, LiteLLM proxy)
  fallback: [openai/gpt-4.1]
coding_agent:
  type: auto             # auto | claude-code | codex | aider | none
  auto_handoff: true     # false: pause and ask before handing off
  verify: true           # run entry.smoke (or a short run) after a code change; revert if it fails
search:                  # the offline advisor's space; also shown to the LLM as the known knobs
  strategy: tpe          # tpe | random | grid
  seed: 0
  space:
    lr:         {file: configs/base.yaml, key: optimizer.lr, low: 1.0e-5, high: 1.0e-1, log: true}
    batch_size: {arg: --batch-size, values: [32, 64, 128]}
workspace:
  mode: worktree         # the only mode: each session runs in its own git worktree
  link: [data, .venv]    # extra entries linked into the worktree (ignored top-level entries are linked by default)
"#;

const PYTHON_INIT: &str = "entry:
  train: python train.py --config configs/base.yaml
metrics:
  source: wandb
  project: my-project
  entity: null
  primary: val_loss
  minimize: true
executor:
  type: local
guardrails:
  plateau_threshold: 0.01
  plateau_runs: 3
  max_run_duration: 24h
  retry_budget: 3
  divergence_multiplier: 10.0
  nan_detection_enabled: true
  divergence_detection_enabled: true
  plateau_detection_enabled: true
context:
  deny: []
  constraints:
  history: 10
  log_tail_lines: 200
coding_agent:
  type: auto
  auto_handoff: true
  verify: true
llm:
  model: anthropic/claude-sonnet-4-20250514
artifacts:
  checkpoints: []
github:
  auto_pr: false
";

/// The two required keys on lines 1-4; test snippets start on line 5.
fn minimal(extra: &str) -> String {
    format!("entry:\n  train: python t.py\nmetrics:\n  primary: loss\n{extra}")
}

fn load_text(text: &str) -> Result<Loaded, ConfigError> {
    load_str(text, Path::new("revis.yaml"))
}

fn error_of(text: &str) -> ConfigError {
    match load_text(text) {
        Ok(loaded) => panic!("expected an error, loaded {:?}", loaded.config),
        Err(e) => e,
    }
}

/// Asserts the error's line and that its message contains `needle`.
#[track_caller]
fn assert_error(text: &str, line: usize, needle: &str) -> ConfigError {
    let err = error_of(text);
    assert_eq!(err.line(), Some(line), "wrong line for: {err}");
    assert!(err.to_string().contains(needle), "'{err}' does not mention '{needle}'");
    assert!(err.to_string().starts_with(&format!("revis.yaml:{line}:")), "{err}");
    err
}

#[test]
fn the_spec_example_loads() -> Result<(), ConfigError> {
    let loaded = load_text(SPEC_EXAMPLE)?;
    let c = &loaded.config;
    assert_eq!(c.entry.train, "python train.py --config configs/base.yaml");
    assert_eq!(c.entry.env.get("WANDB_MODE").map(String::as_str), Some("offline"));
    assert_eq!(c.entry.env_passthrough, ["HF_HOME"]);
    assert_eq!(c.executor.port, Some(22));
    assert_eq!(c.metrics.target, Some(0.25));
    assert_eq!(c.guardrails.divergence_multiplier, 10.0);
    assert_eq!(c.context.deny.len(), 3);
    assert_eq!(c.llm.api_base, None);
    assert_eq!(c.llm.fallback, ["openai/gpt-4.1"]);
    assert_eq!(c.workspace.link, ["data", ".venv"]);
    assert_eq!(loaded.max_run_duration, Duration::from_secs(86_400));
    assert!(loaded.warnings.is_empty());
    let lr = &c.search.space["lr"];
    assert_eq!((lr.low, lr.high, lr.log), (Some(1.0e-5), Some(1.0e-1), true));
    assert_eq!(lr.kind, Some(ParamKind::Float));
    let batch = &c.search.space["batch_size"];
    assert_eq!(batch.arg.as_deref(), Some("--batch-size"));
    assert_eq!(batch.values.as_ref().map(Vec::len), Some(3));
    Ok(())
}

#[test]
fn the_python_implementations_init_file_loads_with_warnings_for_inert_sections() -> Result<(), ConfigError> {
    let loaded = load_text(PYTHON_INIT)?;
    assert_eq!(loaded.config.metrics.source, MetricsSourceType::Wandb);
    assert_eq!(loaded.config.metrics.entity, None);
    assert!(loaded.config.context.constraints.is_empty());
    assert_eq!(loaded.config.context.max_agent_iterations, 20);
    assert_eq!(loaded.warnings.len(), 3);
    assert!(loaded.warnings[0].starts_with("revis.yaml:31:1: section 'artifacts'"), "{:?}", loaded.warnings);
    assert!(loaded.warnings[1].starts_with("revis.yaml:33:1: section 'github'"), "{:?}", loaded.warnings);
    assert!(
        loaded.warnings[2].starts_with("revis.yaml:17:3: guardrails.nan_detection_enabled has no effect"),
        "{:?}",
        loaded.warnings
    );
    Ok(())
}

#[test]
fn empty_constraints_is_an_empty_list() -> Result<(), ConfigError> {
    let loaded = load_text(&minimal("context:\n  constraints:\n  history: 4\n"))?;
    assert!(loaded.config.context.constraints.is_empty());
    assert_eq!(loaded.config.context.history, 4);
    Ok(())
}

#[test]
fn defaults_fill_everything_not_written() -> Result<(), ConfigError> {
    let loaded = load_text(&minimal("executor:\n"))?;
    assert_eq!(loaded.config.guardrails, Guardrails::default());
    assert_eq!(loaded.config.executor.kind, ExecutorType::Local);
    assert!(loaded.config.metrics.minimize);
    Ok(())
}

#[test]
fn unknown_key_names_line_column_section_and_closest_key() {
    let text = minimal("guardrails:\n  plateau_runs: 3\n  plateau_run: 4\n");
    let err = assert_error(&text, 7, "unknown key");
    assert_eq!(
        err.to_string(),
        "revis.yaml:7:3: unknown key 'plateau_run' in 'guardrails' (did you mean 'plateau_runs'?)"
    );
    assert_eq!(err.column(), Some(3));
    assert_eq!(err.key(), Some("guardrails.plateau_run"));
}

#[test]
fn unknown_keys_at_top_level_and_in_flow_mappings() {
    assert_error(
        &minimal("guardrail:\n  plateau_runs: 3\n"),
        5,
        "unknown key 'guardrail' at the top level (did you mean 'guardrails'?)",
    );
    let space = "search:\n  space:\n    lr: {file: a.yaml, key: x, lo: 1, high: 2}\n";
    let err = assert_error(&minimal(space), 7, "unknown key 'lo' in 'search.space.lr' (did you mean 'low'?)");
    assert_eq!(err.column(), Some(32));
    assert_error(&minimal("zzzzzzzzzz: 1\n"), 5, "expected one of: entry,");
}

#[test]
fn type_errors_name_the_dotted_key_and_line() {
    let err = assert_error(
        &minimal("guardrails:\n  plateau_runs: many\n"),
        6,
        "guardrails.plateau_runs: expected a non-negative integer, found string \"many\"",
    );
    assert_eq!(err.key(), Some("guardrails.plateau_runs"));
    assert_error(&minimal("guardrails:\n  plateau_runs: -1\n"), 6, "guardrails.plateau_runs");
    assert_error(&minimal("context:\n  deny: .env\n"), 6, "context.deny: expected a list");
    assert_error(&minimal("metrics2: 1\n"), 5, "unknown key");
    assert_error(&minimal("executor:\n  port: 70000\n"), 6, "executor.port");
    assert_error(&minimal("context:\n  deny: [[a]]\n"), 6, "context.deny[0]: expected a string");
}

#[test]
fn unknown_enum_values_suggest_the_closest() {
    assert_error(&minimal("executor:\n  type: sshh\n"), 6, "executor.type: unknown value 'sshh' (did you mean 'ssh'?)");
    assert_error(&minimal("coding_agent:\n  type: claude\n"), 6, "coding_agent.type: unknown value 'claude'");
}

#[test]
fn missing_required_keys_point_at_their_section() {
    let err = assert_error("entry:\n  smoke: x\nmetrics:\n  primary: loss\n", 1, "missing required key 'entry.train'");
    assert_eq!(err.key(), Some("entry.train"));
    assert_error("entry:\n  train: x\nmetrics:\n  source: wandb\n", 3, "missing required key 'metrics.primary'");
    let err = error_of("entry:\n  train: x\n");
    assert!(err.to_string().contains("missing required section 'metrics'"), "{err}");
}

#[test]
fn yaml_syntax_and_shape_errors_have_positions() {
    let err = error_of("entry:\n  train: [unclosed\nmetrics:\n  primary: x\n");
    assert!(err.line().is_some() && err.to_string().contains("invalid YAML"), "{err}");
    assert_error(&minimal("entry:\n  train: y\n"), 5, "duplicate key 'entry' (first defined on line 1)");
    assert!(error_of("").to_string().starts_with("revis.yaml: the file is empty"));
    assert!(error_of("- a\n- b\n").to_string().contains("expected a mapping of sections"));
}

#[test]
fn io_errors_name_the_path() {
    let dir = tempfile::tempdir().map_err(|e| e.to_string());
    let Ok(dir) = dir else { panic!("tempdir") };
    let missing = dir.path().join("revis.yaml");
    let err = load(&missing).err();
    let Some(err) = err else { panic!("missing file loaded") };
    assert!(matches!(err, ConfigError::Io { .. }));
    assert!(err.to_string().starts_with(&format!("{}: cannot read", missing.display())), "{err}");
    assert_eq!(err.line(), None);
}

#[test]
fn load_reads_a_file_and_keeps_its_path() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, PYTHON_INIT)?;
    let loaded = load(&path)?;
    assert_eq!(loaded.path, path);
    assert!(loaded.warnings[0].starts_with(&path.display().to_string()));
    Ok(())
}

#[test]
fn semantic_errors_point_at_the_offending_key() {
    let cases: &[(&str, usize, &str)] = &[
        ("entry:\n  train: \"  \"\nmetrics:\n  primary: loss\n", 2, "entry.train must not be empty"),
        ("entry:\n  train: x\nmetrics:\n  primary: ''\n", 4, "metrics.primary must not be empty"),
        ("executor:\n  type: ssh\n", 6, "executor.host is not set"),
        ("guardrails:\n  max_run_duration: soon\n", 6, "guardrails.max_run_duration: duration 'soon'"),
        ("guardrails:\n  max_run_duration: 0s\n", 6, "must be greater than 0"),
        ("guardrails:\n  plateau_threshold: -0.1\n", 6, "plateau_threshold must be 0 or more"),
        ("guardrails:\n  plateau_runs: 0\n", 6, "plateau_runs must be at least 1"),
        ("guardrails:\n  retry_budget: 0\n", 6, "retry_budget must be at least 1"),
        ("guardrails:\n  divergence_multiplier: 1\n", 6, "divergence_multiplier must be greater than 1"),
        ("guardrails:\n  replicates: 0\n", 6, "replicates must be at least 1"),
        ("context:\n  deny:\n    - ok/**\n    - 'bad[glob'\n", 8, "context.deny: invalid pattern 'bad[glob'"),
        ("context:\n  frozen: [eval.py, 'eval[.py']\n", 6, "context.frozen: invalid pattern 'eval[.py'"),
        ("workspace:\n  link: [data, /abs]\n", 6, "must be relative"),
        ("workspace:\n  link:\n    - ../up\n", 7, "must not contain '..'"),
    ];
    for (snippet, line, needle) in cases {
        let text = if snippet.starts_with("entry:") { snippet.to_string() } else { minimal(snippet) };
        assert_error(&text, *line, needle);
    }
}

#[test]
fn patterns_are_checked_as_the_session_compiles_them() {
    // Found by the `config_load` fuzz target: `a\/` is a valid glob, so the config was
    // accepted, but the deny list reads the trailing `/` as "directory" and is left with a
    // dangling `\`: the session then failed at its first LLM decision.
    for list in ["deny", "frozen"] {
        let err = assert_error(&minimal(&format!("context:\n  {list}:\n    - 'a\\/'\n")), 7, "invalid pattern 'a\\/'");
        assert_eq!(err.key().map(str::to_string), Some(format!("context.{list}[0]")));
    }
}

#[test]
fn environment_variable_names_must_be_identifiers() {
    let env = "entry:\n  train: x\n  env:\n    GOOD_1: a\n    1BAD: b\nmetrics:\n  primary: loss\n";
    assert_error(env, 5, "'1BAD' is not a valid environment variable name");
    let pass = "entry:\n  train: x\n  env_passthrough: [HF_HOME, MY-VAR]\nmetrics:\n  primary: loss\n";
    let err = assert_error(pass, 3, "'MY-VAR'");
    assert_eq!(err.key(), Some("entry.env_passthrough[1]"));
}

fn space(param: &str) -> String {
    minimal(&format!("search:\n  space:\n    p: {param}\n"))
}

#[test]
fn search_space_parameters_need_one_valid_target() {
    let cases = [
        ("{low: 1, high: 2}", "needs a target"),
        ("{file: a.yaml, key: x, arg: --x, low: 1, high: 2}", "not both"),
        ("{arg: x, low: 1, high: 2}", "must be an option name starting with '-'"),
        ("{arg: '--', low: 1, high: 2}", "must be an option name"),
        ("{file: a.yaml, low: 1, high: 2}", "'file' needs 'key'"),
        ("{key: a.b, low: 1, high: 2}", "'key' needs 'file'"),
        ("{file: /etc/a.yaml, key: x, low: 1, high: 2}", "must be relative"),
        ("{file: ../a.yaml, key: x, low: 1, high: 2}", "must not contain '..'"),
        ("{file: conf/a.txt, key: x, low: 1, high: 2}", "must be a .yaml, .yml or .json file"),
        ("{file: a.json, key: 'a..b', low: 1, high: 2}", "must be a dotted key"),
    ];
    for (param, needle) in cases {
        assert_error(&space(param), 7, needle);
    }
}

#[test]
fn search_space_parameters_need_one_valid_domain() {
    let cases = [
        ("{arg: --x}", "needs a range"),
        ("{arg: --x, low: 1, high: 2, values: [1]}", "not both"),
        ("{arg: --x, low: 1}", "'low' needs 'high'"),
        ("{arg: --x, high: 1}", "'high' needs 'low'"),
        ("{arg: --x, low: 2, high: 2}", "'low' (2) must be less than 'high' (2)"),
        ("{arg: --x, low: 0, high: 1, log: true}", "log range needs 'low' greater than 0"),
        ("{arg: --x, low: 0.5, high: 4, type: int}", "type int needs whole-number bounds"),
        ("{arg: --x, low: 0.1, high: 1, step: 0}", "step must be greater than 0"),
        ("{arg: --x, low: 0.1, high: 1, grid_points: 1}", "grid_points must be at least 2"),
        ("{arg: --x, values: []}", "values must not be empty"),
        ("{arg: --x, values: [1, [2]]}", "each value must be a number, a string or a boolean"),
        ("{arg: --x, values: [1, null]}", "each value must be"),
        ("{arg: --x, values: [a, b], log: true}", "'log' applies only to a range"),
    ];
    for (param, needle) in cases {
        assert_error(&space(param), 7, needle);
    }
}

#[test]
fn range_type_follows_how_the_bounds_were_written() -> Result<(), ConfigError> {
    let kind = |param: &str| -> Result<Option<ParamKind>, ConfigError> {
        Ok(load_text(&space(param))?.config.search.space["p"].kind)
    };
    assert_eq!(kind("{arg: --x, low: 1, high: 8}")?, Some(ParamKind::Int));
    assert_eq!(kind("{arg: --x, low: 1.0, high: 8}")?, Some(ParamKind::Float));
    assert_eq!(kind("{arg: --x, low: 1, high: 8, type: float}")?, Some(ParamKind::Float));
    assert_eq!(kind("{arg: --x, values: [a, true, 3]}")?, None);
    Ok(())
}

#[test]
fn grid_accepts_float_ranges_without_step_using_default_points() -> Result<(), ConfigError> {
    let text = minimal("search:\n  strategy: grid\n  space:\n    lr: {arg: --lr, low: 0.1, high: 0.5}\n");
    let loaded = load_text(&text)?;
    assert_eq!(loaded.config.search.strategy, SearchStrategy::Grid);
    assert_eq!(loaded.config.search.space["lr"].grid_points, None);
    Ok(())
}

#[test]
fn yaml_1_1_booleans_and_numeric_strings_are_read_sensibly() -> Result<(), ConfigError> {
    let text = "entry:\n  train: x\nmetrics:\n  primary: 2024\ncoding_agent:\n  verify: no\n";
    let loaded = load_text(text)?;
    assert!(!loaded.config.coding_agent.verify);
    assert_eq!(loaded.config.metrics.primary, "2024");
    Ok(())
}

#[test]
fn error_display_has_no_position_when_none_is_known() {
    let err = ConfigError::invalid(Path::new("x/revis.yaml"), None, None, "boom".into());
    assert_eq!(err.to_string(), "x/revis.yaml: boom");
    assert_eq!((err.line(), err.column(), err.key()), (None, None, None));
}

#[test]
fn coding_agent_model_endpoint_env_and_args() {
    let text = minimal(
        "coding_agent:\n  type: aider\n  model: openai/gpt-4.1\n  api_base: http://127.0.0.1:8000/v1\n  env:\n    \
         GEMINI_API_KEY:\n    AIDER_EDIT_FORMAT: diff\n  args:\n    aider: [--map-tokens, '0']\n    codex: [--oss]\n",
    );
    let loaded = load_text(&text).unwrap();
    let agent = &loaded.config.coding_agent;
    assert_eq!(agent.model.as_deref(), Some("openai/gpt-4.1"));
    assert_eq!(agent.api_base.as_deref(), Some("http://127.0.0.1:8000/v1"));
    assert_eq!(agent.env.get("GEMINI_API_KEY"), Some(&None));
    assert_eq!(agent.env.get("AIDER_EDIT_FORMAT"), Some(&Some("diff".to_string())));
    assert_eq!(agent.passed_variables().collect::<Vec<_>>(), ["GEMINI_API_KEY"]);
    assert_eq!(agent.args.aider, ["--map-tokens", "0"]);
    assert_eq!(agent.args.codex, ["--oss"]);
    assert!(agent.args.claude_code.is_empty());
}

#[test]
fn coding_agent_settings_are_checked_with_their_line() {
    assert_error(&minimal("coding_agent:\n  api_base: localhost:8000\n"), 6, "coding_agent.api_base must be an http");
    assert_error(&minimal("coding_agent:\n  env:\n    BAD-NAME: x\n"), 7, "not a valid environment variable name");
    assert_error(&minimal("coding_agent:\n  args:\n    claude: [--x]\n"), 7, "unknown key 'claude'");
    assert_error(&minimal("coding_agent:\n  model: ''\n"), 6, "coding_agent.model must not be empty");
}

/// Fix 5: a `context.frozen` pattern that does not compile is refused at load, with its file,
/// line, key and why, instead of switching the frozen-file check off later.
#[test]
fn an_invalid_frozen_pattern_is_refused_with_its_key_and_reason() {
    let err = assert_error(
        &minimal("context:\n  frozen:\n    - eval.py\n    - 'eval[.py'\n"),
        8,
        "context.frozen: invalid pattern 'eval[.py': unclosed character class",
    );
    assert_eq!(err.key(), Some("context.frozen[1]"));
}

/// Fix 7: there is no in-place mode; saying so names the file, line and key, and why.
#[test]
fn workspace_mode_in_place_is_refused() {
    for written in ["in-place", "'in-place'"] {
        let err = assert_error(
            &minimal(&format!("workspace:\n  link: [data]\n  mode: {written}\n")),
            7,
            "workspace.mode: 'in-place' is not supported: sessions always run in their own git worktree",
        );
        assert_eq!(err.key(), Some("workspace.mode"));
        assert!(err.to_string().contains("parallel trials never share a checkout"), "{err}");
    }
    assert_error(&minimal("workspace:\n  mode: inplace\n"), 6, "workspace.mode: unknown value 'inplace'");
    let loaded = load_text(&minimal("workspace:\n  mode: worktree\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.config.workspace.mode, WorkspaceMode::Worktree);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
}

/// Sessions made while `in-place` was accepted stored it in their config; they ran in a
/// worktree anyway, and must still resume.
#[test]
fn a_stored_config_that_says_in_place_still_reads() {
    let loaded = load_text(&minimal("")).unwrap_or_else(|e| panic!("{e}"));
    let mut stored = serde_json::to_value(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
    stored["workspace"]["mode"] = serde_json::json!("in-place");
    stored["guardrails"]["nan_detection_enabled"] = serde_json::json!(false);
    let config: Config = serde_json::from_value(stored).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.workspace.mode, WorkspaceMode::Worktree);
    assert_eq!(config, loaded.config);
}

/// Fix 7: `guardrails.nan_detection_enabled` does nothing; a file that still has it loads,
/// with a warning that names file, line and key.
#[test]
fn nan_detection_enabled_loads_with_a_warning() {
    for value in ["false", "true"] {
        let text = minimal(&format!("guardrails:\n  plateau_runs: 3\n  nan_detection_enabled: {value}\n"));
        let loaded = load_text(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            loaded.warnings,
            ["revis.yaml:7:3: guardrails.nan_detection_enabled has no effect and can be removed: a NaN or infinite \
              primary metric always fails the iteration"]
        );
        assert_eq!(loaded.config.guardrails, Guardrails::default());
        let stored = serde_json::to_string(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
        assert!(!stored.contains("nan_detection"), "{stored}");
    }
}
