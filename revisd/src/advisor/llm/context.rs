//! The prompt: a stable part (goal, command, knobs, constraints, how to work) that stays
//! byte-identical across decisions so providers can cache it, and a dynamic part (where the
//! session stands) whose size is bounded however long the session runs: the last
//! `context.history` iterations in full, older ones as a fixed-size summary, and a capped log
//! tail when the last run failed.

use std::fmt::Write as _;

use crate::config::Config;

/// One past iteration as the advisor sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HistoryEntry {
    pub number: u32,
    pub state: crate::states::IterationState,
    pub outcome: Option<crate::states::Outcome>,
    pub primary: Option<f64>,
    pub metrics: serde_json::Map<String, serde_json::Value>,
    pub change: Option<String>,
    pub hypothesis: Option<String>,
    pub failure_reason: Option<String>,
    pub command: String,
}

/// Where the session stands when a decision is asked for.
#[derive(Debug, Clone)]
pub struct Situation<'a> {
    pub history: &'a [HistoryEntry],
    pub best: Option<(u32, f64)>,
    pub noise_floor: f64,
    /// The command the next change starts from (the best iteration's).
    pub command: &'a str,
    /// The last lines of the latest run's log, when it failed.
    pub failed_log_tail: Option<Vec<String>>,
    pub iterations_left: Option<u32>,
    pub seconds_left: Option<f64>,
    pub usd_left: Option<f64>,
    /// Problems with the previous try, when the last decision failed.
    pub previous_failure: Option<String>,
    /// Trials running in other slots (or decided and about to): one line each.
    pub running: Vec<String>,
    /// Slots free for new trials now, the one being decided included.
    pub free_slots: usize,
}

/// Caps that keep the dynamic part bounded.
const LINE_CAP: usize = 400;
const LOG_TAIL_BYTES: usize = 12 * 1024;
const OLDER_BEST_SHOWN: usize = 5;

pub fn stable_prompt(config: &Config) -> String {
    let m = &config.metrics;
    let direction = if m.minimize { "minimize" } else { "maximize" };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "You are Revis, an experiment advisor for a machine-learning training loop. After each training run you \
         decide the single next change that is most likely to improve the primary metric, and it is applied, \
         committed and trained automatically.\n\n\
         How to work:\n\
         - Inspect what you need with the tools (read_file, list_directory, search_code, get_training_logs, \
           get_history), then call submit_decision exactly once.\n\
         - Prefer small, testable changes with one clear hypothesis: config values (config_edit on YAML, JSON or TOML \
           keys that exist), command-line arguments (arg), or the whole training command (command). Ask for a code \
           change (code) only when configuration cannot express the idea; it is handed to a coding agent or a human.\n\
         - Changes apply to the best state so far, not to the last run.\n\
         - If a run failed, fix the cause first. If the search looks finished, submit action \"stop\" with why; if you \
           need a human, action \"escalate\".\n\
         - Some files are hidden from you on purpose; do not try to guess or reach them."
    );
    let _ = writeln!(s, "\n## Goal\n{direction} `{}` (metrics source: {:?})", m.primary, m.source);
    if let Some(target) = m.target {
        let _ = writeln!(s, "Target: {target} (the session stops when it is reached).");
    }
    let _ = writeln!(s, "\n## Training command of the baseline\n`{}`", config.entry.train);
    if !config.search.space.is_empty() {
        let _ = writeln!(s, "\n## Known knobs (the declared search space)");
        for (name, p) in &config.search.space {
            let target = match (&p.file, &p.key, &p.arg) {
                (Some(file), Some(key), _) => format!("{file} key {key}"),
                (_, _, Some(arg)) => format!("argument {arg}"),
                _ => "?".to_string(),
            };
            let domain = match (&p.values, p.low, p.high) {
                (Some(values), _, _) => format!("one of {}", serde_json::Value::from(values.clone())),
                (None, Some(low), Some(high)) => {
                    format!("{low} to {high}{}", if p.log { " (log scale)" } else { "" })
                }
                _ => String::new(),
            };
            let _ = writeln!(s, "- {name}: {target}, {domain}");
        }
    }
    if !config.context.constraints.is_empty() {
        let _ = writeln!(s, "\n## Constraints set by the user (never break them)");
        for c in &config.context.constraints {
            let _ = writeln!(s, "- {c}");
        }
    }
    s
}

pub fn dynamic_prompt(config: &Config, situation: &Situation<'_>, primary: &str) -> String {
    let mut s = String::new();
    let shown = config.context.history.max(1) as usize;
    let history = situation.history;
    let split = history.len().saturating_sub(shown);
    let (older, recent) = history.split_at(split);

    let _ = writeln!(s, "## Where the session stands");
    match situation.best {
        Some((n, v)) => {
            let _ = writeln!(s, "Best so far: {primary}={v} at iteration {n}.");
        }
        None => {
            let _ = writeln!(s, "No successful run yet.");
        }
    }
    if let Some(baseline) = history.iter().find(|h| h.number == 0).and_then(|h| h.primary) {
        let _ = writeln!(s, "Baseline: {primary}={baseline}.");
    }
    if situation.noise_floor > 0.0 {
        let _ = writeln!(s, "Run-to-run noise: differences under {:.4} are not meaningful.", situation.noise_floor);
    }
    let _ = writeln!(s, "The next change applies to this command: `{}`", cap(situation.command, LINE_CAP));
    let mut left = Vec::new();
    if let Some(n) = situation.iterations_left {
        left.push(format!("{n} iterations"));
    }
    if let Some(secs) = situation.seconds_left {
        left.push(format!("{:.0} minutes", secs / 60.0));
    }
    if let Some(usd) = situation.usd_left {
        left.push(format!("${usd:.2} of LLM spend"));
    }
    if !left.is_empty() {
        let _ = writeln!(s, "Budget left: {}.", left.join(", "));
    }

    if !situation.running.is_empty() {
        let _ = writeln!(
            s,
            "\n## Trials running now in other slots ({}); their results are not in yet: propose something else",
            situation.running.len()
        );
        for line in &situation.running {
            let _ = writeln!(s, "- {}", cap(line, LINE_CAP));
        }
    }

    if situation.free_slots > 1 {
        let _ = writeln!(
            s,
            "\n{} slots are free now: you may propose up to {} changes at once, the first in `changes` and up to {} \
             more under `more`, each with its own rationale and hypothesis (they run at the same time).",
            situation.free_slots,
            situation.free_slots,
            situation.free_slots - 1
        );
    }

    if !older.is_empty() {
        let _ = writeln!(s, "\n## Older iterations (summary of {})", older.len());
        let improved = older.iter().filter(|h| h.outcome == Some(crate::states::Outcome::Improved)).count();
        let failed = older.iter().filter(|h| h.state == crate::states::IterationState::Failed).count();
        let _ = writeln!(s, "{improved} improved, {failed} failed.");
        let mut best: Vec<&HistoryEntry> = older.iter().filter(|h| h.primary.is_some()).collect();
        best.sort_by(|a, b| {
            let (a, b) = (a.primary.unwrap_or(f64::NAN), b.primary.unwrap_or(f64::NAN));
            let ord = a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal);
            if config.metrics.minimize { ord } else { ord.reverse() }
        });
        if !best.is_empty() {
            let _ = writeln!(s, "Best of them:");
            for h in best.into_iter().take(OLDER_BEST_SHOWN) {
                let _ = writeln!(s, "{}", cap(&entry_line(h, primary), LINE_CAP));
            }
        }
        let _ = writeln!(s, "(get_history gives any iteration in full.)");
    }

    let _ = writeln!(s, "\n## Recent iterations");
    for h in recent {
        let _ = writeln!(s, "{}", cap(&entry_line(h, primary), LINE_CAP));
        if let Some(hyp) = &h.hypothesis {
            let _ = writeln!(s, "    hypothesis: {}", cap(hyp, LINE_CAP));
        }
    }

    if let Some(tail) = &situation.failed_log_tail {
        let _ = writeln!(s, "\n## End of the failed run's log");
        let text = tail.join("\n");
        let start = text.len().saturating_sub(LOG_TAIL_BYTES);
        let start = (start..=text.len()).find(|&i| text.is_char_boundary(i)).unwrap_or(text.len());
        let _ = writeln!(s, "```\n{}\n```", &text[start..]);
    }
    if let Some(problem) = &situation.previous_failure {
        let _ = writeln!(s, "\n## The previous attempt at this decision failed\n{}", cap(problem, 2 * LINE_CAP));
    }
    s
}

fn entry_line(h: &HistoryEntry, primary: &str) -> String {
    let value = match (h.primary, &h.failure_reason) {
        (Some(v), _) => format!("{primary}={v}"),
        (None, Some(reason)) => format!("failed: {reason}"),
        (None, None) => h.state.to_string(),
    };
    let outcome = h.outcome.map_or(h.state.as_str(), |o| o.as_str());
    let change = h.change.as_deref().unwrap_or("-");
    format!("#{} [{outcome}] {value}; change: {change}", h.number)
}

fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
    format!("{}…", &text[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::config::load_str(
            "entry:\n  train: python train.py\nmetrics:\n  primary: loss\ncontext:\n  history: 5\n",
            std::path::Path::new("revis.yaml"),
        )
        .unwrap()
        .config
    }

    fn history(n: u32) -> Vec<HistoryEntry> {
        (0..n)
            .map(|i| HistoryEntry {
                number: i,
                state: crate::states::IterationState::Succeeded,
                outcome: Some(if i == 0 {
                    crate::states::Outcome::Baseline
                } else {
                    crate::states::Outcome::NoImprovement
                }),
                primary: Some(1.0 + f64::from(i % 7) / 10.0),
                metrics: serde_json::Map::new(),
                change: Some(format!("lr in configs/base.yaml: 0.{i} → 0.{}", i + 1)),
                hypothesis: Some("a smaller learning rate trains more stably".into()),
                failure_reason: None,
                command: "python train.py".into(),
            })
            .collect()
    }

    fn situation(history: &[HistoryEntry]) -> Situation<'_> {
        Situation {
            history,
            best: Some((0, 1.0)),
            noise_floor: 0.0,
            command: "python train.py",
            failed_log_tail: None,
            iterations_left: None,
            seconds_left: None,
            usd_left: None,
            previous_failure: None,
            running: Vec::new(),
            free_slots: 1,
        }
    }

    #[test]
    fn the_prompt_does_not_grow_with_the_number_of_iterations() {
        let c = config();
        let (h10, h1000) = (history(10), history(1000));
        let small = dynamic_prompt(&c, &situation(&h10), "loss").len();
        let large = dynamic_prompt(&c, &situation(&h1000), "loss").len();
        assert!(large as f64 <= small as f64 * 1.5, "{small} -> {large}");
    }

    #[test]
    fn the_stable_part_does_not_depend_on_the_situation() {
        let c = config();
        assert_eq!(stable_prompt(&c), stable_prompt(&c));
        assert!(stable_prompt(&c).contains("minimize `loss`"));
    }

    #[test]
    fn recent_iterations_are_shown_in_full_and_older_ones_summarised() {
        let c = config();
        let h = history(20);
        let text = dynamic_prompt(&c, &situation(&h), "loss");
        assert!(text.contains("#19 [no_improvement]"));
        assert!(text.contains("Older iterations (summary of 15)"));
        // #3 is older and not among the best: only the summary counts it.
        assert!(!text.contains("#3 ["), "{text}");
    }
}
