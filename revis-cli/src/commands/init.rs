//! `revis init`: writes revis.yaml through the daemon (InitProject). Non-interactive with
//! `--yes` and flags; otherwise the setup wizard of the README (`wizard`) asks, with arrow-key
//! menus, when stdin is a terminal. It never writes project files itself, and sends nothing
//! before every answer is in (Ctrl-C leaves the project untouched, exit 130).

mod ask;
mod choices;
mod hidden;
mod wizard;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::InitProjectRequest;

use super::{Context, out};
use crate::client::Client;
use crate::error::CliError;
use ask::WizardError;
use wizard::{Answers, Outcome};

/// The conventional exit status of a program ended by Ctrl-C (128 + SIGINT).
const EXIT_CANCELLED: u8 = 130;

/// Set up revis for this project (writes revis.yaml, adds .revis/ to .gitignore).
#[derive(Debug, Args)]
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
    /// Replace an existing revis.yaml.
    #[arg(long)]
    pub force: bool,
    /// Run training on this SSH host (an alias from ~/.ssh/config, or a host name); the
    /// connection is tested first.
    #[arg(long, value_name = "HOST")]
    pub ssh: Option<String>,
    /// Where sessions live on the SSH host (default ~/revis-work).
    #[arg(long, value_name = "DIR", requires = "ssh")]
    pub work_dir: Option<String>,
    /// Record the SSH host's key in ~/.ssh/known_hosts if it is not known yet (check its
    /// fingerprint first: init prints it).
    #[arg(long, requires = "ssh")]
    pub trust_host: bool,
}

/// The two values `--yes` cannot do without.
struct FlagAnswers {
    train: String,
    primary: String,
    maximize: bool,
}

pub async fn run(ctx: &Context, args: InitArgs) -> Result<ExitCode, CliError> {
    if args.yes {
        return run_with_flags(ctx, &args).await;
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage("revis init needs --yes and flags when not interactive".to_string()));
    }
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
        work_dir: answers.ssh_host.as_ref().and(args.work_dir.clone()),
        ssh_host: answers.ssh_host,
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
    let answers = from_flags(args)?;
    let mut conn = ctx.connect().await?;
    if let Some(host) = &args.ssh {
        check_host(&mut conn.client, host, args.trust_host).await?;
    }
    let request = InitProjectRequest {
        project_dir: ctx.project_dir()?,
        train: answers.train,
        primary: answers.primary,
        maximize: answers.maximize,
        target: args.target,
        force: args.force,
        ssh_host: args.ssh.clone(),
        work_dir: args.work_dir.clone(),
        ..Default::default()
    };
    let reply = conn.client.init_project(request).await?.into_inner();
    for warning in &reply.warnings {
        eprintln!("warning: {warning}");
    }
    out(&format!("Wrote {}\n", reply.config_path))?;
    if reply.gitignore_updated {
        out("Added .revis/ to .gitignore\n")?;
    }
    if reply.coding_agent.is_empty() {
        out("Coding agent: none found on PATH (code changes will wait for you to make them)\n")?;
    } else {
        out(&format!("Coding agent: {} detected (coding_agent.type: auto)\n", reply.coding_agent))?;
    }
    Ok(ExitCode::SUCCESS)
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

fn from_flags(args: &InitArgs) -> Result<FlagAnswers, CliError> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    match (given(&args.train), given(&args.primary)) {
        (Some(train), Some(primary)) => Ok(FlagAnswers { train, primary, maximize: args.maximize }),
        _ => Err(CliError::Usage("revis init --yes needs --train CMD and --primary METRIC".into())),
    }
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
            force: false,
            ssh: None,
            work_dir: None,
            trust_host: false,
        }
    }

    #[test]
    fn yes_needs_train_and_primary() {
        let ok = from_flags(&args(Some("python train.py"), Some("acc")));
        assert!(matches!(ok, Ok(FlagAnswers { ref train, ref primary, maximize: true })
            if train == "python train.py" && primary == "acc"));
        for missing in [args(None, Some("acc")), args(Some("x"), None), args(Some(" "), Some("acc"))] {
            let err = from_flags(&missing).err();
            assert_eq!(err.map(|e| e.exit_code()), Some(2));
        }
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
