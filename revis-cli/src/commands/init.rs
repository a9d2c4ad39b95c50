//! `revis init`: writes revis.yaml through the daemon (InitProject). Non-interactive with
//! `--yes`; otherwise asks for the missing values with line prompts when stdin is a terminal.
//! It never writes project files itself.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::InitProjectRequest;

use super::{Context, out};
use crate::error::CliError;

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

/// The three values init cannot guess.
struct Answers {
    train: String,
    primary: String,
    maximize: bool,
}

pub async fn run(ctx: &Context, args: InitArgs) -> Result<ExitCode, CliError> {
    let answers = if args.yes {
        from_flags(&args)?
    } else if std::io::stdin().is_terminal() {
        ask(&args)?
    } else {
        return Err(CliError::Usage("revis init needs --yes and flags when not interactive".to_string()));
    };
    let mut conn = ctx.connect().await?;
    let ssh_host = match args.ssh.clone() {
        Some(host) => Some(host),
        None if !args.yes => choose_host(&mut conn.client).await?,
        None => None,
    };
    if let Some(host) = &ssh_host {
        check_host(&mut conn.client, host, args.trust_host, !args.yes).await?;
    }
    let request = InitProjectRequest {
        project_dir: ctx.project_dir()?,
        train: answers.train,
        primary: answers.primary,
        maximize: answers.maximize,
        target: args.target,
        force: args.force,
        ssh_host,
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

type Client = revis_proto::v1::revis_client::RevisClient<tonic::transport::Channel>;

/// Interactive: local, or one of the hosts of ~/.ssh/config.
async fn choose_host(client: &mut Client) -> Result<Option<String>, CliError> {
    let hosts = client.list_hosts(revis_proto::v1::ListHostsRequest {}).await?.into_inner().hosts;
    if hosts.is_empty() {
        return Ok(None);
    }
    let mut stderr = std::io::stderr();
    let _ = writeln!(stderr, "Execution environment:\n  0) local (tmux)");
    for (i, host) in hosts.iter().enumerate() {
        let _ = writeln!(stderr, "  {}) {host} (from ~/.ssh/config)", i + 1);
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    loop {
        let answer = prompt(&mut input, &mut stderr, "Choose", Some("0"))?;
        match answer.parse::<usize>() {
            Ok(0) => return Ok(None),
            Ok(n) if n <= hosts.len() => return Ok(Some(hosts[n - 1].clone())),
            _ => {}
        }
    }
}

/// Tests the connection; an unknown host key is trusted only with --trust-host or a yes at
/// the prompt, after its fingerprint was shown.
async fn check_host(client: &mut Client, host: &str, trust: bool, interactive: bool) -> Result<(), CliError> {
    let probe = |trust| revis_proto::v1::ProbeHostRequest { host: host.to_string(), trust };
    let mut reply = client.probe_host(probe(false)).await?.into_inner();
    if let Some(fingerprint) = reply.unknown_fingerprint.clone() {
        let agreed = trust || {
            interactive && {
                let stdin = std::io::stdin();
                let mut input = stdin.lock();
                let question = format!("The host key of {host} is not known: {fingerprint}. Trust it? [y/N]");
                let answer = prompt(&mut input, &mut std::io::stderr(), &question, Some("n"))?;
                matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes")
            }
        };
        if !agreed {
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

fn from_flags(args: &InitArgs) -> Result<Answers, CliError> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    match (given(&args.train), given(&args.primary)) {
        (Some(train), Some(primary)) => Ok(Answers { train, primary, maximize: args.maximize }),
        _ => Err(CliError::Usage("revis init --yes needs --train CMD and --primary METRIC".into())),
    }
}

fn ask(args: &InitArgs) -> Result<Answers, CliError> {
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut ask_line = |question: &str, default: Option<&str>| -> Result<String, CliError> {
        loop {
            let answer = prompt(&mut input, &mut std::io::stderr(), question, default)?;
            if !answer.is_empty() {
                return Ok(answer);
            }
        }
    };
    let train = ask_line("Training command", args.train.as_deref())?;
    let primary = ask_line("Primary metric", args.primary.as_deref())?;
    let default_direction = if args.maximize { "max" } else { "min" };
    let maximize = loop {
        let answer = ask_line("Minimize or maximize it? [min/max]", Some(default_direction))?;
        if let Some(maximize) = parse_direction(&answer) {
            break maximize;
        }
    };
    Ok(Answers { train, primary, maximize })
}

/// Asks one question on `output` (stderr in use: stdout stays for results); an empty answer
/// takes the default.
fn prompt(
    input: &mut impl BufRead,
    output: &mut impl Write,
    question: &str,
    default: Option<&str>,
) -> Result<String, CliError> {
    let shown = match default {
        Some(d) if !d.is_empty() => format!("{question} ({d}): "),
        _ => format!("{question}: "),
    };
    output
        .write_all(shown.as_bytes())
        .and_then(|()| output.flush())
        .map_err(|e| CliError::io("cannot write the prompt", e))?;
    let mut line = String::new();
    let read = input.read_line(&mut line).map_err(|e| CliError::io("cannot read the answer", e))?;
    if read == 0 {
        return Err(CliError::Usage("revis init was cancelled (end of input)".into()));
    }
    let answer = line.trim();
    Ok(if answer.is_empty() { default.unwrap_or("").to_string() } else { answer.to_string() })
}

fn parse_direction(answer: &str) -> Option<bool> {
    match answer.trim().to_ascii_lowercase().as_str() {
        "min" | "minimize" | "lower" | "low" => Some(false),
        "max" | "maximize" | "higher" | "high" => Some(true),
        _ => None,
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
        assert!(matches!(ok, Ok(Answers { ref train, ref primary, maximize: true })
            if train == "python train.py" && primary == "acc"));
        for missing in [args(None, Some("acc")), args(Some("x"), None), args(Some(" "), Some("acc"))] {
            let err = from_flags(&missing).err();
            assert_eq!(err.map(|e| e.exit_code()), Some(2));
        }
    }

    #[test]
    fn prompts_take_the_default_on_empty_input_and_fail_on_eof() {
        let mut input = std::io::Cursor::new("\nval_loss\n");
        let mut shown = Vec::new();
        assert_eq!(prompt(&mut input, &mut shown, "q", Some("d")).ok().as_deref(), Some("d"));
        assert_eq!(prompt(&mut input, &mut shown, "q", None).ok().as_deref(), Some("val_loss"));
        assert!(prompt(&mut input, &mut shown, "q", None).is_err());
        assert_eq!(String::from_utf8_lossy(&shown), "q (d): q: q: ");
    }

    #[test]
    fn direction_answers() {
        assert_eq!(parse_direction("MAX"), Some(true));
        assert_eq!(parse_direction("lower"), Some(false));
        assert_eq!(parse_direction("sideways"), None);
    }
}
