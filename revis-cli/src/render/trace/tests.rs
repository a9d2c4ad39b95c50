//! The transcript renderer on sample traces shaped like the daemon's, and on broken ones.

use super::*;

fn sample() -> String {
    serde_json::json!({"tries": [{
        "system": {"stable": "You are…", "dynamic": "Project: x"},
        "messages": [
            {"role": "user", "text": "Iteration 1 finished.\nval_loss 0.41\nmore context\nand more"},
            {"role": "assistant", "text": "Let me look at the config.", "tool_calls": [
                {"id": "toolu_1", "name": "read_file", "arguments": {"Ok": {"path": "config.yaml"}}}
            ]},
            {"role": "tool_results", "results": [
                {"call_id": "toolu_1", "content": "lr: 0.01\nbatch: 32\nepochs: 3\nseed: 1\nextra: 5\nlast: 6", "is_error": false}
            ]},
            {"role": "assistant", "text": "", "tool_calls": [
                {"id": "toolu_2", "name": "submit_decision", "arguments": {"Err": "{not json"}}
            ]},
            {"role": "tool_results", "results": [
                {"call_id": "toolu_2", "content": "the arguments are not valid JSON", "is_error": true}
            ]},
            {"role": "assistant", "text": "Lowering the learning rate.", "tool_calls": [
                {"id": "toolu_3", "name": "submit_decision", "arguments": {"Ok": {"action": "change", "rationale": "lr too high"}}}
            ]},
            {"role": "tool_results", "results": [
                {"call_id": "toolu_3", "content": "decision accepted", "is_error": false}
            ]}
        ],
        "calls": [
            {"round": 1, "model": "anthropic/claude-sonnet-4-5", "stop_reason": "tool_use", "usage": {}, "usd": 0.01},
            {"round": 2, "model": "anthropic/claude-sonnet-4-5", "error": "HTTP 529 overloaded"},
            {"round": 2, "model": "openai/gpt-4.1", "stop_reason": "tool_use", "usage": {}, "usd": 0.01},
            {"round": 3, "model": "openai/gpt-4.1", "stop_reason": "tool_use", "usage": {}, "usd": 0.01}
        ],
        "outcome": {"decision": {
            "action": "change",
            "rationale": "lr too high",
            "hypothesis": "a smaller lr converges",
            "changes": [
                {"kind": "config_edit", "file": "config.yaml", "key": "lr", "value": 0.003},
                {"kind": "arg", "name": "--epochs", "value": null},
                {"kind": "code", "request": "add dropout", "files": ["model.py"]},
                {"kind": "mystery", "x": 1}
            ]
        }},
        "usage": {"input_tokens": 10000, "output_tokens": 500, "cache_read_tokens": 2000, "cache_write_tokens": 0},
        "usd": 0.034
    }]})
    .to_string()
}

fn usage() -> LlmUsage {
    LlmUsage {
        model: "openai/gpt-4.1".into(),
        calls: 3,
        input_tokens: 10000,
        output_tokens: 500,
        cache_read_tokens: 2000,
        cache_write_tokens: 0,
        usd: 0.034,
        unpriced_calls: 0,
    }
}

fn render(trace: &str, llm: Option<&LlmUsage>) -> String {
    transcript(4, llm, trace, &Palette::plain())
}

#[test]
fn header_names_iteration_model_calls_tokens_and_cost() {
    let text = render(&sample(), Some(&usage()));
    let first = text.lines().next().unwrap_or("");
    assert_eq!(first, "--- decision that produced iteration 4 (openai/gpt-4.1, 3 calls, 12.5k tokens, $0.03) ---");
}

#[test]
fn header_falls_back_to_the_tries_without_usage() {
    let text = render(&sample(), None);
    let first = text.lines().next().unwrap_or("");
    assert_eq!(first, "--- decision that produced iteration 4 (openai/gpt-4.1, 3 calls, 12.5k tokens, $0.03) ---");
}

#[test]
fn messages_tool_calls_and_results_read_in_order() {
    let text = render(&sample(), Some(&usage()));
    let expected = [
        "  user: Iteration 1 finished.",
        "        val_loss 0.41",
        "        … (2 more lines)",
        "  Let me look at the config.",
        "  → read_file({\"path\":\"config.yaml\"})",
        "  ← ok: lr: 0.01",
        "        batch: 32",
        "        epochs: 3",
        "        seed: 1",
        "        … (2 more lines)",
        "  ! anthropic/claude-sonnet-4-5: HTTP 529 overloaded",
        "  → submit_decision(invalid JSON: {not json)",
        "  ← error: the arguments are not valid JSON",
        "  Lowering the learning rate.",
        "  → submit_decision({\"action\":\"change\",\"rationale\":\"lr too high\"})",
        "  ← ok: decision accepted",
        "  decision: change — lr too high",
        "    hypothesis: a smaller lr converges",
        "    - config.yaml: lr = 0.003",
        "    - remove argument --epochs",
        "    - code change: add dropout (files: model.py)",
        "    - {\"kind\":\"mystery\",\"x\":1}",
    ];
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines, expected, "\n{text}");
}

#[test]
fn long_arguments_are_truncated() {
    let long = "x".repeat(500);
    let trace = serde_json::json!({"tries": [{"messages": [
        {"role": "assistant", "text": "", "tool_calls": [{"name": "search_code", "arguments": {"Ok": {"pattern": long}}}]}
    ]}]})
    .to_string();
    let text = render(&trace, None);
    let Some(call) = text.lines().find(|l| l.contains("search_code")) else { panic!("no call in\n{text}") };
    assert!(call.chars().count() < 230, "{call}");
    assert!(call.ends_with("…)"), "{call}");
}

#[test]
fn a_failed_decision_and_several_tries_are_shown() {
    let trace = serde_json::json!({"tries": [
        {"messages": [], "calls": [{"model": "m", "usage": {}}], "outcome": {"failed": "no decision after 2 round trips"},
         "usage": {"input_tokens": 100, "output_tokens": 20}, "usd": 0.001},
        {"messages": [], "outcome": {"decision": {"action": "stop", "rationale": "target reached"}}}
    ]})
    .to_string();
    let text = render(&trace, None);
    assert!(text.contains("try 1 of 2 (m, 1 call, 120 tokens, $0.0010)"), "{text}");
    assert!(text.contains("  failed: no decision after 2 round trips"), "{text}");
    assert!(text.contains("try 2 of 2"), "{text}");
    assert!(text.contains("  decision: stop — target reached"), "{text}");
}

#[test]
fn unexpected_json_never_panics() {
    let odd = [
        "not json",
        "null",
        "42",
        "[]",
        "{}",
        r#"{"tries": 3}"#,
        r#"{"tries": [null, 1, "x", {"messages": 5, "outcome": 7}]}"#,
        r#"{"tries": [{"messages": [{"role": 1}, {"role": "assistant", "tool_calls": [{"arguments": 3}, 7]},
            {"role": "tool_results", "results": [{"content": {"a": 1}}, 2]}, {"text": "no role"}],
            "calls": [{"error": {"code": 1}}], "outcome": {"decision": {"changes": [1, {"kind": "arg"}]}}}]}"#,
        r#"[{"messages": [{"role": "user"}]}]"#,
        r#"{"messages": [{"role": "weird", "x": 1}], "outcome": null}"#,
    ];
    for trace in odd {
        let text = render(trace, None);
        assert!(text.starts_with("--- decision that produced iteration 4"), "{trace}: {text}");
    }
    assert!(render("not json", None).contains("not valid JSON"));
}

#[test]
fn control_characters_cannot_reach_the_terminal() {
    let trace = serde_json::json!({"tries": [{"messages": [
        {"role": "tool_results", "results": [{"content": "\u{1b}[2Jboom\r", "is_error": false}]}
    ]}]})
    .to_string();
    let text = render(&trace, None);
    assert!(!text.contains('\u{1b}') && !text.contains('\r'), "{text:?}");
}

#[test]
fn only_iterations_with_a_trace_are_printed() {
    let iterations = vec![
        Iteration { number: 0, ..Default::default() },
        Iteration { number: 1, trace: Some(sample()), llm: Some(usage()), ..Default::default() },
        Iteration { number: 2, trace: Some(" ".into()), ..Default::default() },
    ];
    let text = transcripts(&iterations, &Palette::plain());
    assert!(text.starts_with("\n--- decision that produced iteration 1 ("), "{text}");
    assert_eq!(text.matches("--- decision").count(), 1);
}

#[test]
fn a_coding_agent_change_follows_its_iteration() {
    let agent = revis_proto::v1::AgentChange { agent: "codex".into(), duration_seconds: 5.0, ..Default::default() };
    let iterations = [
        Iteration { number: 1, trace: Some(sample()), agent: Some(agent), ..Default::default() },
        Iteration { number: 2, ..Default::default() },
    ];
    let text = transcripts(&iterations, &Palette::plain());
    let decision = text.find("--- decision that produced iteration 1");
    let change = text.find("\n\n--- code change by codex (5.0s, verified: no) ---\n");
    assert!(decision.is_some() && change.is_some() && decision < change, "{text}");
    assert_eq!(transcripts(&iterations[1..], &Palette::plain()), "");
}
