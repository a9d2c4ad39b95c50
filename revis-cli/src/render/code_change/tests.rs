//! The code-change block of `show --trace`, on plain output and on hostile agent output.

use super::*;

fn change() -> AgentChange {
    AgentChange {
        agent: "claude-code".into(),
        request: "add dropout after each attention block".into(),
        summary: "Added nn.Dropout(0.1) after attention.\nUpdated the config default.".into(),
        cost_usd: Some(0.4213),
        files: vec!["model.py".into(), "config.yaml".into()],
        diff: "diff --git a/model.py b/model.py\n--- a/model.py\n+++ b/model.py\n@@ -1,2 +1,3 @@\n import torch\n-x = 1\n+x = 2\n"
            .into(),
        duration_seconds: 252.0,
        verified: Some("entry.smoke".into()),
    }
}

fn render(agent: &AgentChange) -> String {
    code_change(agent, &Palette::plain())
}

#[test]
fn the_header_names_agent_duration_cost_and_verification() {
    let text = render(&change());
    assert_eq!(text.lines().next(), Some("--- code change by claude-code (4m 12s, $0.42, verified: entry.smoke) ---"));
    let unknown = AgentChange { cost_usd: None, verified: None, agent: String::new(), ..change() };
    assert_eq!(render(&unknown).lines().next(), Some("--- code change by a coding agent (4m 12s, verified: no) ---"));
}

#[test]
fn request_summary_files_and_diff_follow_the_header() {
    let text = render(&change());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "  request: add dropout after each attention block");
    assert_eq!(lines[2], "  summary: Added nn.Dropout(0.1) after attention.");
    assert_eq!(lines[3], "           Updated the config default.");
    assert_eq!(lines[4], "  files:   model.py, config.yaml");
    assert_eq!(lines[5], "  diff:");
    assert_eq!(lines[6], "    diff --git a/model.py b/model.py");
    assert_eq!(lines[11], "    -x = 1");
    assert_eq!(lines[12], "    +x = 2");
    assert_eq!(lines.len(), 13, "{text}");
}

#[test]
fn long_summaries_and_diffs_are_cut_with_a_count() {
    let summary: Vec<String> = (1..=25).map(|i| format!("step {i}")).collect();
    let diff: Vec<String> = (1..=230).map(|i| format!("+line {i}")).collect();
    let agent = AgentChange { summary: summary.join("\n"), diff: diff.join("\n"), ..change() };
    let text = render(&agent);
    assert!(text.contains("           step 20\n           … (5 more lines)\n"), "{text}");
    assert!(!text.contains("step 21"));
    assert!(text.contains("    +line 200\n    … (30 more lines of diff)\n"), "{text}");
    assert!(!text.contains("+line 201"));
}

#[test]
fn missing_parts_say_so() {
    let agent = AgentChange { summary: " ".into(), files: Vec::new(), diff: String::new(), ..change() };
    let text = render(&agent);
    assert!(text.contains("  summary: (none)\n"), "{text}");
    assert!(text.contains("  files:   (none)\n"), "{text}");
    assert!(text.contains("  diff:    (none recorded)\n"), "{text}");
}

#[test]
fn agent_output_cannot_drive_the_terminal() {
    let agent = AgentChange {
        summary: "done\x1b[2J".into(),
        diff: "+evil\x1b]0;title\x07\n".into(),
        verified: Some("smoke\r".into()),
        ..change()
    };
    let text = render(&agent);
    assert!(!text.contains('\x1b') && !text.contains('\x07') && !text.contains('\r'), "{text:?}");
}

#[test]
fn diff_lines_are_coloured_by_kind() {
    let text = code_change(&change(), &Palette::decide_for_test());
    assert!(text.contains("\x1b[32m+x = 2"), "{text:?}");
    assert!(text.contains("\x1b[31m-x = 1"), "{text:?}");
    assert!(text.contains("\x1b[36m@@ -1,2 +1,3 @@"), "{text:?}");
}
