//! The flags of `revis init` checked before anything is asked or sent: a bad value or a
//! combination that cannot mean anything is a usage error (exit 2) that names the flag. Builds
//! the answers of `--yes` (every choice of the wizard has a flag) and turns `--hide` values into
//! `context.deny` patterns.
//! Must not: prompt, print, or talk to the daemon. A pattern's glob syntax is left to the daemon,
//! which compiles it exactly as a session will (it names the field, and the caller the flag).

use super::InitArgs;
use super::choices::{Agent, Source};
use crate::error::CliError;

/// Everything `--yes` writes.
#[derive(Debug, Clone, PartialEq)]
pub struct FlagAnswers {
    pub train: String,
    pub primary: String,
    pub maximize: bool,
    pub source: Source,
    pub project: Option<String>,
    pub entity: Option<String>,
    pub tracking_uri: Option<String>,
    pub agent: Agent,
    pub deny: Vec<String>,
}

/// The answers of `--yes`: --train and --primary are required, the source defaults to
/// eval_json and the agent to auto.
pub fn answers(args: &InitArgs) -> Result<FlagAnswers, CliError> {
    check(args)?;
    let (Some(train), Some(primary)) = (given(&args.train), given(&args.primary)) else {
        return Err(usage("revis init --yes needs --train CMD and --primary METRIC"));
    };
    Ok(FlagAnswers {
        train,
        primary,
        maximize: args.maximize,
        source: args.source.unwrap_or(Source::EvalJson),
        project: given(&args.project),
        entity: given(&args.entity),
        tracking_uri: given(&args.tracking_uri),
        agent: args.agent.unwrap_or(Agent::Auto),
        deny: hide_patterns(&args.hide)?,
    })
}

/// Checks every flag, for the wizard as for `--yes` (the wizard starts its menus on them).
pub fn check(args: &InitArgs) -> Result<(), CliError> {
    if let Some(target) = args.target.filter(|t| !t.is_finite()) {
        return Err(usage(format!("--target must be a finite number (got {target})")));
    }
    let texts = [
        ("--ssh", &args.ssh),
        ("--work-dir", &args.work_dir),
        ("--project", &args.project),
        ("--entity", &args.entity),
        ("--tracking-uri", &args.tracking_uri),
    ];
    for (flag, value) in texts {
        if value.as_ref().is_some_and(|v| v.trim().is_empty()) {
            return Err(usage(format!("{flag} needs a value")));
        }
    }
    if args.work_dir.is_some() && args.ssh.is_none() && !args.slurm {
        return Err(usage("--work-dir needs --ssh or --slurm (it is where sessions live there)".to_string()));
    }
    check_source_flags(args)?;
    if let Some(uri) = given(&args.tracking_uri)
        && !is_http_url(&uri)
    {
        // The daemon reads MLflow over the tracking server's REST API only (no file: stores).
        return Err(usage(format!(
            "--tracking-uri '{uri}' is not an http(s) URL of an MLflow tracking server (e.g. http://127.0.0.1:5000)"
        )));
    }
    hide_patterns(&args.hide).map(|_| ())
}

/// --entity is W&B's, --tracking-uri MLflow's, --project either's. With --yes the source is
/// eval_json unless --source says otherwise; the wizard only needs them not to contradict.
fn check_source_flags(args: &InitArgs) -> Result<(), CliError> {
    let source = if args.yes { Some(args.source.unwrap_or(Source::EvalJson)) } else { args.source };
    let shown = |s: Source| {
        if args.source.is_some() {
            format!("--source {}", s.wire())
        } else {
            format!("the default source {} (--yes without --source)", s.wire())
        }
    };
    let owned = [("--entity", &args.entity, Source::Wandb), ("--tracking-uri", &args.tracking_uri, Source::Mlflow)];
    for (flag, value, owner) in owned {
        if value.is_none() {
            continue;
        }
        if let Some(s) = source.filter(|s| *s != owner) {
            return Err(usage(format!(
                "{flag} is a setting of --source {}; it does not apply to {}",
                owner.wire(),
                shown(s)
            )));
        }
    }
    if args.entity.is_some() && args.tracking_uri.is_some() {
        return Err(usage("--entity (W&B) and --tracking-uri (MLflow) belong to different sources: give one"));
    }
    if args.project.is_some()
        && let Some(s) = source.filter(|s| *s == Source::EvalJson)
    {
        return Err(usage(format!(
            "--project names a W&B project or an MLflow experiment (--source wandb or mlflow); it does not apply to {}",
            shown(s)
        )));
    }
    Ok(())
}

/// The source the flags point to, for where the wizard's menu starts: --source, else the source
/// --entity or --tracking-uri belongs to.
pub fn implied_source(args: &InitArgs) -> Option<Source> {
    args.source.or_else(|| {
        if args.entity.is_some() {
            Some(Source::Wandb)
        } else if args.tracking_uri.is_some() {
            Some(Source::Mlflow)
        } else {
            None
        }
    })
}

/// The `context.deny` patterns of every --hide value (each may be a comma-separated list),
/// trimmed, in order, without repeats. Refused: patterns that would hide nothing (empty, a
/// `#` comment, only slashes), `!` negation (hiding is never undone) and `..` (patterns are
/// relative to the project root).
pub fn hide_patterns(values: &[String]) -> Result<Vec<String>, CliError> {
    let mut patterns: Vec<String> = Vec::new();
    for value in values {
        for pattern in split_list(value) {
            let pattern = pattern.trim();
            if let Some(problem) = pattern_problem(pattern) {
                return Err(usage(format!("--hide '{pattern}': {problem}")));
            }
            if !patterns.iter().any(|p| p == pattern) {
                patterns.push(pattern.to_string());
            }
        }
    }
    Ok(patterns)
}

fn pattern_problem(pattern: &str) -> Option<&'static str> {
    if pattern.trim_matches('/').is_empty() {
        Some("an empty pattern hides nothing (is there a stray comma?)")
    } else if pattern.starts_with('#') {
        Some("a pattern starting with # is a comment in context.deny and hides nothing; write \\# for a leading #")
    } else if pattern.starts_with('!') {
        Some("negation is not supported (hidden files stay hidden); write \\! for a leading !")
    } else if pattern.split('/').any(|segment| segment == "..") {
        Some("patterns are relative to the project root; '..' cannot name anything inside it")
    } else {
        None
    }
}

/// Splits at commas outside `{a,b}` alternatives and `[...]` classes; a backslash keeps the
/// next character (so `\,` is a literal comma, as it is in the glob).
fn split_list(value: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let (mut braces, mut in_class, mut class_start) = (0usize, false, false);
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        let first_in_class = class_start;
        class_start = false;
        match c {
            '\\' => {
                current.push(c);
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                continue;
            }
            // `[]a]` and `[!]a]`: a `]` right after the opening is part of the class.
            ']' if in_class && !first_in_class => in_class = false,
            '!' | '^' if first_in_class => class_start = true,
            '[' if !in_class => (in_class, class_start) = (true, true),
            '{' if !in_class => braces += 1,
            '}' if !in_class => braces = braces.saturating_sub(1),
            ',' if !in_class && braces == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    parts.push(current);
    parts
}

/// `http://` or `https://` followed by a host.
fn is_http_url(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    let rest = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
    rest.is_some_and(|r| !r.starts_with('/') && !r.is_empty() && !r.contains(char::is_whitespace))
}

/// The value of a text flag, trimmed (as the wizard trims its answers); None when absent or blank.
fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string)
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

/// The flag that set an InitProjectRequest field, for the daemon's `revis-field` metadata.
pub fn flag_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "train" => "--train",
        "primary" => "--primary",
        "target" => "--target",
        "metrics_source" => "--source",
        "metrics_project" => "--project",
        "metrics_entity" => "--entity",
        "tracking_uri" => "--tracking-uri",
        "ssh_host" => "--ssh",
        "work_dir" => "--work-dir",
        "coding_agent" => "--agent",
        "deny" => "--hide",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Result<InitArgs, clap::Error> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            init: InitArgs,
        }
        let all = ["init", "--yes", "--train", "python train.py", "--primary", "val_loss"];
        Ok(Cli::try_parse_from(all.iter().chain(extra))?.init)
    }

    fn answers_of(extra: &[&str]) -> Result<FlagAnswers, String> {
        let args = args(extra).map_err(|e| format!("clap: {e}"))?;
        answers(&args).map_err(|e| {
            assert_eq!(e.exit_code(), 2, "{e}");
            e.to_string()
        })
    }

    #[test]
    fn every_wizard_choice_has_a_flag() -> Result<(), String> {
        let a = answers_of(&[
            "--source",
            "wandb",
            "--project",
            " vision ",
            "--entity",
            "team",
            "--maximize",
            "--agent",
            "codex",
            "--hide",
            ".env,data/**",
            "--hide",
            "secrets/{a,b}.json",
        ])?;
        assert_eq!((a.train.as_str(), a.primary.as_str(), a.maximize), ("python train.py", "val_loss", true));
        assert_eq!(a.source, Source::Wandb);
        assert_eq!((a.project.as_deref(), a.entity.as_deref(), a.tracking_uri), (Some("vision"), Some("team"), None));
        assert_eq!(a.agent, Agent::Codex);
        assert_eq!(a.deny, [".env", "data/**", "secrets/{a,b}.json"]);

        let a = answers_of(&["--source", "mlflow", "--tracking-uri", "https://mlflow.lab:5000", "--agent", "none"])?;
        assert_eq!((a.source, a.tracking_uri.as_deref()), (Source::Mlflow, Some("https://mlflow.lab:5000")));
        assert_eq!(a.agent, Agent::None);

        // Defaults: what the wizard's menus start on without credentials.
        let a = answers_of(&[])?;
        assert_eq!((a.source, a.agent, a.maximize), (Source::EvalJson, Agent::Auto, false));
        assert!(a.deny.is_empty() && a.project.is_none());
        Ok(())
    }

    #[test]
    fn sources_and_agents_take_the_config_spellings() -> Result<(), String> {
        for (given, wire) in [("eval_json", "eval_json"), ("eval-json", "eval_json"), ("wandb", "wandb")] {
            assert_eq!(answers_of(&["--source", given])?.source.wire(), wire);
        }
        for (given, wire) in [("auto", "auto"), ("claude-code", "claude-code"), ("claude", "claude-code")] {
            assert_eq!(answers_of(&["--agent", given])?.agent.wire(), wire);
        }
        for bad in [["--source", "tensorboard"], ["--agent", "cursor"]] {
            let err = args(&bad).err().map(|e| (e.exit_code(), e.to_string()));
            let (code, text) = err.unwrap_or_default();
            assert_eq!(code, 2);
            assert!(text.contains(bad[0]) && text.contains("possible values"), "{text}");
        }
        Ok(())
    }

    #[test]
    fn flags_of_another_source_are_refused_naming_the_flag() {
        for (extra, flag) in [
            (&["--entity", "team"][..], "--entity"),
            (&["--source", "mlflow", "--entity", "team"], "--entity"),
            (&["--tracking-uri", "http://x"], "--tracking-uri"),
            (&["--source", "wandb", "--tracking-uri", "http://x"], "--tracking-uri"),
            (&["--project", "p"], "--project"),
            (&["--source", "eval_json", "--project", "p"], "--project"),
            (&["--source", "mlflow", "--tracking-uri", "localhost:5000"], "--tracking-uri"),
            (&["--source", "mlflow", "--tracking-uri", "file:///tmp/mlruns"], "--tracking-uri"),
            (&["--source", "wandb", "--project", " "], "--project"),
            (&["--target", "nan"], "--target"),
            (&["--ssh", ""], "--ssh"),
        ] {
            let err = answers_of(extra).err().unwrap_or_default();
            assert!(err.starts_with(flag), "{extra:?}: {err}");
        }
        // The default source is named as such, so the fix is obvious.
        let err = answers_of(&["--entity", "team"]).err().unwrap_or_default();
        assert!(err.contains("--source wandb") && err.contains("without --source"), "{err}");
    }

    #[test]
    fn the_wizard_only_refuses_contradictions() -> Result<(), clap::Error> {
        let mut wizard = args(&["--entity", "team", "--project", "p"])?;
        wizard.yes = false;
        assert!(check(&wizard).is_ok());
        assert_eq!(implied_source(&wizard), Some(Source::Wandb));
        wizard.tracking_uri = Some("http://x".into());
        assert!(check(&wizard).is_err(), "--entity and --tracking-uri point to different sources");
        wizard.entity = None;
        assert_eq!(implied_source(&wizard), Some(Source::Mlflow));
        wizard.source = Some(Source::EvalJson);
        assert!(check(&wizard).is_err());
        Ok(())
    }

    #[test]
    fn hide_lists_split_at_top_level_commas_only() -> Result<(), CliError> {
        let values = [
            ".env, data/** ,secrets/".to_string(),
            "{a,b}/*.csv,x[,]y,name\\,with\\,commas".to_string(),
            "[]a,]z,[!,]q".to_string(),
            ".env".to_string(),
        ];
        assert_eq!(
            hide_patterns(&values)?,
            [".env", "data/**", "secrets/", "{a,b}/*.csv", "x[,]y", "name\\,with\\,commas", "[]a,]z", "[!,]q"]
        );
        Ok(())
    }

    #[test]
    fn hide_patterns_that_hide_nothing_or_unhide_are_refused() {
        for bad in ["", "a,,b", "a,", "/", "#notes", "!keep.py", "../outside", "data/../x"] {
            let err = hide_patterns(&[bad.to_string()]).err();
            assert_eq!(err.as_ref().map(CliError::exit_code), Some(2), "{bad}");
            let text = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(text.starts_with("--hide '"), "{bad}: {text}");
        }
        // Escaped, they are plain names.
        assert!(hide_patterns(&["\\#notes".into(), "\\!keep.py".into(), "..data".into()]).is_ok());
    }

    #[test]
    fn daemon_fields_map_back_to_flags() {
        assert_eq!(flag_of("deny"), Some("--hide"));
        assert_eq!(flag_of("metrics_source"), Some("--source"));
        assert_eq!(flag_of("coding_agent"), Some("--agent"));
        assert_eq!(flag_of("something_new"), None);
    }
}
