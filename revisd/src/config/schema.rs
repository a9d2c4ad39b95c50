//! The revis.yaml schema: plain serde types. Loading, validation and error reporting live in
//! `load.rs`; this file only says what may be written and what each key defaults to.
//!
//! Every struct denies unknown fields so a typo is reported with its line and the closest key.

use indexmap::IndexMap;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub entry: Entry,
    #[serde(default)]
    pub executor: Executor,
    pub metrics: Metrics,
    #[serde(default)]
    pub guardrails: Guardrails,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub llm: Llm,
    #[serde(default)]
    pub coding_agent: CodingAgent,
    #[serde(default)]
    pub search: Search,
    #[serde(default)]
    pub workspace: Workspace,
    /// At most this many trials at once (`revis loop --parallel` overrides it); absent: as
    /// many as the executor's slots hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel: Option<u32>,
    /// Inert sections of the earlier implementation: accepted with a warning.
    #[serde(default, skip_serializing)]
    pub artifacts: Option<serde_norway::Value>,
    #[serde(default, skip_serializing)]
    pub github: Option<serde_norway::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Run with `sh -c` in the worktree.
    pub train: String,
    #[serde(default)]
    pub env: IndexMap<String, String>,
    #[serde(default)]
    pub env_passthrough: Vec<String>,
    #[serde(default)]
    pub smoke: Option<String>,
    /// The training's seed argument (`--seed`): every run gets `<seed_arg> <REVIS_SEED>`
    /// appended, so replicate and confirmation runs differ only in their seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed_arg: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorType {
    #[default]
    Local,
    Ssh,
    /// Each trial a Slurm job (`sbatch`), here or through the `login` host.
    Slurm,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Executor {
    #[serde(default, rename = "type")]
    pub kind: ExecutorType,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub key_path: Option<String>,
    #[serde(default)]
    pub work_dir: Option<String>,
    /// The GPUs trials may use (`all`: every device `nvidia-smi -L` lists). Absent: trials
    /// get no `CUDA_VISIBLE_DEVICES` and run one at a time unless `slots` says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus_per_trial: Option<u32>,
    /// Trials at once on a machine without GPUs (`gpus` sets the slots when given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    /// Dollars per GPU-hour: trials' GPU time counts toward `--max-cost` at this price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_gpu_hour: Option<f64>,
    /// Several SSH boxes, each with its own GPUs (`type: ssh`; instead of `host`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<Host>,
    /// How long a host of `hosts` may stay unreachable before its slots are retired (its
    /// running trials fail; the connection is retried with backoff). Default 2m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_timeout: Option<String>,
    /// `type: slurm`: the SSH alias (or host) where `sbatch` runs; absent: this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// `--gres` as written (`gpu:a100:1`); instead of `gpus_per_trial`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus_per_task: Option<u32>,
    /// `--mem` as Slurm reads it (`64G`, `500M`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// The job's time limit (`2h`, or Slurm's own `1-12:00:00`); default
    /// `guardrails.max_run_duration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<String>,
    /// Shell lines the job runs before the training command (`module load cuda/12.4`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<String>,
    /// Further `sbatch` options, passed through as `#SBATCH` lines (`--exclusive`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sbatch: Vec<String>,
    /// How often a Slurm job's state and log are looked at (default 10s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval: Option<String>,
}

/// One SSH box of `executor.hosts`. Unset connection fields fall back to `executor`'s own.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
    /// Trials at once on this host when it has no `gpus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_per_gpu_hour: Option<f64>,
}

impl Executor {
    /// The SSH boxes trials run on: `hosts`, or the one `host` (with `gpus` and `slots`).
    /// Empty for local runs.
    pub fn boxes(&self) -> Vec<Host> {
        if self.kind != ExecutorType::Ssh {
            return Vec::new();
        }
        if !self.hosts.is_empty() {
            return self.hosts.clone();
        }
        self.host
            .iter()
            .map(|host| Host {
                host: host.clone(),
                user: None,
                port: None,
                key_path: None,
                work_dir: None,
                gpus: self.gpus.clone(),
                slots: self.slots,
                cost_per_gpu_hour: self.cost_per_gpu_hour,
            })
            .collect()
    }

    /// The executor settings of one box: its connection fields over this executor's.
    pub fn for_box(&self, b: &Host) -> Executor {
        Executor {
            kind: ExecutorType::Ssh,
            host: Some(b.host.clone()),
            user: b.user.clone().or_else(|| self.user.clone()),
            port: b.port.or(self.port),
            key_path: b.key_path.clone().or_else(|| self.key_path.clone()),
            work_dir: b.work_dir.clone().or_else(|| self.work_dir.clone()),
            gpus: b.gpus.clone(),
            gpus_per_trial: self.gpus_per_trial,
            slots: b.slots,
            cost_per_gpu_hour: b.cost_per_gpu_hour.or(self.cost_per_gpu_hour),
            hosts: Vec::new(),
            host_timeout: self.host_timeout.clone(),
            ..Executor::default()
        }
    }
}

/// `executor.gpus`: `all`, or the devices by index or UUID (`[0, 1]`, `["GPU-6f1c…"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gpus {
    All,
    List(Vec<String>),
}

impl Serialize for Gpus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Gpus::All => serializer.serialize_str("all"),
            Gpus::List(ids) => ids.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GpusVisitor;
        impl<'de> serde::de::Visitor<'de> for GpusVisitor {
            type Value = Gpus;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("'all' or a list of GPU indexes or UUIDs")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Gpus, E> {
                if v == "all" { Ok(Gpus::All) } else { Err(E::invalid_value(serde::de::Unexpected::Str(v), &self)) }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Gpus, A::Error> {
                let mut ids = Vec::new();
                while let Some(id) = seq.next_element::<GpuId>()? {
                    ids.push(id.0);
                }
                Ok(Gpus::List(ids))
            }
        }
        deserializer.deserialize_any(GpusVisitor)
    }
}

/// One device of `executor.gpus`: an index (`0`) or a UUID or MIG name (a string).
struct GpuId(String);

impl<'de> Deserialize<'de> for GpuId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = GpuId;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a GPU index or UUID")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<GpuId, E> {
                Ok(GpuId(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<GpuId, E> {
                if v < 0 {
                    return Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self));
                }
                Ok(GpuId(v.to_string()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<GpuId, E> {
                Ok(GpuId(v.trim().to_string()))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum MetricsSourceType {
    #[default]
    EvalJson,
    Wandb,
    Mlflow,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Metrics {
    #[serde(default)]
    pub source: MetricsSourceType,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub entity: Option<String>,
    #[serde(default)]
    pub tracking_uri: Option<String>,
    pub primary: String,
    #[serde(default = "yes")]
    pub minimize: bool,
    #[serde(default)]
    pub target: Option<f64>,
    /// A second metric the advisor never sees (not in prompts, history, tools or the logs it
    /// reads), kept for promoted trials only and shown beside the primary: a check that gains
    /// on the primary are not overfitting to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holdout: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Guardrails {
    #[serde(default = "default_plateau_threshold")]
    pub plateau_threshold: f64,
    #[serde(default = "default_plateau_runs")]
    pub plateau_runs: u32,
    /// Duration text: 90s, 45m, 1h30m, 2.5h, 1d. Parsed by `config::duration`.
    #[serde(default = "default_max_run_duration")]
    pub max_run_duration: String,
    #[serde(default = "default_retry_budget")]
    pub retry_budget: u32,
    #[serde(default = "default_divergence_multiplier")]
    pub divergence_multiplier: f64,
    /// Retired: a NaN or infinite primary metric always fails the iteration. The key is still
    /// read, whatever its value, so that older files and the configs stored with existing
    /// sessions load; `config::load` warns that it does nothing. Never written.
    #[serde(default, rename = "nan_detection_enabled", skip_serializing)]
    pub retired_nan_detection_enabled: IgnoredAny,
    #[serde(default = "yes")]
    pub divergence_detection_enabled: bool,
    #[serde(default = "yes")]
    pub plateau_detection_enabled: bool,
    /// Baseline runs used to measure the noise floor (1 = no replicates).
    #[serde(default = "one")]
    pub replicates: u32,
    /// Time between SIGTERM and SIGKILL when a run is stopped, timed out or deleted: room for
    /// the training to save a checkpoint.
    #[serde(default = "default_kill_grace")]
    pub kill_grace: String,
    /// A trial that would become the new best is run this many more times (each with its own
    /// `REVIS_SEED`) and promoted only when the mean of its runs beats the best beyond the
    /// noise under Welch's t-test at `alpha`. 0: one run decides.
    #[serde(default)]
    pub confirm: u32,
    /// The significance level of that test.
    #[serde(default = "default_alpha")]
    pub alpha: f64,
    /// Stop a run early from the progress it reports (`$REVIS_OUTPUT_DIR/progress.jsonl`):
    /// `median` (the median stopping rule) or `asha` (successive halving at `rungs`).
    #[serde(default)]
    pub early_stop: EarlyStop,
    /// `median`: no run is stopped before this step.
    #[serde(default)]
    pub min_steps: f64,
    /// Earlier runs that must have reached a step before it is judged.
    #[serde(default = "default_min_runs")]
    pub min_runs: u32,
    /// `asha`: the steps at which runs are compared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rungs: Vec<f64>,
    /// `asha`: each rung keeps the best 1/reduction_factor of the runs that reached it.
    #[serde(default = "default_reduction_factor")]
    pub reduction_factor: u32,
}

/// `guardrails.early_stop`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EarlyStop {
    #[default]
    None,
    Median,
    Asha,
}

fn default_min_runs() -> u32 {
    3
}

fn default_reduction_factor() -> u32 {
    3
}

fn default_alpha() -> f64 {
    0.05
}

impl Default for Guardrails {
    fn default() -> Self {
        Self {
            plateau_threshold: default_plateau_threshold(),
            plateau_runs: default_plateau_runs(),
            max_run_duration: default_max_run_duration(),
            retry_budget: default_retry_budget(),
            divergence_multiplier: default_divergence_multiplier(),
            retired_nan_detection_enabled: IgnoredAny,
            divergence_detection_enabled: true,
            plateau_detection_enabled: true,
            replicates: 1,
            kill_grace: default_kill_grace(),
            confirm: 0,
            alpha: default_alpha(),
            early_stop: EarlyStop::None,
            min_steps: 0.0,
            min_runs: default_min_runs(),
            rungs: Vec::new(),
            reduction_factor: default_reduction_factor(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Context {
    #[serde(default)]
    pub deny: Vec<String>,
    /// `constraints:` with an empty value (written by the earlier implementation) is an empty list.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub constraints: Vec<String>,
    #[serde(default = "default_history")]
    pub history: u32,
    #[serde(default = "default_log_tail_lines")]
    pub log_tail_lines: u32,
    #[serde(default = "default_max_agent_iterations")]
    pub max_agent_iterations: u32,
    /// Files that define the evaluation (globs): visible, but no advisor or agent may change them.
    #[serde(default)]
    pub frozen: Vec<String>,
}

impl Default for Context {
    fn default() -> Self {
        Self {
            deny: Vec::new(),
            constraints: Vec::new(),
            history: default_history(),
            log_tail_lines: default_log_tail_lines(),
            max_agent_iterations: default_max_agent_iterations(),
            frozen: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Llm {
    /// provider/model, LiteLLM style; "none" disables the LLM advisor.
    #[serde(default = "default_model")]
    pub model: String,
    #[serde(default)]
    pub api_base: Option<String>,
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Per-request timeout (duration text), like the SDKs' 10 minutes.
    #[serde(default = "default_request_timeout")]
    pub request_timeout: String,
    /// Retries of one request (429, 5xx, timeouts) before the next fallback model.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Prices in USD per million tokens, by model (`anthropic/claude-…` or the bare id); they
    /// override the built-in table.
    #[serde(default)]
    pub pricing: IndexMap<String, ModelPrice>,
    /// `--advisor hybrid`: the LLM decides one trial in this many (the search advisor the
    /// others), and sooner when no trial has improved for half of `guardrails.plateau_runs`.
    #[serde(default = "default_consult_every")]
    pub consult_every: u32,
}

fn default_consult_every() -> u32 {
    10
}

impl Default for Llm {
    fn default() -> Self {
        Self {
            consult_every: default_consult_every(),
            model: default_model(),
            api_base: None,
            fallback: Vec::new(),
            request_timeout: default_request_timeout(),
            max_retries: default_max_retries(),
            pricing: IndexMap::new(),
        }
    }
}

/// USD per million tokens.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: Option<f64>,
    #[serde(default)]
    pub cache_write: Option<f64>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CodingAgentType {
    #[default]
    Auto,
    ClaudeCode,
    Codex,
    Aider,
    None,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CodingAgent {
    #[serde(default, rename = "type")]
    pub kind: CodingAgentType,
    #[serde(default = "yes")]
    pub auto_handoff: bool,
    #[serde(default = "yes")]
    pub verify: bool,
    /// How long one handoff may take (duration text).
    #[serde(default = "default_agent_timeout")]
    pub timeout: String,
    /// Turn cap passed to agents that have one (Claude Code's --max-turns).
    #[serde(default = "default_agent_max_turns")]
    pub max_turns: u32,
    /// How long the verify run may take; without `entry.smoke`, a training run still going at
    /// this point counts as verified.
    #[serde(default = "default_verify_timeout")]
    pub verify_timeout: String,
    /// The agent's model. LiteLLM style (`anthropic/claude-sonnet-4-5`, `openai/gpt-5-codex`)
    /// or the agent's own name for it. Unset: `llm.model` when the agent can call that
    /// provider, else the agent's own default.
    #[serde(default)]
    pub model: Option<String>,
    /// The endpoint the agent calls, instead of the provider base URL of the session
    /// (`ANTHROPIC_BASE_URL`, `OPENAI_BASE_URL`). `llm.api_base` is the advisor's alone.
    #[serde(default)]
    pub api_base: Option<String>,
    /// Extra environment for the agent. A value is set as given; an empty value (`NAME:`)
    /// is taken from the shell that ran `revis loop` / `revis resume`, like the provider keys.
    #[serde(default)]
    pub env: IndexMap<String, Option<String>>,
    /// Extra command-line arguments, per agent, appended after Revis's own.
    #[serde(default)]
    pub args: AgentArgs,
}

/// `coding_agent.args`: extra arguments for each agent (only the one that runs uses its list).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AgentArgs {
    #[serde(default)]
    pub claude_code: Vec<String>,
    #[serde(default)]
    pub codex: Vec<String>,
    #[serde(default)]
    pub aider: Vec<String>,
}

impl CodingAgent {
    /// The names in `coding_agent.env` whose values come from the user's shell.
    pub fn passed_variables(&self) -> impl Iterator<Item = &str> {
        self.env.iter().filter(|(_, value)| value.is_none()).map(|(name, _)| name.as_str())
    }
}

impl Default for CodingAgent {
    fn default() -> Self {
        Self {
            kind: CodingAgentType::Auto,
            auto_handoff: true,
            verify: true,
            timeout: default_agent_timeout(),
            max_turns: default_agent_max_turns(),
            verify_timeout: default_verify_timeout(),
            model: None,
            api_base: None,
            env: IndexMap::new(),
            args: AgentArgs::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SearchStrategy {
    #[default]
    Tpe,
    Random,
    Grid,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Search {
    #[serde(default)]
    pub strategy: SearchStrategy,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub space: IndexMap<String, SearchParam>,
}

/// One knob of the search space: where it lives (a config-file key or a CLI argument) and the
/// values it may take (a numeric range or a list of categorical values).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SearchParam {
    /// Config file (YAML or JSON) relative to the project root; requires `key`.
    #[serde(default)]
    pub file: Option<String>,
    /// Dotted key inside `file`, e.g. `optimizer.lr`.
    #[serde(default)]
    pub key: Option<String>,
    /// CLI argument of the training command, e.g. `--batch-size`.
    #[serde(default)]
    pub arg: Option<String>,
    #[serde(default)]
    pub low: Option<f64>,
    #[serde(default)]
    pub high: Option<f64>,
    #[serde(default)]
    pub log: bool,
    /// `int` or `float`; by default `int` when both bounds are written as integers.
    #[serde(default, rename = "type")]
    pub kind: Option<ParamKind>,
    /// Grid spacing for numeric ranges (`grid` strategy, and rounding for `int`).
    #[serde(default)]
    pub step: Option<f64>,
    /// Number of grid points for a float range without `step` (default 5).
    #[serde(default)]
    pub grid_points: Option<u32>,
    /// Categorical values (numbers, strings, booleans).
    #[serde(default)]
    pub values: Option<Vec<serde_json::Value>>,
}

impl SearchParam {
    /// Whether a range parameter holds integers: `type: int`, or no type and integral bounds
    /// (what `type` defaults to when the file was loaded from text).
    pub fn is_int(&self) -> bool {
        match self.kind {
            Some(ParamKind::Int) => true,
            Some(ParamKind::Float) => false,
            None => self.values.is_none() && [self.low, self.high].iter().all(|b| b.is_some_and(|x| x.fract() == 0.0)),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    Int,
    Float,
}

/// Where a session works. There is one answer: in its own git worktree, so that parallel trials
/// never share a checkout and the user's checkout is never touched.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum WorkspaceMode {
    /// `in-place` was once accepted but never implemented: those sessions ran in a worktree
    /// too. The alias lets the configs stored with them load; a revis.yaml that says
    /// `in-place` is refused by `validate`.
    #[default]
    #[serde(alias = "in-place")]
    Worktree,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Workspace {
    /// Only `worktree`; the key may be left out.
    #[serde(default)]
    pub mode: WorkspaceMode,
    #[serde(default)]
    pub link: Vec<String>,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn default_plateau_threshold() -> f64 {
    0.01
}
fn default_plateau_runs() -> u32 {
    3
}
fn default_kill_grace() -> String {
    "10s".to_string()
}
fn default_max_run_duration() -> String {
    "24h".to_string()
}
fn default_retry_budget() -> u32 {
    3
}
fn default_divergence_multiplier() -> f64 {
    10.0
}
fn default_history() -> u32 {
    10
}
fn default_log_tail_lines() -> u32 {
    200
}
fn default_max_agent_iterations() -> u32 {
    20
}
fn default_agent_timeout() -> String {
    "30m".to_string()
}
fn default_agent_max_turns() -> u32 {
    30
}
fn default_verify_timeout() -> String {
    "10m".to_string()
}
fn default_request_timeout() -> String {
    "10m".to_string()
}
fn default_max_retries() -> u32 {
    2
}
fn default_model() -> String {
    "anthropic/claude-sonnet-4-5".to_string()
}

fn null_as_empty<'de, D>(de: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<Vec<String>>::deserialize(de)?.unwrap_or_default())
}
