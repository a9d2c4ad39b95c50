//! Starting sessions: `revis loop` (a new session row, its worktree and baseline, then its
//! actor), `revis init` (a project's revis.yaml), and what a session wants from the user's shell.
//! A session row is inserted here, once; from then on only the session's actor writes it.

use std::path::{Path, PathBuf};

use crate::advisor::llm::{self, Credentials};
use crate::config::{self, Loaded};
use crate::states::AdvisorKind;
use crate::store::{self, NewEvent, NewIteration, NewSession, SessionRow};
use crate::{changes, workspace};

use super::worktree::{blocking, short};
use super::{Engine, EngineError, Result, names};

#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    pub project_dir: PathBuf,
    pub name: Option<String>,
    pub budget: Option<String>,
    pub max_iterations: Option<u32>,
    pub max_cost: Option<f64>,
    pub advisor: Option<String>,
    /// Trials at once (`--parallel`), over revis.yaml's `parallel`.
    pub parallel: Option<u32>,
    /// Provider variables from the CLI's environment (kept in memory only).
    pub env: Vec<(String, String)>,
}

pub struct Started {
    pub session: SessionRow,
    pub warnings: Vec<String>,
}

/// Loads the project's revis.yaml, with a pointer to `revis init` when there is none.
pub fn load_project_config(project: &Path) -> Result<Loaded> {
    let path = project.join(config::FILE_NAME);
    if !path.exists() {
        return Err(EngineError::InvalidArgument(format!(
            "no {} in {}; create one with `revis init`",
            config::FILE_NAME,
            project.display()
        )));
    }
    Ok(config::load(&path)?)
}

/// The names of the variables a session wants from the user's shell: the provider settings,
/// then the `coding_agent.env` names without a value. A config that does not load yet asks for
/// the provider settings alone (starting the session will report the config error).
pub fn session_variable_names(project: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        crate::secrets::PROVIDER_VARIABLES.iter().chain(revis_proto::CLOUD_VARIABLES).map(|n| n.to_string()).collect();
    if let Ok(loaded) = load_project_config(project) {
        for name in loaded.config.coding_agent.passed_variables() {
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// What a resuming or approving shell passed, kept to the names the session's config wants.
pub(super) fn session_credentials(session: &SessionRow, env: Vec<(String, String)>) -> Credentials {
    let names = session_variable_names(Path::new(&session.project));
    Credentials::new(env, names.iter().map(String::as_str))
}

pub(super) fn parse_budget(text: &str) -> Result<f64> {
    config::duration::parse_duration(text)
        .map(|d| d.as_secs_f64())
        .map_err(|e| EngineError::InvalidArgument(format!("--budget {text}: {e}")))
}

/// A model name (llm.model, or one of llm.fallback) that no family knows, as its key and why:
/// refused before anything runs. Its key and base are the session's business: a missing key
/// pauses the session until one is given.
fn unknown_model(config: &config::Config) -> Option<(String, String)> {
    let model = config.llm.model.trim();
    if !model.is_empty()
        && !model.eq_ignore_ascii_case("none")
        && let Some(problem) = llm::models::unknown_name(model)
    {
        return Some(("llm.model".into(), format!("llm.model: {problem}")));
    }
    config.llm.fallback.iter().enumerate().find_map(|(i, spec)| {
        llm::models::unknown_name(spec)
            .map(|problem| (format!("llm.fallback[{i}]"), format!("llm.fallback: {problem}")))
    })
}

/// A model whose family lacks a required setting (Azure's endpoint, Bedrock's region, a
/// Vertex project, a usable credential file), as its key and why: refused before anything
/// runs, unless the session will not call the model at all (`--advisor search`).
fn missing_setting(config: &config::Config, credentials: &Credentials) -> Option<(String, String)> {
    for (key, spec, api_base) in configured_models(config) {
        if let Err(e @ llm::chat::LlmError::Setting { .. }) =
            llm::models::resolve(spec, api_base, &|name| credentials.get(name))
        {
            let message = format!("{}: {e}", field_of(&key));
            return Some((key, message));
        }
    }
    None
}

/// The models a session may call, as (revis.yaml key, name, base): `llm.model` with
/// `llm.api_base`, then each of `llm.fallback`; blank names and `none` left out.
fn configured_models(config: &config::Config) -> impl Iterator<Item = (String, &str, Option<&str>)> {
    std::iter::once(("llm.model".to_string(), config.llm.model.as_str(), config.llm.api_base.as_deref()))
        .chain(config.llm.fallback.iter().enumerate().map(|(i, f)| (format!("llm.fallback[{i}]"), f.as_str(), None)))
        .map(|(key, spec, api_base)| (key, spec.trim(), api_base))
        .filter(|(_, spec, _)| !spec.is_empty() && !spec.eq_ignore_ascii_case("none"))
}

/// `llm.fallback` for `llm.fallback[2]`: how messages name the setting.
fn field_of(key: &str) -> &str {
    key.split('[').next().unwrap_or(key)
}

/// With `--max-cost`, a model whose calls cannot be priced (no built-in price, no `llm.pricing`)
/// would spend without limit: refused before anything runs, as its key and why. A name that
/// need not be the model that answers (an Azure deployment, a LiteLLM proxy's alias, a name on
/// a server of the user's own) is priced by the model that answers, so it is a warning instead
/// (the second value). A name whose key is missing is judged by its name alone: the session
/// will wait for the key, and the cap must hold once it comes.
fn unpriced_model(config: &config::Config, credentials: &Credentials) -> (Option<(String, String)>, Option<String>) {
    let overrides = llm::price_overrides(config);
    let mut warning = None;
    for (key, spec, api_base) in configured_models(config) {
        let (model, base_url) = match llm::models::resolve(spec, api_base, &|name| credentials.get(name)) {
            Ok(route) => (route.model, Some(route.base_url)),
            Err(_) => match llm::models::model_id(spec) {
                Some(model) => (model, None),
                None => continue,
            },
        };
        let base = base_url.as_deref().unwrap_or_default();
        if llm::pricing::price_of(spec, &model, base, &overrides).is_some() {
            continue;
        }
        if llm::models::named_freely(spec, base_url.as_deref().or(api_base)) {
            warning.get_or_insert_with(|| {
                format!(
                    "--max-cost: {spec} is priced by the model that answers; if Revis does not know that model's \
                     price, its calls are counted but not held by --max-cost (give it one in llm.pricing, \
                     {{input: 0, output: 0}} for a free local server)"
                )
            });
            continue;
        }
        let message = format!(
            "{}: {spec} has no known price, so --max-cost cannot hold its spend; give it one (USD per million \
             tokens):\n  llm:\n    pricing:\n      {spec}: {{input: 1.0, output: 3.0}}",
            field_of(&key)
        );
        return (Some((key, message)), None);
    }
    (None, warning)
}

/// `--advisor`, or the default: the LLM when it has a key (or an api_base), else the search
/// when a space is declared, else an error that says how to set up either.
fn choose_advisor(requested: Option<&str>, loaded: &Loaded, credentials: &Credentials) -> Result<AdvisorKind> {
    let has_space = !loaded.config.search.space.is_empty();
    let llm_ok = llm::is_available(&loaded.config, credentials);
    let space_hint = format!(
        "add a `search.space` to {} (the knobs it may change), e.g.\n  search:\n    space:\n      \
         lr: {{file: configs/base.yaml, key: optimizer.lr, low: 1.0e-5, high: 1.0e-1, log: true}}",
        loaded.path.display()
    );
    let requested = match requested.filter(|r| !r.is_empty()) {
        None => None,
        Some(word) => Some(word.parse::<AdvisorKind>().map_err(|_| {
            EngineError::InvalidArgument(format!("unknown advisor '{word}' (expected search, llm or hybrid)"))
        })?),
    };
    match requested {
        Some(AdvisorKind::Llm) if llm_ok => Ok(AdvisorKind::Llm),
        Some(AdvisorKind::Llm) => Err(EngineError::InvalidArgument(format!(
            "the llm advisor cannot run: {}",
            llm::unavailable_reason(&loaded.config, credentials)
        ))),
        Some(AdvisorKind::Hybrid) if llm_ok && has_space => Ok(AdvisorKind::Hybrid),
        Some(AdvisorKind::Hybrid) if !has_space => {
            Err(EngineError::InvalidArgument(format!("the hybrid advisor needs a search space: {space_hint}")))
        }
        Some(AdvisorKind::Hybrid) => Err(EngineError::InvalidArgument(format!(
            "the hybrid advisor consults the llm, which cannot run: {}",
            llm::unavailable_reason(&loaded.config, credentials)
        ))),
        Some(AdvisorKind::Search) if has_space => Ok(AdvisorKind::Search),
        Some(AdvisorKind::Search) => {
            Err(EngineError::InvalidArgument(format!("the search advisor needs a search space: {space_hint}")))
        }
        None if llm_ok => Ok(AdvisorKind::Llm),
        None if has_space => Ok(AdvisorKind::Search),
        None => Err(EngineError::InvalidArgument(format!(
            "no advisor can run: the llm advisor needs an API key ({}), and the offline search advisor needs a \
             search space: {space_hint}",
            llm::unavailable_reason(&loaded.config, credentials)
        ))),
    }
}

impl Engine {
    /// Loads and checks the revis.yaml of the project containing `dir` (off the async workers).
    pub async fn check_config(&self, dir: &Path) -> Result<Loaded> {
        let project = super::project_of(dir)?;
        blocking(move || load_project_config(&project)).await?
    }

    /// [`session_variable_names`] of a project, read off the async workers.
    pub async fn variable_names(&self, project: PathBuf) -> Result<Vec<String>> {
        blocking(move || session_variable_names(&project)).await
    }

    /// The config a new session stores: `--parallel` applied and every machine's
    /// `executor.gpus` made concrete (`all` listed, named devices checked with `nvidia-smi -L`
    /// where the trials run, over SSH for a box), so the session's slots never change after a
    /// restart.
    async fn session_config(
        &self,
        loaded: &Loaded,
        parallel: Option<u32>,
        text: Option<&str>,
    ) -> Result<config::Config> {
        let mut cfg = loaded.config.clone();
        if parallel == Some(0) {
            return Err(EngineError::InvalidArgument("--parallel must be at least 1".into()));
        }
        if parallel.is_some() {
            cfg.parallel = parallel;
        }
        let locate = |(key, message): (String, String)| {
            EngineError::from(config::located_error(&loaded.path, text.unwrap_or_default(), &key, message))
        };
        if cfg.executor.kind == config::ExecutorType::Slurm {
            // The cluster is asked now, so a partition, account or GRES it would refuse is
            // reported with its key before the baseline is submitted.
            let max_run = config::duration::parse_duration(&cfg.guardrails.max_run_duration)
                .map_err(|e| EngineError::InvalidArgument(format!("guardrails.max_run_duration: {e}")))?;
            self.check_slurm(&cfg.executor, max_run).await.map_err(locate)?;
            return Ok(cfg);
        }
        let boxes = cfg.executor.boxes();
        if boxes.is_empty() {
            if cfg.executor.gpus.is_some() {
                let devices = self.gpus_where(&cfg.executor, "executor", "this machine").await.map_err(locate)?;
                let per_trial = cfg.executor.gpus_per_trial;
                super::slots::resolve_gpus(&mut cfg.executor.gpus, per_trial, devices.as_ref(), "executor")
                    .map_err(locate)?;
            }
            return Ok(cfg);
        }
        for (i, b) in boxes.iter().enumerate() {
            if b.gpus.is_none() {
                continue;
            }
            let at =
                if cfg.executor.hosts.is_empty() { "executor".to_string() } else { format!("executor.hosts[{i}]") };
            let devices = self.gpus_where(&cfg.executor.for_box(b), &at, &b.host).await.map_err(locate)?;
            let per_trial = cfg.executor.gpus_per_trial;
            let target = match cfg.executor.hosts.get_mut(i) {
                Some(h) => &mut h.gpus,
                None => &mut cfg.executor.gpus,
            };
            super::slots::resolve_gpus(target, per_trial, devices.as_ref(), &at).map_err(locate)?;
        }
        Ok(cfg)
    }

    /// The GPUs `nvidia-smi -L` lists where `executor` runs trials (`None`: no nvidia-smi
    /// there). A problem is the key `at` and a message naming `machine`.
    async fn gpus_where(
        &self,
        executor: &config::Executor,
        at: &str,
        machine: &str,
    ) -> std::result::Result<Option<super::slots::Devices>, (String, String)> {
        let key = || format!("{at}.gpus");
        let exec = self
            .executor_for(executor, std::time::Duration::ZERO)
            .await
            .map_err(|e| (key(), format!("cannot reach {machine} to list its GPUs: {e}")))?;
        let listing =
            exec.gpu_listing().await.map_err(|e| (key(), format!("cannot list the GPUs of {machine}: {e}")))?;
        Ok(listing.as_deref().map(super::slots::parse_nvidia_smi))
    }

    pub async fn start_loop(&self, opts: StartOptions) -> Result<Started> {
        let project = super::project_of(&opts.project_dir)?;
        // The text as loaded is kept to notice later edits (reported, never applied).
        let (loaded, config_text) = {
            let project = project.clone();
            blocking(move || {
                load_project_config(&project).map(|loaded| {
                    let text = std::fs::read_to_string(&loaded.path).ok();
                    (loaded, text)
                })
            })
            .await??
        };
        if let Some((key, message)) = unknown_model(&loaded.config) {
            let text = config_text.as_deref().unwrap_or_default();
            return Err(config::located_error(&loaded.path, text, &key, message).into());
        }
        let credentials = Credentials::new(opts.env.clone(), loaded.config.coding_agent.passed_variables());
        let search_only = opts.advisor.as_deref().is_some_and(|a| a.trim().eq_ignore_ascii_case("search"));
        if !search_only && let Some((key, message)) = missing_setting(&loaded.config, &credentials) {
            let text = config_text.as_deref().unwrap_or_default();
            return Err(config::located_error(&loaded.path, text, &key, message).into());
        }
        let advisor = choose_advisor(opts.advisor.as_deref(), &loaded, &credentials)?;
        let mut price_warning = None;
        if opts.max_cost.is_some() && advisor != AdvisorKind::Search {
            let (refused, warning) = unpriced_model(&loaded.config, &credentials);
            if let Some((key, message)) = refused {
                let text = config_text.as_deref().unwrap_or_default();
                return Err(config::located_error(&loaded.path, text, &key, message).into());
            }
            price_warning = warning;
        }
        let budget_seconds = opts.budget.as_deref().filter(|b| !b.is_empty()).map(parse_budget).transpose()?;
        if opts.max_iterations == Some(0) {
            return Err(EngineError::InvalidArgument("--max-iterations must be at least 1".into()));
        }
        if let Some(cost) = opts.max_cost
            && !(cost.is_finite() && cost >= 0.0)
        {
            return Err(EngineError::InvalidArgument(format!("--max-cost {cost} must be a non-negative number")));
        }
        // Held until the session row exists: the name check, the worktree and the row are one
        // step for concurrent `revis loop`s.
        let workspaces = self.lock_workspaces().await;
        let name = match opts.name.filter(|n| !n.is_empty()) {
            Some(name) => {
                names::validate(&name).map_err(EngineError::InvalidArgument)?;
                let project_text = project.display().to_string();
                if store::sessions::by_project_name(self.store().pool(), &project_text, &name).await?.is_some() {
                    return Err(EngineError::AlreadyExists(format!(
                        "this project already has a session named '{name}'; pick another name or `revis delete {name}`"
                    )));
                }
                name
            }
            None => self.free_name(&project).await?,
        };

        let cfg = self.session_config(&loaded, opts.parallel, config_text.as_deref()).await?;
        let mut warnings = loaded.warnings.clone();
        warnings.extend(price_warning);
        let dirty = {
            let project = project.clone();
            blocking(move || workspace::uncommitted_changes(&project)).await??
        };
        if !dirty.is_empty() {
            let shown: Vec<&str> = dirty.iter().take(5).map(String::as_str).collect();
            let more = if dirty.len() > 5 { format!(" and {} more", dirty.len() - 5) } else { String::new() };
            warnings.push(format!(
                "uncommitted changes are not part of the session, which starts from your last commit: {}{more}",
                shown.join(", ")
            ));
        }
        let ws = {
            let (project, name, link) = (project.clone(), name.clone(), cfg.workspace.link.clone());
            blocking(move || workspace::create(&project, &name, &link)).await??
        };
        // The space must be readable in the session's own copy before anything is recorded.
        let params = match changes::current_params(&cfg.search.space, &ws.worktree, &cfg.entry.train) {
            Ok(params) => params,
            Err(e) => {
                let (project, name) = (project.clone(), name.clone());
                let _ = blocking(move || workspace::remove(&project, &name, false)).await;
                return Err(EngineError::InvalidArgument(format!(
                    "search.space in {} does not match the project: {e}",
                    loaded.path.display()
                )));
            }
        };
        let config_json =
            serde_json::to_string(&cfg).map_err(|e| EngineError::Internal(format!("serializing the config: {e}")))?;
        let new = NewSession {
            name: name.clone(),
            project: project.display().to_string(),
            branch: ws.branch.clone(),
            worktree: ws.worktree.display().to_string(),
            base_branch: ws.base_branch.clone(),
            base_commit: ws.base_commit.clone(),
            advisor,
            config_json,
            primary_metric: cfg.metrics.primary.clone(),
            minimize: cfg.metrics.minimize,
            target: cfg.metrics.target,
            budget_seconds,
            max_iterations: opts.max_iterations,
            max_cost: opts.max_cost,
            config_text,
            slots: u32::try_from(super::slots::plan(&cfg).len()).unwrap_or(1),
        };
        let mut tx = self.store().begin().await?;
        let id = store::sessions::insert(&mut tx, &new).await?;
        store::iterations::insert(
            &mut tx,
            id,
            &NewIteration {
                number: 0,
                command: cfg.entry.train.clone(),
                commit_sha: Some(ws.base_commit.clone()),
                change_summary: Some("baseline".into()),
                params_json: serde_json::Value::Object(params.into_iter().collect()).to_string(),
                ..NewIteration::default()
            },
        )
        .await?;
        let event = store::events::append(
            &mut tx,
            id,
            NewEvent::new(
                "session_started",
                None,
                format!(
                    "session {name} started on {} from {} ({}), optimizing {} ({})",
                    ws.branch,
                    ws.base_branch,
                    short(&ws.base_commit),
                    cfg.metrics.primary,
                    if cfg.metrics.minimize { "minimize" } else { "maximize" }
                ),
            )
            .with_data(serde_json::json!({"worktree": ws.worktree, "branch": ws.branch})),
        )
        .await?;
        tx.commit().await.map_err(|e| EngineError::Internal(format!("recording the session: {e}")))?;
        drop(workspaces);
        self.bus().publish(event);
        self.set_credentials(id, credentials);
        self.command(id, None);
        let session = store::sessions::get(self.store().pool(), id)
            .await?
            .ok_or_else(|| EngineError::Internal("session vanished after creation".into()))?;
        Ok(Started { session, warnings })
    }

    async fn free_name(&self, project: &Path) -> Result<String> {
        for _ in 0..50 {
            let name = names::generate();
            let taken = store::sessions::by_project_name(self.store().pool(), &project.display().to_string(), &name)
                .await?
                .is_some()
                || project.join(".revis/worktrees").join(&name).exists();
            if !taken {
                return Ok(name);
            }
        }
        Err(EngineError::Internal("could not find a free session name; pass --name".into()))
    }

    /// Writes revis.yaml for a project (non-interactive init) and ignores `.revis/` in git.
    pub async fn init_project(
        &self,
        dir: &Path,
        opts: config::template::InitOptions,
        force: bool,
    ) -> Result<(PathBuf, bool, Vec<String>)> {
        let project = super::project_of(dir)?;
        let path = project.join(config::FILE_NAME);
        if path.exists() && !force {
            return Err(EngineError::AlreadyExists(format!(
                "{} already exists; pass --force to replace it",
                path.display()
            )));
        }
        let text = config::template::render_init(&opts);
        // What init writes must load: check before touching the file.
        let loaded = config::load_str(&text, &path)?;
        let written = {
            let (path, project) = (path.clone(), project.clone());
            blocking(move || -> std::result::Result<bool, String> {
                let tmp = path.with_extension("yaml.tmp");
                std::fs::write(&tmp, &text).map_err(|e| format!("writing {}: {e}", tmp.display()))?;
                std::fs::rename(&tmp, &path).map_err(|e| format!("writing {}: {e}", path.display()))?;
                ensure_gitignored(&project).map_err(|e| format!("updating .gitignore: {e}"))
            })
            .await?
        };
        let updated = written.map_err(EngineError::Internal)?;
        Ok((path, updated, loaded.warnings))
    }
}

/// Adds `.revis/` to the project's .gitignore unless it is already ignored there.
fn ensure_gitignored(project: &Path) -> std::io::Result<bool> {
    let path = project.join(".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    if existing.lines().any(|l| matches!(l.trim(), ".revis" | ".revis/" | "/.revis" | "/.revis/")) {
        return Ok(false);
    }
    let mut text = existing;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(".revis/\n");
    std::fs::write(&path, text)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(llm: &str, vars: &[(&str, &str)]) -> (Option<(String, String)>, Option<String>) {
        let text = format!("entry:\n  train: python t.py\nmetrics:\n  primary: loss\nllm:\n{llm}");
        let loaded = config::load_str(&text, Path::new("revis.yaml")).expect("config");
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        unpriced_model(&loaded.config, &Credentials::new(vars, []))
    }

    const KEY: &[(&str, &str)] = &[("TOGETHERAI_API_KEY", "k"), ("GROQ_API_KEY", "k"), ("OPENAI_API_KEY", "k")];

    #[test]
    fn max_cost_refuses_a_model_without_a_price_by_its_key() {
        let (refused, _) = check("  model: together_ai/acme/model-7b\n", KEY);
        let (key, message) = refused.expect("refused");
        assert_eq!(key, "llm.model");
        assert!(message.contains("together_ai/acme/model-7b has no known price"), "{message}");
        let (refused, _) = check("  model: openai/gpt-4.1\n  fallback: [groq/acme-x]\n", KEY);
        assert_eq!(refused.map(|(key, _)| key).as_deref(), Some("llm.fallback[0]"));
        // A missing key does not hide it: the session would wait for the key, then spend.
        let (refused, _) = check("  model: together_ai/acme/model-7b\n", &[]);
        assert!(refused.is_some());
    }

    #[test]
    fn priced_free_and_freely_named_models_are_let_through() {
        for llm in [
            "  model: openai/gpt-4.1\n",
            "  model: together_ai/acme/model-7b\n  pricing:\n    together_ai/acme/model-7b: {input: 1, output: 2}\n",
            "  model: together_ai/acme/model-7b\n  pricing:\n    acme/model-7b: {input: 1, output: 2}\n",
            "  model: ollama/llama3.1\n",
            "  model: openai/local\n  api_base: http://127.0.0.1:8080/v1\n",
        ] {
            assert_eq!(check(llm, KEY), (None, None), "{llm}");
        }
        let azure: &[(&str, &str)] = &[("AZURE_API_KEY", "k"), ("AZURE_API_BASE", "https://r.openai.azure.com")];
        let proxy: &[(&str, &str)] = &[("LITELLM_PROXY_API_BASE", "http://proxy:4000")];
        for (llm, vars) in [
            ("  model: azure/my-deployment\n", azure),
            ("  model: litellm_proxy/team-model\n", proxy),
            ("  model: openai/served\n  api_base: http://gpu-box:8000/v1\n", &[]),
        ] {
            let (refused, warning) = check(llm, vars);
            assert!(refused.is_none(), "{llm}: {refused:?}");
            let warning = warning.unwrap_or_default();
            assert!(warning.contains("priced by the model that answers") && warning.contains("not held"), "{warning}");
        }
    }
}
