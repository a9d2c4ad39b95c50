//! Semantic checks on a `Config` that deserialized cleanly: values in range, paths that stay
//! inside the project, names the shell will accept. Each failure names the dotted key it is
//! about so the loader can give its line. The search space has its own file (`space.rs`).
//! Nothing here reads the filesystem or the environment.

use std::time::Duration;

use super::duration::parse_duration;
use super::index::KeyIndex;
use super::schema::{CodingAgent, Config, ExecutorType};
use super::space::check_space;
use crate::path_policy::{Deny, PolicyError};

/// One validation failure: the dotted key it concerns and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub key: String,
    pub message: String,
}

impl Issue {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// Checks everything and returns the parsed `guardrails.max_run_duration`. May fill in derived
/// defaults (see `check_space`).
pub fn validate(config: &mut Config, index: &KeyIndex) -> Result<Duration, Issue> {
    check_entry(config)?;
    if config.metrics.primary.trim().is_empty() {
        return Err(Issue::new("metrics.primary", "metrics.primary must not be empty"));
    }
    if let Some(holdout) = &config.metrics.holdout {
        if holdout.trim().is_empty() {
            return Err(Issue::new("metrics.holdout", "metrics.holdout must not be empty"));
        }
        if holdout == &config.metrics.primary {
            return Err(Issue::new(
                "metrics.holdout",
                format!("metrics.holdout is {holdout}, the primary metric: the holdout must be another metric"),
            ));
        }
    }
    if config.metrics.target.is_some_and(|t| !t.is_finite()) {
        return Err(Issue::new("metrics.target", "metrics.target must be a finite number"));
    }
    let host_missing = config.executor.host.as_deref().is_none_or(|h| h.trim().is_empty());
    if config.executor.kind == ExecutorType::Ssh && host_missing && config.executor.hosts.is_empty() {
        return Err(Issue::new(
            "executor.type",
            "executor.type is ssh but executor.host is not set (name one host, or several under executor.hosts)",
        ));
    }
    check_hosts(config)?;
    super::slurm::check(config)?;
    check_slots(config)?;
    let max_run_duration = check_guardrails(config)?;
    for (list, patterns) in [("deny", &config.context.deny), ("frozen", &config.context.frozen)] {
        for (i, pattern) in patterns.iter().enumerate() {
            // Compiled exactly as the session will (gitignore-like translation included), so a
            // pattern accepted here never fails later: `a\/` is a valid glob, but not once the
            // trailing `/` is read as "directory".
            if let Err(e) = Deny::new(std::slice::from_ref(pattern)) {
                let reason = match e {
                    PolicyError::BadPattern { reason, .. } => reason,
                    other => other.to_string(),
                };
                let key = format!("context.{list}[{i}]");
                return Err(Issue::new(key, format!("context.{list}: invalid pattern '{pattern}': {reason}")));
            }
        }
    }
    for (key, text) in [
        ("coding_agent.timeout", &config.coding_agent.timeout),
        ("coding_agent.verify_timeout", &config.coding_agent.verify_timeout),
    ] {
        match parse_duration(text) {
            Ok(d) if !d.is_zero() => {}
            Ok(_) => return Err(Issue::new(key, format!("{key} must be greater than 0"))),
            Err(e) => return Err(Issue::new(key, format!("{key}: {e}"))),
        }
    }
    check_coding_agent(&config.coding_agent)?;
    // The schema reads `in-place` as `worktree` for the sake of stored sessions (see
    // `WorkspaceMode`); a file that asks for it is told it does not exist.
    if index.scalar("workspace.mode") == Some("in-place") {
        return Err(Issue::new(
            "workspace.mode",
            "workspace.mode: 'in-place' is not supported: sessions always run in their own git worktree \
             (.revis/worktrees/<name>), so parallel trials never share a checkout; remove the key or write 'worktree'",
        ));
    }
    for (i, link) in config.workspace.link.iter().enumerate() {
        if let Some(problem) = relative_path_problem(link) {
            return Err(Issue::new(format!("workspace.link[{i}]"), format!("workspace.link: '{link}' {problem}")));
        }
    }
    check_space(&mut config.search, index)?;
    Ok(max_run_duration)
}

fn check_coding_agent(agent: &CodingAgent) -> Result<(), Issue> {
    if agent.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
        return Err(Issue::new("coding_agent.model", "coding_agent.model must not be empty when given"));
    }
    if let Some(base) = agent.api_base.as_deref() {
        let base = base.trim();
        if !(base.starts_with("http://") || base.starts_with("https://")) || base.len() <= "https://".len() {
            return Err(Issue::new(
                "coding_agent.api_base",
                format!("coding_agent.api_base must be an http:// or https:// URL (got '{base}')"),
            ));
        }
    }
    for name in agent.env.keys() {
        if !is_env_name(name) {
            return Err(Issue::new(
                format!("coding_agent.env.{name}"),
                format!("coding_agent.env: '{name}' is not a valid environment variable name"),
            ));
        }
    }
    Ok(())
}

fn check_entry(config: &Config) -> Result<(), Issue> {
    let entry = &config.entry;
    if entry.train.trim().is_empty() {
        return Err(Issue::new("entry.train", "entry.train must not be empty"));
    }
    if entry.smoke.as_deref().is_some_and(|s| s.trim().is_empty()) {
        return Err(Issue::new("entry.smoke", "entry.smoke must not be empty when given"));
    }
    for name in entry.env.keys() {
        if !is_env_name(name) {
            return Err(Issue::new(
                format!("entry.env.{name}"),
                format!("entry.env: '{name}' is not a valid environment variable name"),
            ));
        }
    }
    for (i, name) in entry.env_passthrough.iter().enumerate() {
        if !is_env_name(name) {
            return Err(Issue::new(
                format!("entry.env_passthrough[{i}]"),
                format!("entry.env_passthrough: '{name}' is not a valid environment variable name"),
            ));
        }
    }
    Ok(())
}

/// `executor.hosts`: SSH only, instead of `host`, each box named once with sound slots.
fn check_hosts(config: &Config) -> Result<(), Issue> {
    let e = &config.executor;
    if e.hosts.is_empty() {
        return Ok(());
    }
    if e.kind != ExecutorType::Ssh {
        return Err(Issue::new("executor.hosts", "executor.hosts needs executor.type: ssh"));
    }
    if e.host.is_some() {
        return Err(Issue::new("executor.host", "give executor.host or executor.hosts, not both"));
    }
    if e.gpus.is_some() || e.slots.is_some() {
        let key = if e.gpus.is_some() { "executor.gpus" } else { "executor.slots" };
        return Err(Issue::new(key, format!("with executor.hosts, set {} on each host", &key["executor.".len()..])));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, b) in e.hosts.iter().enumerate() {
        let key = format!("executor.hosts[{i}]");
        if b.host.trim().is_empty() {
            return Err(Issue::new(format!("{key}.host"), "executor.hosts: a host with an empty name"));
        }
        let id = (b.host.trim().to_string(), b.user.clone().or(e.user.clone()), b.port.or(e.port));
        if !seen.insert(id) {
            return Err(Issue::new(format!("{key}.host"), format!("executor.hosts lists {} twice", b.host)));
        }
        let one = e.for_box(b);
        check_devices(&one, &key)?;
    }
    if let Some(t) = &e.host_timeout {
        match parse_duration(t) {
            Ok(d) if !d.is_zero() => {}
            _ => {
                return Err(Issue::new(
                    "executor.host_timeout",
                    format!("executor.host_timeout: '{t}' is not a positive duration"),
                ));
            }
        }
    }
    Ok(())
}

/// `parallel`, `executor.gpus`, `gpus_per_trial`, `slots` and `cost_per_gpu_hour` describe
/// slots that can exist. Whether the named devices exist on the machine is checked when a
/// session starts (`engine::slots`), where `nvidia-smi` can be asked.
fn check_slots(config: &Config) -> Result<(), Issue> {
    let e = &config.executor;
    if config.parallel == Some(0) {
        return Err(Issue::new("parallel", "parallel must be at least 1 (it is how many trials run at once)"));
    }
    if e.gpus_per_trial == Some(0) {
        return Err(Issue::new("executor.gpus_per_trial", "executor.gpus_per_trial must be at least 1"));
    }
    // Slurm allocates each job's GPUs itself: there `gpus_per_trial` is the job's `--gres`.
    if e.kind != ExecutorType::Slurm
        && e.gpus_per_trial.is_some()
        && e.gpus.is_none()
        && e.hosts.iter().all(|h| h.gpus.is_none())
    {
        return Err(Issue::new(
            "executor.gpus_per_trial",
            "executor.gpus_per_trial needs executor.gpus (the devices to share out)",
        ));
    }
    if e.hosts.is_empty() {
        check_devices(e, "executor")?;
    }
    if let Some(price) = e.cost_per_gpu_hour
        && !(price.is_finite() && price >= 0.0)
    {
        return Err(Issue::new(
            "executor.cost_per_gpu_hour",
            "executor.cost_per_gpu_hour must be a non-negative number",
        ));
    }
    Ok(())
}

/// The slots of one machine: `gpus` or `slots`, the devices each named once, enough of them
/// for a trial. `at` is where they are written (`executor`, `executor.hosts[1]`).
fn check_devices(e: &super::schema::Executor, at: &str) -> Result<(), Issue> {
    if e.slots == Some(0) {
        return Err(Issue::new(format!("{at}.slots"), format!("{at}.slots must be at least 1")));
    }
    if let Some(price) = e.cost_per_gpu_hour
        && !(price.is_finite() && price >= 0.0)
    {
        return Err(Issue::new(
            format!("{at}.cost_per_gpu_hour"),
            format!("{at}.cost_per_gpu_hour must be a non-negative number"),
        ));
    }
    if e.slots.is_some() && e.gpus.is_some() {
        return Err(Issue::new(
            format!("{at}.slots"),
            format!(
                "{at}.slots and {at}.gpus both set the slots: give `gpus` (one slot per gpus_per_trial devices) \
                 or `slots` (a machine without GPUs), not both"
            ),
        ));
    }
    if let Some(super::schema::Gpus::List(ids)) = &e.gpus {
        if ids.is_empty() {
            return Err(Issue::new(
                format!("{at}.gpus"),
                format!("{at}.gpus is empty: list devices, write `all`, or remove it"),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, id) in ids.iter().enumerate() {
            if id.is_empty() {
                return Err(Issue::new(format!("{at}.gpus[{i}]"), format!("{at}.gpus: an empty device name")));
            }
            if !seen.insert(id.as_str()) {
                return Err(Issue::new(format!("{at}.gpus[{i}]"), format!("{at}.gpus lists GPU {id} twice")));
            }
        }
        let per_trial = e.gpus_per_trial.unwrap_or(1) as usize;
        if per_trial > ids.len() {
            return Err(Issue::new(
                "executor.gpus_per_trial",
                format!("executor.gpus_per_trial is {per_trial}, but {at}.gpus lists only {} GPUs", ids.len()),
            ));
        }
    }
    Ok(())
}

fn check_guardrails(config: &Config) -> Result<Duration, Issue> {
    let g = &config.guardrails;
    let max_run_duration = parse_duration(&g.max_run_duration)
        .map_err(|e| Issue::new("guardrails.max_run_duration", format!("guardrails.max_run_duration: {e}")))?;
    if max_run_duration.is_zero() {
        return Err(Issue::new("guardrails.max_run_duration", "guardrails.max_run_duration must be greater than 0"));
    }
    parse_duration(&g.kill_grace)
        .map_err(|e| Issue::new("guardrails.kill_grace", format!("guardrails.kill_grace: {e}")))?;
    let timeout = parse_duration(&config.llm.request_timeout)
        .map_err(|e| Issue::new("llm.request_timeout", format!("llm.request_timeout: {e}")))?;
    if timeout.is_zero() {
        return Err(Issue::new("llm.request_timeout", "llm.request_timeout must be greater than 0"));
    }
    for (model, price) in &config.llm.pricing {
        let all = [Some(price.input), Some(price.output), price.cache_read, price.cache_write];
        if all.into_iter().flatten().any(|p| !(p.is_finite() && p >= 0.0)) {
            return Err(Issue::new(
                format!("llm.pricing.{model}"),
                format!("llm.pricing.{model}: prices must be numbers of 0 or more (USD per million tokens)"),
            ));
        }
    }
    if !(g.alpha.is_finite() && g.alpha > 0.0 && g.alpha < 1.0) {
        return Err(Issue::new(
            "guardrails.alpha",
            format!("guardrails.alpha must be between 0 and 1, e.g. 0.05 (got {})", g.alpha),
        ));
    }
    if g.early_stop == super::schema::EarlyStop::Asha {
        if g.rungs.is_empty() {
            return Err(Issue::new(
                "guardrails.early_stop",
                "guardrails.early_stop is asha: give the steps to compare runs at in guardrails.rungs (e.g. [100, 300, 900])",
            ));
        }
        if g.rungs.windows(2).any(|w| w[0] >= w[1]) || g.rungs.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(Issue::new("guardrails.rungs", "guardrails.rungs must be positive steps in increasing order"));
        }
    }
    if g.reduction_factor < 2 {
        return Err(Issue::new("guardrails.reduction_factor", "guardrails.reduction_factor must be at least 2"));
    }
    if !(g.min_steps.is_finite() && g.min_steps >= 0.0) {
        return Err(Issue::new("guardrails.min_steps", "guardrails.min_steps must be 0 or more"));
    }
    if g.confirm > 50 {
        return Err(Issue::new(
            "guardrails.confirm",
            format!("guardrails.confirm is {}: at most 50 confirmation runs per trial", g.confirm),
        ));
    }
    if let Some(arg) = &config.entry.seed_arg
        && (!arg.starts_with('-') || arg.contains(char::is_whitespace) || arg.contains(['\'', '"', '$', '`', ';']))
    {
        return Err(Issue::new(
            "entry.seed_arg",
            format!("entry.seed_arg: '{arg}' is not a command-line option (write it as the training reads it: --seed)"),
        ));
    }
    if !(g.plateau_threshold.is_finite() && g.plateau_threshold >= 0.0) {
        return Err(Issue::new(
            "guardrails.plateau_threshold",
            format!("guardrails.plateau_threshold must be 0 or more (got {})", g.plateau_threshold),
        ));
    }
    for (key, value) in
        [("plateau_runs", g.plateau_runs), ("retry_budget", g.retry_budget), ("replicates", g.replicates)]
    {
        if value < 1 {
            return Err(Issue::new(format!("guardrails.{key}"), format!("guardrails.{key} must be at least 1")));
        }
    }
    if !(g.divergence_multiplier.is_finite() && g.divergence_multiplier > 1.0) {
        return Err(Issue::new(
            "guardrails.divergence_multiplier",
            format!("guardrails.divergence_multiplier must be greater than 1 (got {})", g.divergence_multiplier),
        ));
    }
    Ok(max_run_duration)
}

/// A POSIX-portable variable name: what `sh` accepts in `NAME=value`.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Why `path` is not a plain path inside the project, if it is not.
pub fn relative_path_problem(path: &str) -> Option<&'static str> {
    let p = std::path::Path::new(path);
    if path.trim().is_empty() {
        Some("is empty")
    } else if p.has_root() || path.starts_with('~') {
        Some("must be relative to the project root")
    } else if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        Some("must not contain '..'")
    } else {
        None
    }
}
