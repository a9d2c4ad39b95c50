//! Rendering rules of the session views, checked on plain (colourless) output.

use super::*;
use revis_proto::v1::{Advisor, AgentChange, Best, LlmUsage, Outcome};

fn summary(name: &str) -> SessionSummary {
    SessionSummary {
        name: name.into(),
        state: SessionState::Running as i32,
        project: "/p".into(),
        primary_metric: "val_loss".into(),
        minimize: true,
        best: Some(Best { iteration: 2, value: 0.41 }),
        baseline: Some(0.5),
        spend: Some(Spend { active_seconds: 192.0, llm_usd: 0.0, ..Default::default() }),
        budget: Some(Budget { wall_seconds: Some(3600.0), max_iterations: Some(10), max_cost: None }),
        iterations_run: 3,
        phase: Some(Phase::Train as i32),
        ..Default::default()
    }
}

#[test]
fn state_text_prefers_stop_reason_then_stopping_then_phase() {
    use Phase::Train;
    use SessionState::{Paused, Queued, Running, Stopped};
    assert_eq!(state_text(Stopped, Some(StopReason::Budget), None, false), "stopped (budget)");
    assert_eq!(state_text(Running, None, Some(Train), true), "running (stopping)");
    assert_eq!(state_text(Running, None, Some(Train), false), "running (train)");
    assert_eq!(state_text(Queued, None, Some(Train), false), "queued");
    assert_eq!(state_text(Paused, Some(StopReason::AwaitingChange), None, false), "paused (awaiting_change)");
}

#[test]
fn budget_left_lists_each_limit() {
    let s = summary("a");
    assert_eq!(budget_left(s.budget.as_ref(), s.spend.as_ref(), 3), "56m 48s, 7 runs");
    let cost = Budget { wall_seconds: None, max_iterations: Some(3), max_cost: Some(5.0) };
    let spend = Spend { active_seconds: 0.0, llm_usd: 1.25, ..Default::default() };
    assert_eq!(budget_left(Some(&cost), Some(&spend), 2), "1 run, $3.75");
    assert_eq!(budget_left(Some(&Budget::default()), None, 0), "-");
    assert_eq!(budget_left(None, None, 0), "-");
}

#[test]
fn summary_table_has_the_documented_columns() {
    let text = summary_table(&[summary("quick-otter")], false, &Palette::plain());
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split("  ").filter(|c| !c.is_empty()).collect();
    let header: Vec<&str> = header.iter().map(|c| c.trim()).collect();
    assert_eq!(header, ["NAME", "STATE", "ITER", "BEST", "BASELINE", "ACTIVE", "BUDGET LEFT"]);
    let row = lines.next().unwrap_or("");
    for part in ["quick-otter", "running (train)", "3/10", "0.41 (#2)", "0.5", "3m 12s", "56m 48s, 7 runs"] {
        assert!(row.contains(part), "{part:?} missing from {row:?}");
    }
    assert!(!row.contains("/p"));
}

#[test]
fn summary_table_with_all_projects_adds_the_project() {
    let text = summary_table(&[summary("a")], true, &Palette::plain());
    assert!(text.lines().next().is_some_and(|h| h.ends_with("PROJECT")));
    assert!(text.lines().nth(1).is_some_and(|r| r.ends_with("/p")));
}

fn detail() -> SessionDetail {
    SessionDetail {
        summary: Some(SessionSummary {
            name: "quick-otter".into(),
            state: SessionState::Completed as i32,
            stop_reason: Some(StopReason::Target as i32),
            branch: "revis/quick-otter".into(),
            worktree: "/p/.revis/worktrees/quick-otter".into(),
            primary_metric: "val_loss".into(),
            minimize: true,
            best: Some(Best { iteration: 1, value: 0.4 }),
            baseline: Some(0.5),
            spend: Some(Spend { active_seconds: 75.0, llm_usd: 0.0, ..Default::default() }),
            budget: Some(Budget { wall_seconds: Some(14400.0), max_iterations: None, max_cost: None }),
            advisor: Advisor::Search as i32,
            ..Default::default()
        }),
        base_branch: "main".into(),
        base_commit: "0123456789abcdef".into(),
        target: Some(0.4),
        iterations: vec![
            Iteration {
                number: 0,
                state: IterationState::Succeeded as i32,
                outcome: Some(Outcome::Baseline as i32),
                primary: Some(0.5),
                duration_seconds: Some(30.0),
                ..Default::default()
            },
            Iteration {
                number: 1,
                state: IterationState::Succeeded as i32,
                outcome: Some(Outcome::Improved as i32),
                primary: Some(0.4),
                change: Some("lr: 0.01 → 0.003".into()),
                commit: Some("abcdef0123456789".into()),
                duration_seconds: Some(31.0),
                ..Default::default()
            },
            Iteration {
                number: 2,
                state: IterationState::Failed as i32,
                outcome: Some(Outcome::Failed as i32),
                change: Some("batch_size: 32 → 64".into()),
                failure_reason: Some("training exited with code 3".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

/// `detail()` with its summary changed.
fn detail_with(change: impl FnOnce(&mut SessionSummary)) -> SessionDetail {
    let mut d = detail();
    if let Some(s) = d.summary.as_mut() {
        change(s);
    }
    d
}

#[test]
fn show_header_summarises_the_session() {
    let text = detail_text();
    let expect = [
        "quick-otter  completed (target)",
        "  branch    revis/quick-otter (from main @ 01234567)",
        "  worktree  /p/.revis/worktrees/quick-otter",
        "  metric    val_loss (minimize, target 0.4)",
        "  result    0.5 → 0.4 (20.0% better, #1)",
        "  budget    1m 15s of 4h",
        "  spend     1m 15s active, $0.00 LLM",
        "  advisor   search",
    ];
    for line in expect {
        assert!(text.lines().any(|l| l == line), "{line:?} missing from\n{text}");
    }
}

#[test]
fn show_lists_iterations_with_failure_reasons_below() {
    let text = detail_text();
    let lines: Vec<&str> = text.lines().collect();
    let Some(head) = lines.iter().position(|l| l.trim_start().starts_with("#  OUTCOME")) else {
        panic!("no iteration table in\n{text}");
    };
    assert!(lines[head + 1].contains("baseline") && lines[head + 1].contains("(baseline)"));
    assert!(lines[head + 2].contains("improved") && lines[head + 2].contains("abcdef01"));
    assert!(!lines[head + 2].contains("abcdef012"));
    assert!(lines[head + 3].contains("failed") && lines[head + 3].contains("batch_size"));
    assert_eq!(lines[head + 4], "    training exited with code 3");
}

fn detail_text() -> String {
    super::detail(&detail(), &Palette::plain())
}

fn paused(reason: StopReason, why: Option<&str>) -> SessionDetail {
    detail_with(|s| {
        s.state = SessionState::Paused as i32;
        s.stop_reason = Some(reason as i32);
        s.stop_detail = why.map(Into::into);
    })
}

fn first_line(d: &SessionDetail) -> String {
    super::detail(d, &Palette::plain()).lines().next().unwrap_or("").to_string()
}

#[test]
fn paused_sessions_say_what_they_wait_for() {
    let wt = "/p/.revis/worktrees/quick-otter";
    let d = paused(StopReason::AwaitingChange, Some("add dropout to model.py"));
    assert_eq!(
        first_line(&d),
        format!("quick-otter  paused — waiting for your code change in {wt} (then: revis resume quick-otter)")
    );
    let text = super::detail(&d, &Palette::plain());
    assert!(text.lines().any(|l| l == "  reason    add dropout to model.py"), "{text}");

    let d = paused(StopReason::Escalated, Some("the loss is NaN from step 1; check the data"));
    assert_eq!(
        first_line(&d),
        "quick-otter  paused — the advisor asks for a human: the loss is NaN from step 1; check the data"
    );
    assert!(!super::detail(&d, &Palette::plain()).contains("  reason"), "detail printed twice");

    let d = paused(StopReason::NeedsCredentials, Some("ANTHROPIC_API_KEY is not set; resume from a shell that has it"));
    assert_eq!(
        first_line(&d),
        "quick-otter  paused — needs an API key: ANTHROPIC_API_KEY is not set; resume from a shell that has it"
    );
    let d = paused(StopReason::NeedsCredentials, None);
    assert!(first_line(&d).contains("needs an API key (resume from a shell that has it: revis resume quick-otter)"));
}

#[test]
fn ended_sessions_show_why_in_words() {
    let d = detail_with(|s| s.stop_detail = Some("val_loss reached 0.4".into()));
    assert_eq!(first_line(&d), "quick-otter  completed (target)");
    let text = super::detail(&d, &Palette::plain());
    assert!(text.lines().any(|l| l == "  reason    val_loss reached 0.4"), "{text}");
}

#[test]
fn status_rows_of_paused_sessions_get_a_line_saying_why() {
    let s = SessionSummary {
        state: SessionState::Paused as i32,
        stop_reason: Some(StopReason::AwaitingChange as i32),
        worktree: "/wt".into(),
        phase: None,
        ..summary("quick-otter")
    };
    let text = summary_table(&[s, summary("other")], false, &Palette::plain());
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].contains("paused (awaiting_change)"), "{text}");
    assert_eq!(lines[2], "    paused — waiting for your code change in /wt (then: revis resume quick-otter)");
    assert!(lines[3].starts_with("other"), "{text}");
    let escalated = SessionSummary {
        state: SessionState::Paused as i32,
        stop_reason: Some(StopReason::Escalated as i32),
        ..summary("a")
    };
    let text = summary_table(&[escalated], false, &Palette::plain());
    assert!(text.contains("    paused — the advisor asks for a human (see: revis show a)"), "{text}");
}

#[test]
fn paused_text_is_none_unless_paused() {
    use SessionState::{Paused, Running};
    assert_eq!(paused_text(Running, Some(StopReason::AwaitingChange), None, "/wt", "a"), None);
    assert_eq!(paused_text(Paused, None, None, "/wt", "a"), None);
    assert_eq!(paused_text(Paused, Some(StopReason::Unspecified), None, "/wt", "a"), None);
    let user = paused_text(Paused, Some(StopReason::User), None, "/wt", "a");
    assert_eq!(user.as_deref(), Some("user (then: revis resume a)"));
}

#[test]
fn llm_cost_column_appears_only_with_llm_decisions() {
    let plain = detail_text();
    assert!(plain.lines().any(|l| l.trim_start().starts_with("#  OUTCOME") && l.ends_with("COMMIT")), "{plain}");
    let mut d = detail();
    d.iterations[1].llm = Some(LlmUsage { model: "m".into(), calls: 2, usd: 0.0421, ..Default::default() });
    d.iterations[2].llm = Some(LlmUsage { usd: 0.004, ..Default::default() });
    let text = super::detail(&d, &Palette::plain());
    let lines: Vec<&str> = text.lines().collect();
    let Some(head) = lines.iter().position(|l| l.trim_start().starts_with("#  OUTCOME")) else {
        panic!("no iteration table in\n{text}");
    };
    assert!(lines[head].contains("COMMIT") && lines[head].ends_with("LLM"), "{text}");
    assert!(lines[head + 1].ends_with("-"), "{text}");
    assert!(lines[head + 2].ends_with("$0.04"), "{text}");
    assert!(lines[head + 3].ends_with("$0.0040"), "{text}");
}

#[test]
fn a_decision_with_calls_at_unknown_prices_never_shows_a_bare_figure() {
    let mut d = detail();
    d.iterations[1].llm = Some(LlmUsage { usd: 0.0, unpriced_calls: 2, ..Default::default() });
    d.iterations[2].llm = Some(LlmUsage { usd: 0.03, unpriced_calls: 1, ..Default::default() });
    let (head, rows) = table_rows(&d);
    assert!(head.ends_with("LLM"), "{head}");
    assert!(rows[1].ends_with("unknown"), "{rows:?}");
    assert!(rows[2].ends_with("$0.03+?"), "{rows:?}");
}

#[test]
fn a_code_change_awaiting_approval_says_how_to_approve_or_skip() {
    let why =
        "the advisor wants claude-code to make a code change: add dropout\nApprove with `revis approve quick-otter`";
    let d = paused(StopReason::AwaitingApproval, Some(why));
    assert_eq!(
        first_line(&d),
        "quick-otter  paused — a code change waits for your approval \
         (revis approve quick-otter, or revis resume quick-otter --skip)"
    );
    let text = super::detail(&d, &Palette::plain());
    let lines: Vec<&str> = text.lines().collect();
    let Some(reason) = lines.iter().position(|l| l.starts_with("  reason")) else {
        panic!("no reason in\n{text}");
    };
    assert_eq!(lines[reason], "  reason    the advisor wants claude-code to make a code change: add dropout");
    assert_eq!(lines[reason + 1], "            Approve with `revis approve quick-otter`");
    let s = SessionSummary {
        state: SessionState::Paused as i32,
        stop_reason: Some(StopReason::AwaitingApproval as i32),
        ..summary("a")
    };
    let text = summary_table(&[s], false, &Palette::plain());
    assert!(
        text.contains("    paused — a code change waits for your approval (revis approve a, or revis resume a --skip)")
    );
}

fn agent(cost: Option<f64>) -> AgentChange {
    AgentChange { agent: "claude-code".into(), cost_usd: cost, duration_seconds: 60.0, ..Default::default() }
}

fn table_rows(d: &SessionDetail) -> (String, Vec<String>) {
    let text = super::detail(d, &Palette::plain());
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let head = lines.iter().position(|l| l.trim_start().starts_with("#  OUTCOME")).unwrap_or(lines.len());
    (lines.get(head).cloned().unwrap_or_default(), lines.into_iter().skip(head + 1).collect())
}

#[test]
fn iterations_made_by_a_coding_agent_name_it_and_add_its_cost() {
    let mut d = detail();
    d.iterations[1].change = Some("add dropout".into());
    d.iterations[1].agent = Some(agent(Some(0.4)));
    d.iterations[1].llm = Some(LlmUsage { usd: 0.02, ..Default::default() });
    d.iterations[2].change = None;
    d.iterations[2].agent = Some(agent(None));
    let (head, rows) = table_rows(&d);
    assert!(head.ends_with("LLM"), "{head}");
    assert!(rows[1].contains("claude-code: add dropout") && rows[1].ends_with("$0.42"), "{rows:?}");
    assert!(rows[2].contains("claude-code: code change") && rows[2].ends_with("unknown"), "{rows:?}");
    assert!(rows[0].contains("(baseline)") && rows[0].ends_with("-"), "{rows:?}");
}

#[test]
fn an_agent_cost_alone_brings_the_llm_column() {
    let mut d = detail();
    d.iterations[1].agent = Some(agent(Some(0.005)));
    let (head, rows) = table_rows(&d);
    assert!(head.ends_with("LLM"), "{head}");
    assert!(rows[1].ends_with("$0.0050"), "{rows:?}");
    // An agent's run at an unknown price still brings it: the cost is unknown, not nothing.
    d.iterations[1].agent = Some(agent(None));
    let (head, rows) = table_rows(&d);
    assert!(head.ends_with("LLM"), "{head}");
    assert!(rows[1].ends_with("unknown"), "{rows:?}");
}

#[test]
fn a_session_with_several_slots_lists_each_slot_under_its_row() {
    let mut s = summary("wide");
    s.slots = 3;
    s.trials = vec![
        revis_proto::v1::SlotTrial {
            slot: 0,
            gpus: "0,1".into(),
            iteration: 7,
            phase: Phase::Train as i32,
            started_at: Some("2024-05-01T10:00:00Z".into()),
            host: "gpu-a".into(),
            queue_reason: None,
        },
        revis_proto::v1::SlotTrial {
            slot: 2,
            gpus: String::new(),
            iteration: 8,
            phase: Phase::Collect as i32,
            started_at: Some("2024-05-01T10:01:00Z".into()),
            host: String::new(),
            queue_reason: None,
        },
    ];
    let now = chrono::DateTime::parse_from_rfc3339("2024-05-01T10:02:00Z").map(|t| t.with_timezone(&chrono::Utc)).ok();
    let text = summary_table_at(&[s.clone()], false, &Palette::plain(), now);
    assert!(text.contains("    slot 0 · gpu-a · gpu 0,1 · #7 train 2m 00s"), "{text}");
    assert!(text.contains("    slot 1 · idle"), "{text}");
    assert!(text.contains("    slot 2 · #8 collect 1m 00s"), "{text}");
    // One slot: the table is as it always was.
    let one = summary_table(&[summary("narrow")], false, &Palette::plain());
    assert!(!one.contains("slot"), "{one}");
}

#[test]
fn the_timeline_draws_overlapping_trials_one_line_per_slot() {
    let it = |number: u32, slot: u32, start: &str, end: &str| Iteration {
        number,
        slot,
        started_at: Some(format!("2024-05-01T10:00:{start}Z")),
        ended_at: Some(format!("2024-05-01T10:00:{end}Z")),
        ..Default::default()
    };
    let d = SessionDetail {
        summary: Some(SessionSummary { slots: 2, ..summary("t") }),
        iterations: vec![it(0, 0, "00", "10"), it(1, 0, "10", "30"), it(2, 1, "10", "20"), it(3, 1, "20", "40")],
        ..Default::default()
    };
    let lines = timeline(&d, 41);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("40s"), "{lines:?}");
    assert!(lines[1].starts_with("  slot 0   0000000000"), "{lines:?}");
    assert!(lines[2].contains("2222222222"), "{lines:?}");
    // Trials 1 and 2 overlap in time: both are drawn over the same columns.
    let col = |line: &str, c: char| line.chars().position(|x| x == c);
    assert!(col(&lines[1], '1') < col(&lines[2], '3'), "{lines:?}");
    assert!(timeline(&SessionDetail { summary: Some(summary("one")), ..d.clone() }, 41).is_empty());
}
