//! The commented revis.yaml that `revis init` writes: every section present with its defaults
//! and a one-line reason, so a user can edit rather than look up keys. It must always load
//! (tested below); user text is written as double-quoted YAML with every special character
//! escaped. It does not ask questions or write files: the CLI does.

use std::fmt::Write as _;

/// The answers `revis init` collected.
#[derive(Debug, Clone, PartialEq)]
pub struct InitOptions {
    pub train: String,
    pub primary: String,
    pub maximize: bool,
    pub target: Option<f64>,
    /// `executor: ssh` on this host (an alias from ~/.ssh/config or a host name).
    pub ssh_host: Option<String>,
    pub work_dir: Option<String>,
    /// eval_json (None) | wandb | mlflow, with where its runs live.
    pub metrics_source: Option<String>,
    pub metrics_project: Option<String>,
    pub metrics_entity: Option<String>,
    pub tracking_uri: Option<String>,
    /// auto (None) | claude-code | codex | aider | none
    pub coding_agent: Option<String>,
    /// context.deny globs.
    pub deny: Vec<String>,
    /// `executor: slurm` (with `ssh_host` as its login host when set).
    pub slurm: bool,
    pub partition: Option<String>,
}

/// A double-quoted YAML scalar: safe for any text (quotes, `#`, `: `, `$`, newlines, control or
/// line-separator characters that YAML would otherwise treat specially).
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `text` as a YAML string: plain when that is unambiguous (`val_loss`, `python train.py`),
/// double-quoted otherwise (anything with `:`, `#`, quotes, `$`, or that would read as a number,
/// boolean or null).
pub fn yaml_string(text: &str) -> String {
    let safe_chars = text.chars().all(|c| c.is_ascii_alphanumeric() || " _./=+-,".contains(c));
    let safe_start = text.starts_with(|c: char| c.is_ascii_alphabetic() || "_./".contains(c));
    let reads_as_string = !is_number_bool_or_null(text);
    if safe_chars && safe_start && reads_as_string && text.trim() == text { text.to_string() } else { quote(text) }
}

/// Scalars a YAML 1.1 or 1.2 reader could type as something other than a string.
fn is_number_bool_or_null(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let words = ["null", "true", "false", "yes", "no", "on", "off", "y", "n"];
    words.contains(&lower.as_str()) || lower.starts_with('.') || lower.parse::<f64>().is_ok()
}

/// An answer the loader refuses: the InitProjectRequest field it came from (when one did) and
/// why, without a file position (the file is not written).
#[derive(Debug, Clone, PartialEq)]
pub struct RefusedAnswer {
    pub field: Option<&'static str>,
    pub message: String,
}

/// Checks the answers exactly as the file `render_init` makes of them will be loaded (context.deny
/// globs compiled as a session compiles them, known sources and agents, ...), so that a refusal
/// can name the answer instead of a line of a file nobody saw.
pub fn check_answers(opts: &InitOptions) -> Result<(), RefusedAnswer> {
    match super::load_str(&render_init(opts), std::path::Path::new(super::FILE_NAME)) {
        Ok(_) => Ok(()),
        Err(e) => Err(RefusedAnswer { field: e.key().and_then(answer_field), message: e.message() }),
    }
}

/// The InitProjectRequest field that fills `key` (a dotted key, `context.deny[2]` included).
fn answer_field(key: &str) -> Option<&'static str> {
    let base = key.split('[').next().unwrap_or(key);
    Some(match base {
        "entry.train" => "train",
        "metrics.primary" => "primary",
        "metrics.target" => "target",
        "metrics.source" => "metrics_source",
        "metrics.project" => "metrics_project",
        "metrics.entity" => "metrics_entity",
        "metrics.tracking_uri" => "tracking_uri",
        "executor.type" | "executor.host" => "ssh_host",
        "executor.work_dir" => "work_dir",
        "executor.login" => "ssh_host",
        "executor.partition" => "partition",
        "coding_agent.type" => "coding_agent",
        "context.deny" => "deny",
        _ => return None,
    })
}

/// `executor: slurm`: each trial a job, submitted here or through the login host.
fn slurm_executor(opts: &InitOptions) -> String {
    let login = match &opts.ssh_host {
        Some(host) => format!("  login: {}   # where sbatch runs (an alias from ~/.ssh/config)\n", quote(host)),
        None => "  # login: hpc-login          # where sbatch runs; absent: this machine\n".to_string(),
    };
    let partition = match &opts.partition {
        Some(p) => format!("  partition: {}\n", quote(p)),
        None => "  # partition: gpu\n".to_string(),
    };
    format!(
        "executor:\n  type: slurm                   # local | ssh | slurm: each trial a Slurm job\n{login}  \
         work_dir: {}   # on the cluster's shared filesystem\n{partition}  \
         # account: my-lab\n  # qos: normal\n  gpus_per_trial: 1             # --gres=gpu:1 (or gres: \"gpu:a100:1\")\n  \
         # cpus_per_task: 8\n  # mem: 64G\n  # time: 2h                    # default: guardrails.max_run_duration\n  \
         # constraint: a100\n  # setup: [\"module load cuda/12.4\", \"source .venv/bin/activate\"]\n  \
         # sbatch: [\"--exclusive\"]     # any other sbatch options\n\
         # parallel: 8                   # jobs in flight at once\n",
        quote(opts.work_dir.as_deref().unwrap_or("~/revis-work"))
    )
}

pub fn render_init(opts: &InitOptions) -> String {
    let target = match opts.target {
        Some(t) if t.is_finite() => {
            format!("  target: {t:?}                 # stop the session once this value is reached\n")
        }
        _ => "  # target: 0.25             # optional: stop the session once this value is reached\n".to_string(),
    };
    let executor = match &opts.ssh_host {
        _ if opts.slurm => slurm_executor(opts),
        Some(host) => format!(
            "executor:\n  type: ssh                     # local | ssh\n  host: {}   # a host or an alias from ~/.ssh/config\n  \
             # user: ubuntu\n  # port: 22\n  # key_path: ~/.ssh/id_ed25519\n  work_dir: {}   # where sessions live on the host\n",
            quote(host),
            quote(opts.work_dir.as_deref().unwrap_or("~/revis-work"))
        ),
        None => "executor:\n  type: local                   # local | ssh\n  \
                 # host: gpu-box               # ssh: a host or an alias from ~/.ssh/config\n  # user: ubuntu\n  \
                 # port: 22\n  # key_path: ~/.ssh/id_ed25519\n  # work_dir: ~/revis-work\n"
            .to_string(),
    };
    let source = opts.metrics_source.as_deref().unwrap_or("eval_json");
    let mut metrics_source = format!("  source: {}   # eval_json | wandb | mlflow\n", quote(source));
    let optional = [
        ("project", &opts.metrics_project, "my-project", "wandb project / mlflow experiment"),
        ("entity", &opts.metrics_entity, "my-team", "wandb entity (team or user)"),
        ("tracking_uri", &opts.tracking_uri, "http://127.0.0.1:5000", "mlflow tracking server"),
    ];
    for (key, value, example, what) in optional {
        match value {
            Some(v) => metrics_source.push_str(&format!("  {key}: {}   # {what}\n", quote(v))),
            None => metrics_source.push_str(&format!("  # {key}: {example}   # {what}\n")),
        }
    }
    let deny = format!("[{}]", opts.deny.iter().map(|d| quote(d)).collect::<Vec<_>>().join(", "));
    let coding_agent = quote(opts.coding_agent.as_deref().unwrap_or("auto"));
    format!(
        r#"# revis.yaml: how Revis runs, measures and changes your training.
# Every key below shows its default; delete what you do not need.

entry:
  train: {train}   # run with `sh -c` in the session's worktree
  env: {{}}                       # extra environment, e.g. {{WANDB_MODE: offline}}
  env_passthrough: []           # variables copied from the daemon's environment, e.g. [HF_HOME]
  # smoke: python train.py --max-steps 20   # short run used to verify code changes

{executor}
metrics:
{metrics_source}  primary: {primary}
  minimize: {minimize}
{target}
guardrails:
  plateau_threshold: 0.01       # relative improvement that counts as progress
  plateau_runs: 3               # stop after this many iterations without progress
  max_run_duration: 24h         # per run: 90s, 45m, 1h30m, 2.5h, 1d
  retry_budget: 3               # consecutive failed iterations before the session fails
  divergence_multiplier: 10     # a loss this many times the baseline counts as diverged
  divergence_detection_enabled: true
  plateau_detection_enabled: true
  replicates: 1                 # baseline runs used to measure run-to-run noise
  kill_grace: 10s               # SIGTERM, then SIGKILL this much later (stop, timeout, delete)

context:
  deny: {deny}   # globs hidden from the LLM and coding agents, e.g. [".env", "data/**"]
  constraints: []               # rules the advisor must follow, e.g. ["do not change the eval split"]
  history: 10                   # iterations shown to the LLM in full
  log_tail_lines: 200
  max_agent_iterations: 20      # LLM round-trips per decision

llm:
  model: anthropic/claude-sonnet-4-5   # provider/model; "none" disables the LLM advisor
  api_base: null                       # for OpenAI-compatible servers (vLLM, Ollama, ...)
  fallback: []

coding_agent:
  type: {coding_agent}   # auto | claude-code | codex | aider | none
  auto_handoff: true            # false: pause and ask before handing off a code change
  verify: true                  # run entry.smoke after a code change; revert it if that fails

search:                         # the offline advisor's space; also shown to the LLM
  strategy: tpe                 # tpe | random | grid
  seed: 0
  space: {{}}
  # space:
  #   lr:         {{file: configs/base.yaml, key: optimizer.lr, low: 1.0e-5, high: 1.0e-1, log: true}}
  #   batch_size: {{arg: --batch-size, values: [32, 64, 128]}}

workspace:
  mode: worktree                # each session works in its own git worktree (the only mode)
  link: []                      # extra entries linked into the worktree, e.g. [data, .venv]
"#,
        train = yaml_string(&opts.train),
        primary = yaml_string(&opts.primary),
        minimize = !opts.maximize,
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::{ConfigError, load_str};

    fn opts(train: &str) -> InitOptions {
        InitOptions {
            train: train.into(),
            primary: "val_loss".into(),
            maximize: false,
            target: None,
            ssh_host: None,
            work_dir: None,
            metrics_source: None,
            metrics_project: None,
            metrics_entity: None,
            tracking_uri: None,
            coding_agent: None,
            deny: Vec::new(),
            slurm: false,
            partition: None,
        }
    }

    #[test]
    fn a_slurm_executor_is_written_with_its_login_host_and_partition() -> Result<(), ConfigError> {
        let text = render_init(&InitOptions {
            slurm: true,
            ssh_host: Some("hpc-login".into()),
            partition: Some("gpu".into()),
            work_dir: Some("/scratch/me/revis".into()),
            ..opts("python train.py")
        });
        let loaded = load_str(&text, Path::new("revis.yaml"))?;
        let e = &loaded.config.executor;
        assert_eq!(e.kind, crate::config::ExecutorType::Slurm);
        assert_eq!((e.login.as_deref(), e.partition.as_deref()), (Some("hpc-login"), Some("gpu")));
        assert_eq!((e.work_dir.as_deref(), e.gpus_per_trial), (Some("/scratch/me/revis"), Some(1)));
        let here = render_init(&InitOptions { slurm: true, ..opts("python train.py") });
        assert_eq!(load_str(&here, Path::new("revis.yaml"))?.config.executor.login, None);
        Ok(())
    }

    #[test]
    fn rendered_file_loads_with_the_answers_given() -> Result<(), ConfigError> {
        let text = render_init(&InitOptions {
            train: "python train.py --config configs/base.yaml".into(),
            primary: "eval/accuracy".into(),
            maximize: true,
            target: Some(0.9),
            ssh_host: Some("gpu-box".into()),
            work_dir: None,
            metrics_source: Some("wandb".into()),
            metrics_project: Some("my-project".into()),
            metrics_entity: None,
            tracking_uri: None,
            coding_agent: Some("none".into()),
            deny: vec![".env".into(), "data/**".into()],
            slurm: false,
            partition: None,
        });
        let loaded = load_str(&text, Path::new("revis.yaml"))?;
        assert_eq!(loaded.config.executor.host.as_deref(), Some("gpu-box"));
        assert_eq!(loaded.config.metrics.source, crate::config::MetricsSourceType::Wandb);
        assert_eq!(loaded.config.metrics.project.as_deref(), Some("my-project"));
        assert_eq!(loaded.config.coding_agent.kind, crate::config::CodingAgentType::None);
        assert_eq!(loaded.config.context.deny, vec![".env".to_string(), "data/**".to_string()]);
        assert_eq!(loaded.config.entry.train, "python train.py --config configs/base.yaml");
        assert_eq!(loaded.config.metrics.primary, "eval/accuracy");
        assert!(!loaded.config.metrics.minimize);
        assert_eq!(loaded.config.metrics.target, Some(0.9));
        assert!(loaded.config.search.space.is_empty());
        assert!(loaded.warnings.is_empty());
        Ok(())
    }

    /// Every key the template writes does something: no warning for an inert key, no value
    /// that is refused (Fix 7: `nan_detection_enabled` and `in-place` are gone).
    #[test]
    fn the_default_template_loads_without_warnings() -> Result<(), ConfigError> {
        let text = render_init(&opts("python train.py"));
        let loaded = load_str(&text, Path::new("revis.yaml"))?;
        assert_eq!(loaded.warnings, Vec::<String>::new());
        for retired in ["nan_detection_enabled", "in-place"] {
            assert!(!text.contains(retired), "the template mentions {retired}");
        }
        Ok(())
    }

    #[test]
    fn tricky_commands_round_trip_exactly() -> Result<(), ConfigError> {
        for train in [
            r#"python train.py --name "run #1" --tag 'a: b' --out $HOME/x"#,
            "sh -c \"echo \\\"hi\\\"\" # not a comment",
            "- looks like a list: {and: a map} [x] & *alias !tag %dir @at `tick`",
            "tab\there\nnewline and unicode \u{2028} é",
        ] {
            let loaded = load_str(&render_init(&opts(train)), Path::new("revis.yaml"))?;
            assert_eq!(loaded.config.entry.train, train);
        }
        Ok(())
    }

    #[test]
    fn plain_strings_stay_plain_and_ambiguous_ones_are_quoted() {
        assert_eq!(yaml_string("val_loss"), "val_loss");
        assert_eq!(yaml_string("python train.py --config a.yaml"), "python train.py --config a.yaml");
        for ambiguous in ["yes", "No", "null", "1e5", ".inf", "a: b", "x #y", "-x", " pad", "$HOME", ""] {
            assert!(yaml_string(ambiguous).starts_with('"'), "{ambiguous}");
        }
    }

    #[test]
    fn metric_names_that_look_like_other_types_round_trip() -> Result<(), ConfigError> {
        for primary in ["true", "2024", "null", "eval/acc", "loss: total"] {
            let mut o = opts("python train.py");
            o.primary = primary.into();
            let loaded = load_str(&render_init(&o), Path::new("revis.yaml"))?;
            assert_eq!(loaded.config.metrics.primary, primary);
        }
        Ok(())
    }

    #[test]
    fn refused_answers_name_their_request_field_without_a_position() {
        let mut o = opts("python train.py");
        o.deny = vec![".env".into(), "data/[".into()];
        let refused = check_answers(&o).err();
        assert_eq!(refused.as_ref().and_then(|r| r.field), Some("deny"));
        let message = refused.map(|r| r.message).unwrap_or_default();
        assert!(message.contains("'data/['") && !message.contains("revis.yaml"), "{message}");

        let mut o = opts("python train.py");
        o.metrics_source = Some("tensorboard".into());
        assert_eq!(check_answers(&o).err().and_then(|r| r.field), Some("metrics_source"));
        let mut o = opts("python train.py");
        o.coding_agent = Some("cursor".into());
        assert_eq!(check_answers(&o).err().and_then(|r| r.field), Some("coding_agent"));
        assert_eq!(check_answers(&opts(" ")).err().and_then(|r| r.field), Some("train"));
        assert_eq!(check_answers(&opts("python train.py")), Ok(()));
    }

    #[test]
    fn target_is_written_only_when_given_and_finite() -> Result<(), ConfigError> {
        let mut o = opts("python train.py");
        o.target = Some(1e-5);
        assert_eq!(load_str(&render_init(&o), Path::new("r.yaml"))?.config.metrics.target, Some(1e-5));
        o.target = Some(f64::NAN);
        assert_eq!(load_str(&render_init(&o), Path::new("r.yaml"))?.config.metrics.target, None);
        Ok(())
    }
}
