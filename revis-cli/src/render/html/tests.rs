use super::*;
use revis_proto::v1::{
    Advisor, AgentChange, Best, IterationState, Outcome, SessionState, SessionSummary, Spend, StopReason,
};

fn it(number: u32, outcome: Outcome, primary: Option<f64>) -> Iteration {
    let state = if outcome == Outcome::Failed { IterationState::Failed } else { IterationState::Succeeded };
    Iteration {
        number,
        state: state as i32,
        outcome: Some(outcome as i32),
        primary,
        commit: Some(format!("{number:0>40}")),
        ..Default::default()
    }
}

fn session() -> SessionDetail {
    let mut tricky = it(1, Outcome::Improved, Some(1.0));
    tricky.change = Some("lr <script>alert('x')</script> & more".into());
    tricky.rationale = Some("because \"quotes\" & <tags>".into());
    tricky.hypothesis = Some("loss drops".into());
    tricky.changes = vec![Change {
        kind: "config_edit".into(),
        file: Some("config.json".into()),
        key: Some("lr".into()),
        value: Some("0.01".into()),
        previous: Some("1.0".into()),
        ..Default::default()
    }];
    tricky.agent = Some(AgentChange { agent: "claude-code".into(), summary: "tuned".into(), ..Default::default() });
    let mut failed = it(2, Outcome::Failed, None);
    failed.failure_reason = Some("exit 3".into());
    SessionDetail {
        summary: Some(SessionSummary {
            name: "quick-otter".into(),
            state: SessionState::Completed as i32,
            stop_reason: Some(StopReason::MaxIterations as i32),
            primary_metric: "val_loss".into(),
            minimize: true,
            baseline: Some(2.0),
            best: Some(Best { iteration: 1, value: 1.0 }),
            spend: Some(Spend { active_seconds: 95.0, llm_usd: 0.12, ..Default::default() }),
            advisor: Advisor::Search as i32,
            ..Default::default()
        }),
        iterations: vec![it(0, Outcome::Baseline, Some(2.0)), tricky, failed],
        ..Default::default()
    }
}

/// Every opened tag is closed in order (void tags must self-close): the page parses as XML-ish.
fn assert_balanced(html: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let Some(len) = rest[start..].find('>') else { panic!("unclosed tag at {}", &rest[start..]) };
        let tag = &rest[start + 1..start + len];
        rest = &rest[start + len + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name.trim()), "mismatched </{name}>");
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap_or_default().to_string();
            if name == "style" {
                let end = rest.find("</style>").unwrap_or(0);
                rest = &rest[end..];
            }
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "never closed: {stack:?}");
}

#[test]
fn escape_covers_markup_and_quotes() {
    assert_eq!(escape("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
}

#[test]
fn the_page_is_balanced_escaped_and_has_everything() {
    let diffs = vec![
        None,
        Some(Diff {
            source: "coding agent".into(),
            text: "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old <b>\n+new\n".into(),
            cut: false,
        }),
        Some(Diff { source: "git show 00000002".into(), text: "x".into(), cut: true }),
    ];
    let page = report_page(&session(), &diffs, "2024-05-01 10:00");
    assert_balanced(&page);
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(!page.contains("<script"), "session text is escaped");
    assert!(page.contains("lr &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
    assert!(page.contains("because &quot;quotes&quot; &amp; &lt;tags&gt;"));
    assert!(page.contains("baseline 2 → best 1"), "baseline → best in the header");
    assert!(page.contains("<tr><th>State</th><td>completed (max_iterations)</td></tr>"), "{page}");
    assert!(page.contains("<tr><th>Advisor</th><td>search</td></tr>"), "{page}");
    assert!(page.contains("<td class=\"baseline\">baseline</td>"), "{page}");
    assert!(page.contains("<span class=\"failed\">failed</span>"), "{page}");
    assert!(page.contains("$0.12"));
    assert_eq!(page.matches("<svg").count(), 1);
    assert_eq!(page.matches("data-iteration=").count(), 3);
    for n in 0..3 {
        assert!(page.contains(&format!("<a href=\"#iteration-{n}\">{n}</a>")), "row of #{n}");
        assert!(page.contains(&format!("<section id=\"iteration-{n}\">")), "section of #{n}");
    }
    assert!(page.contains("<span class=\"del\">-old &lt;b&gt;</span>"));
    assert!(page.contains("<span class=\"add\">+new</span>"));
    assert!(page.contains("config_edit config.json lr: 1.0 → 0.01"));
    assert!(page.contains("claude-code: tuned"));
    assert!(page.contains("exit 3"));
    assert!(page.contains("The diff was cut"));
    assert!(!page.contains("http://") && !page.contains("https://"), "nothing external");
}
