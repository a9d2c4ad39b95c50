//! The decisions of interactive `revis init` that need no terminal: menu labels, which entry a
//! menu starts on, the guess of a metric's direction, and which provider variables travel with
//! a Discover call. Must not: prompt, print, or talk to the daemon (the wizard does that).

use std::collections::HashMap;

use clap::ValueEnum;

/// Where the primary metric comes from, as the menu (and `--source`) offers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// Weights & Biases (with --project and --entity).
    Wandb,
    /// An MLflow tracking server (with --project, the experiment, and --tracking-uri).
    Mlflow,
    /// $REVIS_OUTPUT_DIR/eval.json, written by the training script.
    #[value(name = "eval_json", alias = "eval-json")]
    EvalJson,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Wandb, Source::Mlflow, Source::EvalJson];

    pub fn label(self) -> &'static str {
        match self {
            Source::Wandb => "Weights & Biases",
            Source::Mlflow => "MLflow",
            Source::EvalJson => "eval.json (manual)",
        }
    }

    /// The value of `metrics.source` (and of InitProjectRequest.metrics_source).
    pub fn wire(self) -> &'static str {
        match self {
            Source::Wandb => "wandb",
            Source::Mlflow => "mlflow",
            Source::EvalJson => "eval_json",
        }
    }

    /// The name Discover expects; eval.json has nothing to discover.
    pub fn discover_name(self) -> Option<&'static str> {
        match self {
            Source::Wandb => Some("wandb"),
            Source::Mlflow => Some("mlflow"),
            Source::EvalJson => None,
        }
    }

    /// What this source calls a project, for prompts ("W&B project", "MLflow experiment").
    pub fn project_noun(self) -> &'static str {
        match self {
            Source::Wandb => "W&B project",
            Source::Mlflow => "MLflow experiment",
            Source::EvalJson => "project",
        }
    }
}

/// The provider variables a Discover call may need; the daemon uses them for that call only.
pub const DISCOVER_VARS: [&str; 3] = ["WANDB_API_KEY", "WANDB_BASE_URL", "MLFLOW_TRACKING_URI"];

/// The set, non-empty ones of [`DISCOVER_VARS`] according to `lookup` (an empty value would
/// otherwise hide a key the daemon has itself).
pub fn discover_env(lookup: impl Fn(&str) -> Option<String>) -> HashMap<String, String> {
    DISCOVER_VARS
        .iter()
        .filter_map(|name| lookup(name).filter(|v| !v.is_empty()).map(|v| ((*name).to_string(), v)))
        .collect()
}

/// The source the menu starts on: the one the user has credentials for, else eval.json (which
/// needs no service at all).
pub fn default_source(env: &HashMap<String, String>) -> Source {
    if env.contains_key("WANDB_API_KEY") {
        Source::Wandb
    } else if env.contains_key("MLFLOW_TRACKING_URI") {
        Source::Mlflow
    } else {
        Source::EvalJson
    }
}

/// The metric the menu starts on: the one given with --primary, else a validation loss, else
/// any loss, else the first.
pub fn default_metric(metrics: &[String], given: Option<&str>) -> usize {
    let find = |pred: &dyn Fn(&str) -> bool| metrics.iter().position(|m| pred(&m.to_ascii_lowercase()));
    given
        .and_then(|g| metrics.iter().position(|m| m == g))
        .or_else(|| find(&|m| (m.contains("val") || m.contains("eval")) && m.contains("loss")))
        .or_else(|| find(&|m| m.contains("loss")))
        .unwrap_or(0)
}

/// Where a menu of `items` followed by "Other" starts for a name given with a flag: on the item,
/// on "Other" (which then offers the name as the default text) when it is not listed, else on
/// the first item.
pub fn start_on(items: &[String], given: Option<&str>) -> usize {
    match given {
        Some(g) => items.iter().position(|i| i == g).unwrap_or(items.len()),
        None => 0,
    }
}

/// Whether higher is probably better for a metric of this name; None when the name says
/// nothing (the menu then starts on minimize).
pub fn guess_maximize(metric: &str) -> Option<bool> {
    let name = metric.to_ascii_lowercase();
    // The last path segment carries the meaning: "eval/accuracy", "val.loss".
    let last = name.rsplit(['/', '.']).next().unwrap_or(&name);
    const LOWER: &[&str] = &["loss", "error", "err", "perplexity", "ppl", "mse", "mae", "rmse", "wer", "cer", "nll"];
    const HIGHER: &[&str] =
        &["acc", "accuracy", "f1", "auc", "precision", "recall", "bleu", "rouge", "score", "map", "iou", "reward"];
    let words: Vec<&str> = last.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect();
    if words.iter().any(|w| LOWER.contains(w)) {
        Some(false)
    } else if words.iter().any(|w| HIGHER.contains(w)) {
        Some(true)
    } else {
        None
    }
}

/// The coding agents the menu offers after `auto`, as `coding_agent.type` values.
pub const EXPLICIT_AGENTS: [&str; 3] = ["claude-code", "codex", "aider"];

/// A `coding_agent.type`, as `--agent` takes it (the menu's values, in the menu's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Agent {
    /// The first of claude, codex and aider found on the daemon's PATH.
    Auto,
    /// Claude Code (the `claude` CLI).
    #[value(alias = "claude")]
    ClaudeCode,
    Codex,
    Aider,
    /// No agent: a code change pauses the session for you to make it.
    None,
}

impl Agent {
    /// The value of `coding_agent.type` (and of InitProjectRequest.coding_agent).
    pub fn wire(self) -> &'static str {
        match self {
            Agent::Auto => "auto",
            Agent::ClaudeCode => "claude-code",
            Agent::Codex => "codex",
            Agent::Aider => "aider",
            Agent::None => "none",
        }
    }
}

/// The coding-agent menu: (label, value) pairs, `auto` first.
pub fn agent_options(detected: &str) -> Vec<(String, &'static str)> {
    let auto = if detected.is_empty() {
        "auto (none detected yet: pauses for manual changes)".to_string()
    } else {
        format!("auto ({detected} detected)")
    };
    let mut options = vec![(auto, "auto")];
    options.extend(EXPLICIT_AGENTS.iter().map(|a| ((*a).to_string(), *a)));
    options.push(("none (pause for manual changes)".to_string(), "none"));
    options
}

/// One entry of the execution-environment menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Local,
    Host(String),
}

/// The execution-environment menu: local first, then the hosts of ~/.ssh/config, then a host
/// given with --ssh that is not among them. Also returns where the menu starts.
pub fn place_options(hosts: &[String], given: Option<&str>) -> (Vec<(String, Place)>, usize) {
    let mut options = vec![("Local (tmux)".to_string(), Place::Local)];
    options.extend(hosts.iter().map(|h| (format!("{h} (from ~/.ssh/config)"), Place::Host(h.clone()))));
    let start = match given {
        Some(g) => match hosts.iter().position(|h| h == g) {
            Some(i) => i + 1,
            None => {
                options.push((format!("{g} (from --ssh)"), Place::Host(g.to_string())));
                options.len() - 1
            }
        },
        None => 0,
    };
    (options, start)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn only_set_discover_variables_travel() {
        let env = discover_env(|name| match name {
            "WANDB_API_KEY" => Some("k".into()),
            "WANDB_BASE_URL" => Some(String::new()),
            "ANTHROPIC_API_KEY" => Some("secret".into()),
            _ => None,
        });
        assert_eq!(env.len(), 1);
        assert_eq!(env.get("WANDB_API_KEY").map(String::as_str), Some("k"));
    }

    #[test]
    fn the_source_menu_starts_where_credentials_are() {
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
        };
        assert_eq!(default_source(&env(&[])), Source::EvalJson);
        assert_eq!(default_source(&env(&[("MLFLOW_TRACKING_URI", "http://x")])), Source::Mlflow);
        assert_eq!(default_source(&env(&[("MLFLOW_TRACKING_URI", "u"), ("WANDB_API_KEY", "k")])), Source::Wandb);
        let wires: Vec<&str> = Source::ALL.iter().map(|s| s.wire()).collect();
        assert_eq!(wires, ["wandb", "mlflow", "eval_json"]);
        assert_eq!(Source::EvalJson.discover_name(), None);
    }

    #[test]
    fn the_metric_menu_prefers_the_given_then_a_validation_loss() {
        let metrics = strings(&["accuracy", "train_loss", "val_loss"]);
        assert_eq!(default_metric(&metrics, Some("accuracy")), 0);
        assert_eq!(default_metric(&metrics, None), 2);
        assert_eq!(default_metric(&metrics, Some("missing")), 2);
        assert_eq!(default_metric(&strings(&["f1", "loss"]), None), 1);
        assert_eq!(default_metric(&strings(&["f1", "bleu"]), None), 0);
        assert_eq!(default_metric(&[], None), 0);
    }

    #[test]
    fn a_given_name_starts_the_menu_on_it_or_on_other() {
        let projects = strings(&["alpha", "beta"]);
        assert_eq!(start_on(&projects, Some("beta")), 1);
        assert_eq!(start_on(&projects, Some("gamma")), 2, "Other, with gamma as its default");
        assert_eq!(start_on(&projects, None), 0);
    }

    #[test]
    fn agents_take_the_menus_values() {
        let wires: Vec<&str> = Agent::value_variants().iter().map(|a| a.wire()).collect();
        let menu: Vec<&str> = agent_options("").iter().map(|o| o.1).collect();
        assert_eq!(wires, menu);
    }

    #[test]
    fn directions_are_guessed_from_the_name() {
        for lower in ["val_loss", "eval/perplexity", "test.error", "WER", "val-mse"] {
            assert_eq!(guess_maximize(lower), Some(false), "{lower}");
        }
        for higher in ["accuracy", "eval/acc", "val_f1", "mean_reward", "eval.bleu"] {
            assert_eq!(guess_maximize(higher), Some(true), "{higher}");
        }
        // "loss" in a directory name does not decide for the key.
        assert_eq!(guess_maximize("loss_metrics/accuracy"), Some(true));
        assert_eq!(guess_maximize("throughput"), None);
    }

    #[test]
    fn the_agent_menu_names_the_detected_agent_and_ends_with_none() {
        let options = agent_options("claude-code");
        assert_eq!(options[0], ("auto (claude-code detected)".to_string(), "auto"));
        assert_eq!(options.last().map(|o| o.1), Some("none"));
        assert_eq!(options.len(), 5);
        assert!(agent_options("")[0].0.starts_with("auto (none detected"));
    }

    #[test]
    fn the_place_menu_lists_hosts_and_starts_on_the_given_one() {
        let hosts = strings(&["gpu-box", "lab"]);
        let (options, start) = place_options(&hosts, None);
        assert_eq!(start, 0);
        assert_eq!(options[0].1, Place::Local);
        assert_eq!(options[2], ("lab (from ~/.ssh/config)".to_string(), Place::Host("lab".into())));
        assert_eq!(place_options(&hosts, Some("lab")).1, 2);
        let (options, start) = place_options(&hosts, Some("10.0.0.5"));
        assert_eq!((options.len(), start), (4, 3));
        assert_eq!(options[3].1, Place::Host("10.0.0.5".into()));
    }
}
