//! `revis init`: writes revis.yaml through the daemon (InitProject). Non-interactive with
//! `--yes` and flags; otherwise the setup wizard of the README (`wizard`) asks, with arrow-key
//! menus, when stdin is a terminal. It never writes project files itself, and sends nothing
//! before every answer is in (Ctrl-C leaves the project untouched, exit 130).

mod ask;
mod choices;
mod flags;
mod hidden;
mod wizard;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::{InitProjectRequest, ProbeSlurmRequest};

use super::{Context, out};
use crate::client::Client;
use crate::error::CliError;
use ask::WizardError;
use choices::{Agent, Source};
use flags::FlagAnswers;
use wizard::{Answers, Outcome};

/// The conventional exit status of a program ended by Ctrl-C (128 + SIGINT).
const EXIT_CANCELLED: u8 = 130;

const INIT_EXAMPLES: &str = "\
Examples:
  revis init                       ask (arrow-key menus), with any flags as the starting answers
  revis init --yes --train 'python train.py' --primary val_loss
  revis init --yes --train 'python train.py' --primary eval/accuracy --maximize \\
      --source wandb --project vision --entity my-team --agent claude-code \\
      --hide '.env,data/**' --ssh gpu-box --work-dir /scratch/revis";

/// Set up revis for this project (writes revis.yaml, adds .revis/ to .gitignore).
///
/// On a terminal it asks what the README's wizard asks: training command, metrics source (W&B
/// projects and MLflow experiments are looked up), primary metric, objective, where training
/// runs, coding agent and files to hide; flags given are where its menus start. With --yes it
/// asks nothing: every answer comes from the flags, and each choice of the wizard has one.
#[derive(Debug, Args)]
#[command(after_help = INIT_EXAMPLES)]
pub struct InitArgs {
    /// Do not ask anything: take every value from the flags (needs --train and --primary).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Training command, run from the project root, e.g. "python train.py --epochs 5".
    #[arg(long, value_name = "CMD")]
    pub train: Option<String>,
    /// Metric to optimise, as the training run reports it (e.g. val_loss).
    #[arg(long, value_name = "METRIC")]
    pub primary: Option<String>,
    /// Higher values of the primary metric are better (default: lower is better).
    #[arg(long)]
    pub maximize: bool,
    /// Stop a session once the primary metric reaches this value.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub target: Option<f64>,
    /// Where the metrics come from (metrics.source; --yes default: eval_json).
    #[arg(long, value_enum, value_name = "SOURCE")]
    pub source: Option<Source>,
    /// The W&B project or MLflow experiment the runs log to (metrics.project; wandb and mlflow).
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// The W&B entity, a team or user (metrics.entity; wandb only; default: your API key's).
    #[arg(long, value_name = "ENTITY")]
    pub entity: Option<String>,
    /// The MLflow tracking server, http(s) (metrics.tracking_uri; mlflow only; default:
    /// MLFLOW_TRACKING_URI when the session starts).
    #[arg(long, value_name = "URI")]
    pub tracking_uri: Option<String>,
    /// Who makes code changes (coding_agent.type; --yes default: auto).
    #[arg(long, visible_alias = "coding-agent", value_enum, value_name = "AGENT")]
    pub agent: Option<Agent>,
    /// Hide files matching these globs from the LLM and coding agents (context.deny); repeat
    /// it, or give a comma-separated list.
    ///
    /// E.g. --hide '.env,data/**'. `*` stays within a directory, `**` crosses them, `dir/`
    /// hides a directory and everything in it; a comma inside `{a,b}` or after `\` is part of
    /// the glob.
    #[arg(long, value_name = "GLOBS")]
    pub hide: Vec<String>,
    /// Replace an existing revis.yaml.
    #[arg(long)]
    pub force: bool,
    /// Run training on this SSH host (an alias from ~/.ssh/config, or a host name); the
    /// connection is tested first. Default: local (tmux).
    #[arg(long, value_name = "HOST")]
    pub ssh: Option<String>,
    /// Where sessions live on the SSH host, or on the cluster's shared filesystem with
    /// --slurm (default ~/revis-work).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<String>,
    /// Run each trial as a Slurm job: sbatch on this machine, or on the --ssh host as the
    /// login node. Slurm is asked first (sinfo).
    #[arg(long)]
    pub slurm: bool,
    /// The Slurm partition (default: the cluster's default).
    #[arg(long, value_name = "NAME", requires = "slurm")]
    pub partition: Option<String>,
    /// Record the SSH host's key in ~/.ssh/known_hosts if it is not known yet (check its
    /// fingerprint first: init prints it).
    #[arg(long, requires = "ssh")]
    pub trust_host: bool,
}

pub async fn run(ctx: &Context, args: InitArgs) -> Result<ExitCode, CliError> {
    if args.yes {
        return run_with_flags(ctx, &args).await;
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage("revis init needs --yes and flags when not interactive".to_string()));
    }
    // Before the first question: a bad flag should not cost the user a round of answers.
    flags::check(&args)?;
    let project_dir = ctx.project_dir()?;
    let root = wizard::project_root(&project_dir)?;
    let mut conn = ctx.connect().await?;
    let answers = match wizard::run(&mut conn.client, &args, &root).await {
        Ok(Outcome::Answers(answers)) => *answers,
        Ok(Outcome::KeepExisting) => {
            out("Kept the existing revis.yaml; nothing was written.\n")?;
            return Ok(ExitCode::SUCCESS);
        }
        Err(WizardError::Cancelled) => return Ok(cancelled()),
        Err(WizardError::Cli(e)) => return Err(e),
    };
    let request = wizard_request(project_dir, &args, answers);
    let reply = match ask::interruptible(conn.client.init_project(request)).await {
        Ok(reply) => reply.into_inner(),
        Err(WizardError::Cancelled) => return Ok(cancelled()),
        Err(WizardError::Cli(e)) => return Err(e),
    };
    for warning in &reply.warnings {
        eprintln!("warning: {warning}");
    }
    if reply.gitignore_updated {
        out("Added .revis/ to .gitignore\n")?;
    }
    out("\nRevis initialized!\nYou can edit revis.yaml to adjust settings at any time.\n")?;
    Ok(ExitCode::SUCCESS)
}

fn cancelled() -> ExitCode {
    eprintln!("\nCancelled: nothing was written.");
    ExitCode::from(EXIT_CANCELLED)
}

/// InitProject from the wizard's answers; --target and --work-dir still come from the flags.
fn wizard_request(project_dir: String, args: &InitArgs, answers: Answers) -> InitProjectRequest {
    InitProjectRequest {
        project_dir,
        train: answers.train,
        primary: answers.primary,
        maximize: answers.maximize,
        target: args.target,
        force: args.force || answers.replace,
        work_dir: (answers.ssh_host.is_some() || answers.slurm).then(|| args.work_dir.clone()).flatten(),
        ssh_host: answers.ssh_host,
        slurm: answers.slurm,
        partition: answers.partition,
        metrics_source: answers.source.wire().to_string(),
        metrics_project: answers.project,
        metrics_entity: answers.entity,
        tracking_uri: answers.tracking_uri,
        coding_agent: answers.coding_agent,
        deny: answers.deny,
    }
}

/// `--yes`: every value from the flags, nothing asked.
async fn run_with_flags(ctx: &Context, args: &InitArgs) -> Result<ExitCode, CliError> {
    let answers = flags::answers(args)?;
    let mut conn = ctx.connect().await?;
    if let Some(host) = &args.ssh {
        check_host(&mut conn.client, host, args.trust_host).await?;
    }
    if args.slurm {
        check_slurm(&mut conn.client, args).await?;
    }
    let agent = answers.agent;
    let request = flags_request(ctx.project_dir()?, args, answers);
    let reply = conn.client.init_project(request).await.map_err(refused_flag)?.into_inner();
    for warning in &reply.warnings {
        eprintln!("warning: {warning}");
    }
    out(&format!("Wrote {}\n", reply.config_path))?;
    if reply.gitignore_updated {
        out("Added .revis/ to .gitignore\n")?;
    }
    out(&agent_note(agent, &reply.coding_agent))?;
    Ok(ExitCode::SUCCESS)
}

/// `--slurm`: sinfo must answer where jobs would be submitted, and know `--partition`.
async fn check_slurm(client: &mut Client, args: &InitArgs) -> Result<(), CliError> {
    let reply = client.probe_slurm(ProbeSlurmRequest { login: args.ssh.clone() }).await?.into_inner();
    let place = args.ssh.as_deref().unwrap_or("this machine");
    if !reply.available {
        return Err(CliError::Usage(format!("--slurm: Slurm does not answer on {place}: {}", reply.message)));
    }
    if let Some(p) = &args.partition
        && !reply.partitions.iter().any(|q| &q.name == p)
    {
        let names: Vec<&str> = reply.partitions.iter().map(|q| q.name.as_str()).collect();
        return Err(CliError::Usage(format!(
            "--partition: no partition '{p}' on {place} (it has: {})",
            names.join(", ")
        )));
    }
    Ok(())
}

/// InitProject from the flags of `--yes`.
fn flags_request(project_dir: String, args: &InitArgs, answers: FlagAnswers) -> InitProjectRequest {
    InitProjectRequest {
        project_dir,
        train: answers.train,
        primary: answers.primary,
        maximize: answers.maximize,
        target: args.target,
        force: args.force,
        ssh_host: args.ssh.clone(),
        work_dir: args.work_dir.clone(),
        slurm: args.slurm,
        partition: args.partition.clone(),
        metrics_source: answers.source.wire().to_string(),
        metrics_project: answers.project,
        metrics_entity: answers.entity,
        tracking_uri: answers.tracking_uri,
        coding_agent: answers.agent.wire().to_string(),
        deny: answers.deny,
    }
}

/// A value the daemon refused, said against the flag it came from (the daemon names the request
/// field in the `revis-field` metadata; see revis.proto).
fn refused_flag(status: tonic::Status) -> CliError {
    let field = status.metadata().get("revis-field").and_then(|v| v.to_str().ok()).and_then(flags::flag_of);
    match field {
        Some(flag) if status.code() == tonic::Code::InvalidArgument => {
            CliError::Usage(format!("{flag}: {}", status.message()))
        }
        _ => CliError::Rpc(status),
    }
}

/// What the coding-agent line of `--yes` says; `detected` is the agent `auto` would use now.
fn agent_note(agent: Agent, detected: &str) -> String {
    match (agent, detected) {
        (Agent::Auto, "") => {
            "Coding agent: none found on PATH (code changes will wait for you to make them)\n".to_string()
        }
        (Agent::Auto, found) => format!("Coding agent: {found} detected (coding_agent.type: auto)\n"),
        (Agent::None, _) => "Coding agent: none (code changes will wait for you to make them)\n".to_string(),
        (chosen, _) => format!("Coding agent: {} (coding_agent.type: {0})\n", chosen.wire()),
    }
}

/// Tests the connection; an unknown host key is trusted only with --trust-host (init printed
/// its fingerprint before).
async fn check_host(client: &mut Client, host: &str, trust: bool) -> Result<(), CliError> {
    let probe = |trust| revis_proto::v1::ProbeHostRequest { host: host.to_string(), trust };
    let mut reply = client.probe_host(probe(false)).await?.into_inner();
    if let Some(fingerprint) = reply.unknown_fingerprint.clone() {
        if !trust {
            return Err(CliError::Usage(format!(
                "the host key of {host} is not known ({fingerprint}); check it, then run init again with --trust-host"
            )));
        }
        reply = client.probe_host(probe(true)).await?.into_inner();
        if reply.ok || reply.unknown_fingerprint.is_none() {
            out(&format!("Trusted {host} ({fingerprint})\n"))?;
        }
    }
    if reply.ok {
        out(&format!("SSH: {} ({})\n", reply.target, reply.message))?;
    } else {
        eprintln!("warning: SSH to {host} ({}): {}", reply.target, reply.message);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(train: Option<&str>, primary: Option<&str>) -> InitArgs {
        InitArgs {
            yes: true,
            train: train.map(String::from),
            primary: primary.map(String::from),
            maximize: true,
            target: None,
            source: None,
            project: None,
            entity: None,
            tracking_uri: None,
            agent: None,
            hide: Vec::new(),
            force: false,
            ssh: None,
            work_dir: None,
            slurm: false,
            partition: None,
            trust_host: false,
        }
    }

    #[test]
    fn yes_needs_train_and_primary() {
        let ok = flags::answers(&args(Some("python train.py"), Some("acc")));
        assert!(matches!(ok, Ok(FlagAnswers { ref train, ref primary, maximize: true, .. })
            if train == "python train.py" && primary == "acc"));
        for missing in [args(None, Some("acc")), args(Some("x"), None), args(Some(" "), Some("acc"))] {
            let err = flags::answers(&missing).err();
            assert_eq!(err.map(|e| e.exit_code()), Some(2));
        }
    }

    #[test]
    fn the_flags_request_carries_every_flag() -> Result<(), CliError> {
        let mut flags = args(Some("python train.py"), Some("eval/acc"));
        flags.target = Some(0.9);
        flags.source = Some(Source::Mlflow);
        flags.project = Some("exp".into());
        flags.tracking_uri = Some("http://127.0.0.1:5000".into());
        flags.agent = Some(Agent::Aider);
        flags.hide = vec![".env,data/**".into(), "secrets/".into()];
        flags.ssh = Some("gpu".into());
        flags.work_dir = Some("/scratch".into());
        flags.force = true;
        let request = flags_request("/p".into(), &flags, flags::answers(&flags)?);
        assert_eq!((request.train.as_str(), request.primary.as_str()), ("python train.py", "eval/acc"));
        assert_eq!((request.maximize, request.target, request.force), (true, Some(0.9), true));
        assert_eq!(request.metrics_source, "mlflow");
        assert_eq!(request.metrics_project.as_deref(), Some("exp"));
        assert_eq!(request.tracking_uri.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(request.metrics_entity, None);
        assert_eq!(request.coding_agent, "aider");
        assert_eq!(request.deny, [".env", "data/**", "secrets/"]);
        assert_eq!((request.ssh_host.as_deref(), request.work_dir.as_deref()), (Some("gpu"), Some("/scratch")));

        // No flags beyond the two required: what the daemon defaults to, spelled out.
        let plain = args(Some("t"), Some("m"));
        let request = flags_request("/p".into(), &plain, flags::answers(&plain)?);
        assert_eq!((request.metrics_source.as_str(), request.coding_agent.as_str()), ("eval_json", "auto"));
        assert_eq!((request.ssh_host, request.work_dir), (None, None));
        assert!(request.deny.is_empty());
        Ok(())
    }

    #[test]
    fn a_refused_answer_names_its_flag() {
        let mut status = tonic::Status::invalid_argument("context.deny: invalid pattern 'data/['");
        status.metadata_mut().insert("revis-field", tonic::metadata::MetadataValue::from_static("deny"));
        let err = refused_flag(status);
        assert_eq!(err.exit_code(), 2);
        assert_eq!(err.to_string(), "--hide: context.deny: invalid pattern 'data/['");
        // Without the field (or for another kind of error) the daemon's message stands alone.
        let err = refused_flag(tonic::Status::invalid_argument("revis.yaml: bad"));
        assert_eq!(err.to_string(), "revis.yaml: bad");
        let err = refused_flag(tonic::Status::already_exists("revis.yaml already exists"));
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn the_agent_line_says_what_was_chosen() {
        assert!(agent_note(Agent::Auto, "codex").contains("codex detected"));
        assert!(agent_note(Agent::Auto, "").contains("none found on PATH"));
        assert_eq!(
            agent_note(Agent::ClaudeCode, "codex"),
            "Coding agent: claude-code (coding_agent.type: claude-code)\n"
        );
        assert!(agent_note(Agent::None, "codex").starts_with("Coding agent: none"));
    }

    fn answers() -> Answers {
        Answers {
            replace: false,
            train: "python train.py".into(),
            source: choices::Source::Wandb,
            project: Some("proj".into()),
            entity: None,
            tracking_uri: None,
            primary: "accuracy".into(),
            maximize: true,
            ssh_host: None,
            slurm: false,
            partition: None,
            coding_agent: "none".into(),
            deny: vec!["data/**".into()],
        }
    }

    #[test]
    fn the_request_carries_every_answer() {
        let mut flags = args(None, None);
        flags.target = Some(0.9);
        flags.work_dir = Some("/scratch".into());
        let request = wizard_request("/p".into(), &flags, answers());
        assert_eq!(request.metrics_source, "wandb");
        assert_eq!(request.metrics_project.as_deref(), Some("proj"));
        assert_eq!((request.primary.as_str(), request.maximize), ("accuracy", true));
        assert_eq!(request.coding_agent, "none");
        assert_eq!(request.deny, ["data/**"]);
        assert_eq!(request.target, Some(0.9));
        // No host chosen: a --work-dir has nothing to apply to, and nothing is replaced.
        assert_eq!((request.ssh_host, request.work_dir, request.force), (None, None, false));

        let on_host = Answers { ssh_host: Some("gpu".into()), replace: true, ..answers() };
        let request = wizard_request("/p".into(), &flags, on_host);
        assert_eq!(request.ssh_host.as_deref(), Some("gpu"));
        assert_eq!(request.work_dir.as_deref(), Some("/scratch"));
        assert!(request.force, "a confirmed replacement is sent as force");
    }
}
