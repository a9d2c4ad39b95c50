use revis_proto::v1::{AgentChange, Change, Iteration, IterationState, Outcome, SessionDetail, SessionSummary};

use super::*;
use crate::commands::compare::Comparison;

fn metrics(pairs: &[(&str, f64)]) -> std::collections::HashMap<String, f64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn comparison(diff: CodeDiff) -> Comparison {
    let summary = SessionSummary {
        name: "otter".into(),
        primary_metric: "val_loss".into(),
        minimize: true,
        ..Default::default()
    };
    let session = SessionDetail { summary: Some(summary), ..Default::default() };
    let a = Iteration {
        number: 0,
        state: IterationState::Succeeded as i32,
        outcome: Some(Outcome::Baseline as i32),
        primary: Some(2.5),
        metrics: metrics(&[("val_loss", 2.5), ("accuracy", 0.3)]),
        commit: Some("aaaaaaaaaaaaaaaa".into()),
        ..Default::default()
    };
    let b = Iteration {
        number: 1,
        state: IterationState::Succeeded as i32,
        outcome: Some(Outcome::Improved as i32),
        primary: Some(2.0),
        metrics: metrics(&[("val_loss", 2.0), ("accuracy", 0.25), ("lr", 0.01)]),
        commit: Some("bbbbbbbbbbbbbbbb".into()),
        parent: Some(0),
        change: Some("lower the learning rate".into()),
        hypothesis: Some("lr 1.0 overshoots".into()),
        rationale: Some("the loss oscillates\x1b[31m\nsecond line".into()),
        changes: vec![Change {
            kind: "config_edit".into(),
            file: Some("config.json".into()),
            key: Some("lr".into()),
            value: Some("0.01".into()),
            previous: Some("1.0".into()),
            ..Default::default()
        }],
        agent: Some(AgentChange {
            agent: "claude-code".into(),
            summary: "Set lr.".into(),
            files: vec!["config.json".into()],
            cost_usd: Some(0.42),
            ..Default::default()
        }),
        ..Default::default()
    };
    let records = [&a, &b].map(crate::commands::export::schema::IterationRecord::from_iteration);
    let [a, b] = records;
    Comparison::new(&session, a, b, diff)
}

fn diff() -> CodeDiff {
    CodeDiff {
        from: Some("aaaaaaaaaaaaaaaa".into()),
        to: Some("bbbbbbbbbbbbbbbb".into()),
        command: "git -C /p diff aaaa bbbb".into(),
        stat: " config.json | 2 +-\n 1 file changed\n".into(),
        text: "diff --git a/config.json b/config.json\n@@ -1 +1 @@\n-{\"lr\": 1.0}\n+{\"lr\": 0.01}\n".into(),
        truncated: false,
        total_lines: 4,
        error: None,
    }
}

#[test]
fn both_iterations_show_what_changed_and_why() {
    let text = render(&comparison(diff()), &Palette::plain());
    assert!(text.starts_with("otter: #0 vs #1 — val_loss, lower is better\n"), "{text}");
    assert!(text.contains("#0  baseline  val_loss 2.5  commit aaaaaaaaaa\n  change:     (baseline)\n"), "{text}");
    assert!(text.contains("#1  improved  val_loss 2  commit bbbbbbbbbb  from #0\n"), "{text}");
    assert!(text.contains("  hypothesis: lr 1.0 overshoots\n"), "{text}");
    assert!(text.contains("  rationale:  the loss oscillates\u{fffd}[31m\n              second line\n"), "{text}");
    assert!(text.contains("  changes:    config_edit config.json:lr = 0.01 (was 1.0)\n"), "{text}");
    assert!(
        text.contains("  agent:      claude-code ($0.42)\n  summary:    Set lr.\n  files:      config.json\n"),
        "{text}"
    );
    assert!(!text.contains('\x1b'), "no escape codes without colour: {text:?}");
}

#[test]
fn metrics_are_side_by_side_with_spelled_out_verdicts() {
    let text = render(&comparison(diff()), &Palette::plain());
    let expected = "\
Metrics
METRIC               #0    #1  DELTA
val_loss (primary)  2.5     2  -0.5 (-20.0%) better
accuracy            0.3  0.25  -0.05 (-16.7%) worse
lr                    -  0.01  -
";
    assert!(text.contains(expected), "{text}");
}

#[test]
fn deltas_are_green_when_better_and_red_when_worse() {
    let text = render(&comparison(diff()), &Palette::decide_for_test());
    assert!(text.contains("\x1b[32m-0.5 (-20.0%) better\x1b[0m"), "{text:?}");
    assert!(text.contains("\x1b[31m-0.05 (-16.7%) worse\x1b[0m"), "{text:?}");
    assert!(text.contains("\x1b[31m-{\"lr\": 1.0}\x1b[0m"), "{text:?}");
}

#[test]
fn the_diff_follows_with_its_stat_and_a_note_when_cut() {
    let text = render(&comparison(diff()), &Palette::plain());
    assert!(text.contains("Code and config aaaaaaaaaa → bbbbbbbbbb\n config.json | 2 +-\n"), "{text}");
    assert!(text.contains("+{\"lr\": 0.01}\n"), "{text}");
    assert!(!text.contains("diff cut"), "{text}");

    let cut = CodeDiff { truncated: true, total_lines: 900, ..diff() };
    let text = render(&comparison(cut), &Palette::plain());
    assert!(text.contains("… diff cut at 4 of 900 lines; the whole diff: git -C /p diff aaaa bbbb\n"), "{text}");
}

#[test]
fn a_missing_or_empty_diff_is_said_plainly() {
    let none = CodeDiff::unavailable(None, Some("b".into()), "iteration #3 has no commit (still running)".into());
    let text = render(&comparison(none), &Palette::plain());
    assert!(text.ends_with("Code and config\n  no diff: iteration #3 has no commit (still running)\n"), "{text}");
    let same = CodeDiff { stat: String::new(), text: String::new(), ..diff() };
    assert!(render(&comparison(same), &Palette::plain()).ends_with("  no differences\n"));
}

#[test]
fn the_json_form_names_both_iterations_and_every_metric() -> Result<(), serde_json::Error> {
    let json = serde_json::to_value(comparison(diff()))?;
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["iterations"][1]["number"], 1);
    assert_eq!(json["iterations"][1]["state"], "succeeded");
    assert_eq!(json["iterations"][1]["outcome"], "improved");
    assert_eq!(json["iterations"][1]["changes"][0]["value"], 0.01);
    assert_eq!(json["metrics"][0]["name"], "val_loss");
    assert_eq!(json["metrics"][0]["verdict"], "better");
    assert_eq!(json["metrics"][0]["direction"], "minimize");
    assert_eq!(json["metrics"][2]["verdict"], serde_json::Value::Null);
    assert_eq!(json["diff"]["truncated"], false);
    Ok(())
}
