//! `revis loop`: creates a session (StartLoop) and returns at once, printing its name alone on
//! the first line. `--watch` then follows it like `revis watch`. Budget text is passed to the
//! daemon untouched: the daemon owns duration parsing and reports bad values. The LLM provider
//! variables of the user's environment go along (`provider_env`), never printed.

use std::collections::HashMap;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use revis_proto::v1::{self as pb, StartLoopRequest};

use super::{Context, out, watch};
use crate::error::CliError;
use crate::{provider_env, states};

/// Start an improvement loop in the background and print its session name.
#[derive(Debug, Args)]
pub struct LoopArgs {
    /// Session name (letters, digits, - and _, up to 48; default: a generated one).
    #[arg(long)]
    pub name: Option<String>,
    /// Wall-clock budget, e.g. 30m, 4h, 1h30m (default: none).
    #[arg(long, value_name = "DURATION")]
    pub budget: Option<String>,
    /// Stop after this many training runs, the baseline included.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_iterations: Option<u32>,
    /// Stop once spend reaches this many US dollars (LLM, coding agent and GPU time).
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Run up to N trials at once (overrides revis.yaml's `parallel`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub parallel: Option<u32>,
    /// How the next change is chosen (default: the project's setting).
    #[arg(long, value_enum)]
    pub advisor: Option<Advisor>,
    /// Stay and follow the session's progress, as `revis watch` does.
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Advisor {
    /// Systematic search over the configured parameter space.
    Search,
    /// A language model proposes changes.
    Llm,
    /// The search advisor, with the language model consulted every `llm.consult_every` trials
    /// and when progress stalls.
    Hybrid,
}

impl Advisor {
    /// The protocol's advisor; the request names it by its word.
    fn proto(self) -> pb::Advisor {
        match self {
            Advisor::Search => pb::Advisor::Search,
            Advisor::Llm => pb::Advisor::Llm,
            Advisor::Hybrid => pb::Advisor::Hybrid,
        }
    }
}

fn request(args: &LoopArgs, project_dir: String, env: HashMap<String, String>) -> StartLoopRequest {
    StartLoopRequest {
        project_dir,
        name: args.name.clone().unwrap_or_default(),
        budget: args.budget.clone().unwrap_or_default(),
        max_iterations: args.max_iterations,
        max_cost: args.max_cost,
        advisor: args.advisor.map(|advisor| states::word(advisor.proto())).unwrap_or_default(),
        env,
        parallel: args.parallel,
    }
}

pub async fn run(ctx: &Context, args: LoopArgs) -> Result<ExitCode, CliError> {
    let project_dir = ctx.project_dir()?;
    let mut conn = ctx.connect().await?;
    let env = provider_env::for_session(&mut conn.client, &project_dir, "").await?;
    let request = request(&args, project_dir, env);
    let session = conn.client.start_loop(request).await?.into_inner();
    let name = session.name;
    out(&format!("{name}\n"))?;
    // Warnings go to stderr so the first line of stdout stays the name alone.
    for warning in &session.warnings {
        eprintln!("warning: {warning}");
    }
    if args.watch {
        return watch::follow(ctx, &name, false).await;
    }
    let c = ctx.project_hint();
    out(&format!("  follow: revis{c} watch {name}\n  stop:   revis{c} stop {name}\n"))?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: LoopArgs,
    }

    fn parse(argv: &[&str]) -> Result<LoopArgs, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("loop").chain(argv.iter().copied())).map(|w| w.args)
    }

    #[test]
    fn duration_text_passes_through_untouched() -> Result<(), clap::Error> {
        for text in ["4h", "30m", "1h30m", "90s", "banana"] {
            let args = parse(&["--budget", text])?;
            assert_eq!(request(&args, "/p".into(), HashMap::new()).budget, text);
        }
        Ok(())
    }

    #[test]
    fn omitted_flags_become_empty_or_absent() -> Result<(), clap::Error> {
        let req = request(&parse(&[])?, "/p".into(), HashMap::new());
        assert_eq!(req, StartLoopRequest { project_dir: "/p".into(), ..Default::default() });
        Ok(())
    }

    #[test]
    fn all_flags_reach_the_request() -> Result<(), clap::Error> {
        let args = parse(&["--name", "quick-otter", "--max-iterations", "5", "--max-cost", "2.5", "--advisor", "llm"])?;
        let req = request(&args, "/p".into(), HashMap::new());
        assert_eq!(req.name, "quick-otter");
        assert_eq!(req.max_iterations, Some(5));
        assert_eq!(req.max_cost, Some(2.5));
        assert_eq!(req.advisor, "llm");
        Ok(())
    }

    #[test]
    fn provider_env_reaches_the_request() -> Result<(), clap::Error> {
        let env = HashMap::from([("ANTHROPIC_API_KEY".to_string(), "sk-test".to_string())]);
        let req = request(&parse(&[])?, "/p".into(), env.clone());
        assert_eq!(req.env, env);
        Ok(())
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for argv in [&["--advisor", "magic"][..], &["--max-iterations", "0"], &["--max-cost", "x"]] {
            let code = parse(argv).err().map(|e| e.exit_code());
            assert_eq!(code, Some(2), "{argv:?}");
        }
    }
}
