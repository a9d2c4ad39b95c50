//! The handoff prompt. It says only what the caller passed: denied files are filtered out
//! before they get here, and nothing in this file lists or reads the worktree.

use std::fmt::Write as _;

/// What the advisor wants changed, and what the agent must leave alone.
#[derive(Debug, Clone, Copy)]
pub struct Handoff<'a> {
    pub request: &'a str,
    pub hypothesis: Option<&'a str>,
    /// Relevant files named by the advisor; never a denied file.
    pub files: &'a [String],
    pub constraints: &'a [String],
    /// One line per recent iteration, with its metrics.
    pub history: &'a [String],
    /// `context.frozen` globs.
    pub frozen: &'a [String],
    pub primary: &'a str,
    pub minimize: bool,
}

/// The prompt handed to the agent. Markdown sections, so every agent reads it the same way.
pub fn prompt(h: &Handoff) -> String {
    let mut out = String::new();
    // Starts with '#', never '-': the prompt is a positional argument on every CLI.
    section(&mut out, "Task", h.request.trim());
    if !h.primary.trim().is_empty() {
        let direction = if h.minimize { "minimize" } else { "maximize" };
        let _ =
            writeln!(out, "This is part of an experiment loop whose goal is to {direction} `{}`.\n", h.primary.trim());
    }
    if let Some(why) = h.hypothesis.map(str::trim).filter(|why| !why.is_empty()) {
        section(&mut out, "Why", why);
    }
    list_section(&mut out, "Relevant files", h.files.iter().map(|file| format!("`{}`", file.trim())));
    list_section(&mut out, "Constraints", h.constraints.iter().map(|c| c.trim().to_string()));
    list_section(&mut out, "Recent results", h.history.iter().map(|line| line.trim().to_string()));

    let mut frozen = vec!["the evaluation code and data".to_string()];
    frozen.extend(h.frozen.iter().map(|glob| format!("files matching `{}`", glob.trim())));
    list_section(&mut out, "Do not modify", frozen.into_iter());

    list_section(
        &mut out,
        "Working rules",
        [
            "Edit files in place in the current directory only; do not touch files outside it.",
            "Do not commit, create branches or stash: leave your changes uncommitted in the working tree.",
            "Keep the change focused on the task; it will be reviewed and tested after you finish.",
            "Data directories and virtual environments are not in this directory: do not try to run the \
             training; Revis runs it after you finish to verify the change.",
            "When you are done, reply with a short summary of what you changed and why.",
        ]
        .into_iter()
        .map(str::to_string),
    );
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

fn section(out: &mut String, title: &str, body: &str) {
    let _ = write!(out, "# {title}\n\n{body}\n\n");
}

/// Skipped when empty; items spanning lines are indented so they stay one item.
fn list_section(out: &mut String, title: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.filter(|item| !item.is_empty()).collect();
    if items.is_empty() {
        return;
    }
    let _ = write!(out, "# {title}\n\n");
    for item in items {
        let _ = writeln!(out, "- {}", item.replace('\n', "\n  "));
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_section_carries_what_was_passed() {
        let files = strings(&["train.py", "model/sched.py"]);
        let constraints = strings(&["keep the batch size", "no new dependencies"]);
        let history = strings(&["#3 lr=0.01: val_loss 0.41 (best)", "#4 lr=0.02: val_loss 0.45"]);
        let frozen = strings(&["eval/**", "data/*.csv"]);
        let text = prompt(&Handoff {
            request: "Add a cosine learning-rate schedule",
            hypothesis: Some("Warm restarts should get past the plateau"),
            files: &files,
            constraints: &constraints,
            history: &history,
            frozen: &frozen,
            primary: "val_loss",
            minimize: true,
        });
        assert!(text.starts_with("# Task\n\nAdd a cosine learning-rate schedule\n"));
        assert!(text.contains("goal is to minimize `val_loss`"));
        assert!(text.contains("# Why\n\nWarm restarts should get past the plateau"));
        assert!(text.contains("# Relevant files\n\n- `train.py`\n- `model/sched.py`\n"));
        assert!(text.contains("# Constraints\n\n- keep the batch size\n- no new dependencies\n"));
        assert!(text.contains("# Recent results\n\n- #3 lr=0.01: val_loss 0.41 (best)\n"));
        assert!(text.contains(
            "# Do not modify\n\n- the evaluation code and data\n- files matching `eval/**`\n- files matching `data/*.csv`\n"
        ));
        assert!(text.contains("# Working rules"));
        assert!(text.contains("current directory only"));
        assert!(text.contains("Do not commit"));
    }

    #[test]
    fn empty_parts_are_left_out() {
        let text = prompt(&Handoff {
            request: "Fix the crash",
            hypothesis: None,
            files: &[],
            constraints: &[],
            history: &[],
            frozen: &[],
            primary: "accuracy",
            minimize: false,
        });
        assert!(text.contains("maximize `accuracy`"));
        for absent in ["# Why", "# Relevant files", "# Constraints", "# Recent results", "files matching"] {
            assert!(!text.contains(absent), "{absent} should be absent:\n{text}");
        }
        assert!(text.contains("- the evaluation code and data"));
    }

    #[test]
    fn names_only_the_files_it_was_given() {
        // The caller filters denied files; the prompt must not add any file of its own.
        let files = strings(&["train.py"]);
        let text = prompt(&Handoff {
            request: "Tune the optimizer",
            hypothesis: Some(""),
            files: &files,
            constraints: &[],
            history: &[],
            frozen: &[],
            primary: "",
            minimize: true,
        });
        let backticked: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
        assert_eq!(backticked, vec!["train.py"]);
        assert!(!text.contains("# Why"));
        assert!(!text.contains("goal is to"));
    }

    #[test]
    fn multi_line_items_stay_one_item() {
        let constraints = strings(&["first line\nsecond line"]);
        let text = prompt(&Handoff {
            request: "x",
            hypothesis: None,
            files: &[],
            constraints: &constraints,
            history: &[],
            frozen: &[],
            primary: "m",
            minimize: true,
        });
        assert!(text.contains("- first line\n  second line\n"));
    }
}
