//! Interactive `revis init`: walks the user through the README's questions with arrow-key menus
//! and returns the answers. Offers what the daemon can discover (W&B projects and metric keys,
//! MLflow experiments, ~/.ssh/config hosts, the coding agent) and falls back to free text,
//! saying why, when discovery finds nothing.
//! Must not: write anything (InitProject is sent by the caller only after every answer is in,
//! so Ctrl-C at any point leaves the project untouched).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use revis_proto::v1::{DiscoverReply, DiscoverRequest, ListHostsRequest, ProbeHostRequest, ProbeSlurmRequest};

use super::InitArgs;
use super::ask::{self, Result, WizardError, interruptible, note};
use super::choices::{self, Place, Source};
use super::{flags, hidden};
use crate::client::Client;
use crate::error::CliError;

/// Everything the user chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    /// The user agreed to replace an existing revis.yaml.
    pub replace: bool,
    pub train: String,
    pub source: Source,
    pub project: Option<String>,
    pub entity: Option<String>,
    pub tracking_uri: Option<String>,
    pub primary: String,
    pub maximize: bool,
    pub ssh_host: Option<String>,
    /// Trials as Slurm jobs (through `ssh_host` when set), in this partition.
    pub slurm: bool,
    pub partition: Option<String>,
    pub coding_agent: String,
    pub deny: Vec<String>,
}

pub enum Outcome {
    Answers(Box<Answers>),
    /// revis.yaml exists and the user kept it.
    KeepExisting,
}

const OTHER: &str = "Other (type a name)";

/// Asks every question in the README's order.
pub async fn run(client: &mut Client, args: &InitArgs, root: &Path) -> Result<Outcome> {
    ask::install_style();
    let replace = root.join("revis.yaml").exists() && !args.force;
    if replace && !ask::confirm("revis.yaml already exists. Replace it?", false)? {
        return Ok(Outcome::KeepExisting);
    }
    let guessed = guess_train(root);
    let train = ask::text("Training command:", args.train.as_deref().or(guessed.as_deref()), false, None)?;

    let env = choices::discover_env(|name| std::env::var(name).ok());
    let first = flags::implied_source(args).unwrap_or_else(|| choices::default_source(&env));
    let start = Source::ALL.iter().position(|s| *s == first).unwrap_or(0);
    let labels = Source::ALL.iter().map(|s| s.label().to_string()).collect();
    let source = Source::ALL[ask::select("Metrics source:", labels, start)?];
    let mut discovery = Discovery { client, env, agent: None };
    let found = discovery.metrics_source(source, args).await?;

    let primary = pick_or_type(
        "Primary metric to optimize:",
        &found.metrics,
        choices::default_metric(&found.metrics, args.primary.as_deref()),
        found.metrics_missing.as_deref(),
        args.primary.as_deref().or(Some("val_loss")),
    )?;
    let maximize_first = args.maximize || choices::guess_maximize(&primary) == Some(true);
    let objective = ask::select("Objective:", vec!["minimize".into(), "maximize".into()], usize::from(maximize_first))?;

    let ssh_host = choose_place(discovery.client, args).await?;
    let (slurm, partition) = choose_slurm(discovery.client, args, ssh_host.as_deref()).await?;
    let coding_agent = discovery.coding_agent(args.agent).await?;
    let deny = choose_hidden(root, &flags::hide_patterns(&args.hide)?)?;
    Ok(Outcome::Answers(Box::new(Answers {
        replace,
        train,
        source,
        project: found.project,
        entity: found.entity,
        tracking_uri: found.tracking_uri,
        primary,
        maximize: objective == 1,
        ssh_host,
        slurm,
        partition,
        coding_agent,
        deny,
    })))
}

/// The repository root the daemon will write revis.yaml into: the main work tree, also from a
/// linked worktree (git's common dir is the main repository's .git).
pub fn project_root(dir: &str) -> std::result::Result<PathBuf, CliError> {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .current_dir(dir)
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let common = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            Ok(common.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(dir)))
        }
        Ok(out) => Err(CliError::Usage(format!(
            "{dir} is not inside a git repository ({}); run `git init` first",
            String::from_utf8_lossy(&out.stderr).trim()
        ))),
        // Without a git CLI the daemon (which reads the repository itself) decides.
        Err(_) => Ok(PathBuf::from(dir)),
    }
}

/// `python train.py` when the repository has one at its root.
fn guess_train(root: &Path) -> Option<String> {
    root.join("train.py").is_file().then(|| "python train.py".to_string())
}

/// What the metrics-source step settled and found.
#[derive(Default)]
struct Found {
    project: Option<String>,
    entity: Option<String>,
    tracking_uri: Option<String>,
    metrics: Vec<String>,
    /// Why `metrics` is empty, when that is worth saying.
    metrics_missing: Option<String>,
}

struct Discovery<'a> {
    client: &'a mut Client,
    env: HashMap<String, String>,
    /// The coding agent the daemon would pick, once any Discover call answered.
    agent: Option<String>,
}

impl Discovery<'_> {
    /// Asks the daemon; a failed call is reported like a failed discovery (the user can still
    /// type names), only Ctrl-C ends the wizard.
    async fn discover(&mut self, source: &str, entity: &str, uri: &str, project: &str) -> Result<DiscoverReply> {
        let request = DiscoverRequest {
            source: source.to_string(),
            entity: entity.to_string(),
            tracking_uri: uri.to_string(),
            project: project.to_string(),
            env: self.env.clone(),
        };
        match interruptible(self.client.discover(request)).await {
            Ok(reply) => {
                let reply = reply.into_inner();
                self.agent = Some(reply.coding_agent.clone());
                Ok(reply)
            }
            Err(WizardError::Cli(e)) => Ok(DiscoverReply { error: e.to_string(), ..Default::default() }),
            Err(cancelled) => Err(cancelled),
        }
    }

    /// The source's project (W&B entity and project, MLflow URI and experiment) and the metric
    /// keys it offers; --entity, --tracking-uri and --project are the defaults.
    async fn metrics_source(&mut self, source: Source, args: &InitArgs) -> Result<Found> {
        let Some(name) = source.discover_name() else {
            return Ok(Found::default());
        };
        let mut found = Found::default();
        match source {
            Source::Wandb => {
                let entity = ask::text(
                    "W&B entity (optional):",
                    args.entity.as_deref(),
                    true,
                    Some("a team or user name; Enter for your API key's default entity"),
                )?;
                found.entity = Some(entity).filter(|e| !e.is_empty());
            }
            _ => {
                let default = args.tracking_uri.clone().or_else(|| self.env.get("MLFLOW_TRACKING_URI").cloned());
                found.tracking_uri = Some(ask::text("MLflow tracking URI:", default.as_deref(), false, None)?);
            }
        }
        let entity = found.entity.clone().unwrap_or_default();
        let uri = found.tracking_uri.clone().unwrap_or_default();
        let noun = source.project_noun();
        note(&format!("Looking up {noun}s..."));
        let reply = self.discover(name, &entity, &uri, "").await?;
        let why = why_empty(&reply.error, &format!("no {noun}s found"));
        let given = args.project.as_deref();
        let start = choices::start_on(&reply.projects, given);
        let project = pick_or_type(&format!("{noun}:"), &reply.projects, start, Some(&why), given)?;

        note(&format!("Looking up the metrics of {project}..."));
        let reply = self.discover(name, &entity, &uri, &project).await?;
        if reply.metrics.is_empty() {
            found.metrics_missing =
                Some(why_empty(&reply.error, &format!("no metrics found in the runs of {project}")));
        }
        found.metrics = reply.metrics;
        found.project = Some(project);
        Ok(found)
    }

    /// The coding-agent menu, starting on --agent when given.
    async fn coding_agent(&mut self, given: Option<choices::Agent>) -> Result<String> {
        let detected = match self.agent.clone() {
            Some(agent) => agent,
            None => self.discover("", "", "", "").await?.coding_agent,
        };
        let options = choices::agent_options(&detected);
        let start = given.and_then(|g| options.iter().position(|o| o.1 == g.wire())).unwrap_or(0);
        let labels = options.iter().map(|(label, _)| label.clone()).collect();
        let chosen = ask::select("Coding agent (for code changes):", labels, start)?;
        Ok(options.get(chosen).map_or("auto", |o| o.1).to_string())
    }
}

fn why_empty(error: &str, otherwise: &str) -> String {
    if error.is_empty() { otherwise.to_string() } else { error.to_string() }
}

/// A menu of `items` plus "Other"; with no items, says why and asks for text instead.
fn pick_or_type(
    question: &str,
    items: &[String],
    start: usize,
    why_empty: Option<&str>,
    default: Option<&str>,
) -> Result<String> {
    if items.is_empty() {
        if let Some(why) = why_empty {
            note(&format!("  (nothing to choose from: {why})"));
        }
        return ask::text(question, default, false, None);
    }
    let mut labels = items.to_vec();
    labels.push(OTHER.to_string());
    let chosen = ask::select(question, labels, start)?;
    match items.get(chosen) {
        Some(item) => Ok(item.clone()),
        None => ask::text(question, default, false, None),
    }
}

/// Local, or a host of ~/.ssh/config whose connection works (or that the user takes anyway).
async fn choose_place(client: &mut Client, args: &InitArgs) -> Result<Option<String>> {
    let hosts = match interruptible(client.list_hosts(ListHostsRequest {})).await {
        Ok(reply) => reply.into_inner().hosts,
        Err(WizardError::Cli(e)) => {
            note(&format!("warning: cannot list the hosts of ~/.ssh/config: {e}"));
            Vec::new()
        }
        Err(cancelled) => return Err(cancelled),
    };
    let (options, mut start) = choices::place_options(&hosts, args.ssh.as_deref());
    if options.len() == 1 {
        note("Execution environment: Local (tmux) (no hosts in ~/.ssh/config)");
        return Ok(None);
    }
    loop {
        let labels = options.iter().map(|(label, _)| label.clone()).collect();
        let chosen = ask::select("Execution environment:", labels, start)?;
        match &options[chosen.min(options.len() - 1)].1 {
            Place::Local => return Ok(None),
            Place::Host(host) => {
                if host_usable(client, host, args.trust_host).await? {
                    return Ok(Some(host.clone()));
                }
                start = chosen;
            }
        }
    }
}

/// Where `sbatch` answers (this machine, or the chosen host as a login node), offers to run
/// each trial as a Slurm job and lists the partitions (the default first).
async fn choose_slurm(client: &mut Client, args: &InitArgs, login: Option<&str>) -> Result<(bool, Option<String>)> {
    let request = ProbeSlurmRequest { login: login.map(str::to_string) };
    let reply = match interruptible(client.probe_slurm(request)).await {
        Ok(reply) => reply.into_inner(),
        Err(WizardError::Cli(_)) if !args.slurm => return Ok((false, None)),
        Err(e) => return Err(e),
    };
    let place = login.unwrap_or("this machine");
    if !reply.available {
        if args.slurm {
            note(&format!("warning: --slurm, but Slurm does not answer on {place}: {}", reply.message));
        }
        return Ok((false, None));
    }
    let labels = vec![
        format!("Yes, submit each trial as a Slurm job (sbatch on {place})"),
        format!("No, run trials directly on {place}"),
    ];
    // Where sbatch answers and lists partitions, this is a cluster: jobs are the likely choice.
    if ask::select(&format!("Slurm answers on {place}. Run trials as Slurm jobs?"), labels, 0)? != 0 {
        return Ok((false, None));
    }
    let mut parts = reply.partitions;
    parts.sort_by_key(|p| !p.default);
    let labels = parts
        .iter()
        .map(|p| {
            let gres = if p.gres.is_empty() { "no GRES".to_string() } else { p.gres.join(", ") };
            let flags = [(p.default, "default"), (!p.up, "down")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, w)| *w)
                .collect::<Vec<_>>()
                .join(", ");
            let flags = if flags.is_empty() { String::new() } else { format!(", {flags}") };
            format!("{} ({gres}; time limit {}{flags})", p.name, p.max_time)
        })
        .collect();
    let start = args.partition.as_ref().and_then(|want| parts.iter().position(|p| &p.name == want)).unwrap_or(0);
    let chosen = ask::select("Partition:", labels, start)?;
    Ok((true, parts.get(chosen).map(|p| p.name.clone())))
}

/// Tests the connection; an unknown host key is trusted only after the user saw its
/// fingerprint and agreed (or gave --trust-host).
async fn host_usable(client: &mut Client, host: &str, trust_flag: bool) -> Result<bool> {
    let probe = |trust| ProbeHostRequest { host: host.to_string(), trust };
    note(&format!("Testing the connection to {host}..."));
    let mut reply = interruptible(client.probe_host(probe(false))).await?.into_inner();
    if let Some(fingerprint) = reply.unknown_fingerprint.clone() {
        let question = format!("The host key of {host} is not known ({fingerprint}). Trust it?");
        if !(trust_flag || ask::confirm(&question, false)?) {
            note(&format!("  Not trusted: {host} was not used"));
            return Ok(false);
        }
        reply = interruptible(client.probe_host(probe(true))).await?.into_inner();
        if reply.unknown_fingerprint.is_none() {
            note(&format!("  Trusted {host} ({fingerprint})"));
        }
    }
    if reply.ok {
        note(&format!("  Connected: {} ({})", reply.target, reply.message));
        return Ok(true);
    }
    note(&format!("  Cannot use {host} ({}): {}", reply.target, reply.message));
    ask::confirm(&format!("Use {host} anyway?"), false)
}

/// The hidden-files question; patterns given with --hide start it on "Yes", ticked in the list
/// (those that are not among the repository's entries are added to it).
fn choose_hidden(root: &Path, given: &[String]) -> Result<Vec<String>> {
    let labels = vec!["No, allow full access (recommended)".to_string(), "Yes, select files to hide".to_string()];
    let start = usize::from(!given.is_empty());
    if ask::select("The LLM can read your repo. Hide any files?", labels, start)? == 0 {
        return Ok(Vec::new());
    }
    let (entries, checked) = hidden::with_given(hidden::entries(root), given);
    if entries.is_empty() {
        note("  (the repository has no files to hide yet)");
        return Ok(Vec::new());
    }
    let chosen = ask::multi_select(
        "Files to hide from the LLM and coding agents:",
        entries,
        &checked,
        "space selects, enter confirms; a dir/** hides everything inside",
    )?;
    Ok(chosen.into_iter().map(|e| e.glob).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_py_at_the_root_is_the_guess() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(guess_train(dir.path()), None);
        std::fs::write(dir.path().join("train.py"), "")?;
        assert_eq!(guess_train(dir.path()).as_deref(), Some("python train.py"));
        Ok(())
    }

    #[test]
    fn the_root_is_the_main_work_tree_and_a_non_repo_is_refused() -> std::result::Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let root = std::fs::canonicalize(dir.path())?;
        let plain = root.join("plain");
        std::fs::create_dir(&plain)?;
        let repo = root.join("repo");
        std::fs::create_dir_all(repo.join("sub"))?;
        let status = std::process::Command::new("git").args(["init", "-q"]).current_dir(&repo).status()?;
        assert!(status.success());
        let sub = repo.join("sub").display().to_string();
        assert_eq!(project_root(&sub)?, repo);
        // `plain` is outside any repository only if the temp dir is; skip the check otherwise.
        let outside = std::process::Command::new("git").args(["rev-parse"]).current_dir(&plain).output()?;
        if !outside.status.success() {
            let err = project_root(&plain.display().to_string()).err().map(|e| e.exit_code());
            assert_eq!(err, Some(2));
        }
        Ok(())
    }

    #[test]
    fn why_empty_prefers_the_daemons_reason() {
        assert_eq!(why_empty("no W&B API key", "none found"), "no W&B API key");
        assert_eq!(why_empty("", "none found"), "none found");
    }
}
