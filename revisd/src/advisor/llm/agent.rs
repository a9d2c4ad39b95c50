//! The agent loop: ask the model, run the tools it calls, answer with their results, until it
//! submits a valid decision or runs out of round trips. Every invalid decision goes back to the
//! model as a tool error listing all its problems, so it can correct them on the next turn.
//! Providers are tried in order (the model, then `llm.fallback`); a provider that keeps failing
//! after its own retries hands over to the next one for the rest of the decision.

use serde::Deserialize;
use serde_json::json;

use crate::advisor::{Action, Change, Decision};

use super::chat::{ChatRequest, LlmError, LlmProvider, Message, ToolCall, ToolChoice, ToolResult, Usage};
use super::models::Route;
use super::pricing::{self, Price};
use super::tools;

pub const SUBMIT: &str = "submit_decision";

/// One model the agent may use, ready to call.
pub struct Endpoint {
    pub route: Route,
    pub provider: Box<dyn LlmProvider>,
    pub price: Option<Price>,
}

pub struct Agent<'a> {
    pub endpoints: &'a [Endpoint],
    pub system_stable: String,
    pub system_dynamic: String,
    pub workspace: &'a tools::Workspace<'a>,
    /// Checks a decision against the worktree (files, keys, types, deny list).
    pub validate: &'a (dyn Fn(&Decision) -> Result<(), Vec<String>> + Sync),
    /// `context.max_agent_iterations`
    pub max_rounds: u32,
    pub max_tokens: u32,
}

/// How a decision went, with everything needed to show and bill it.
#[derive(Debug)]
pub struct Outcome {
    pub decision: Result<Decision, String>,
    /// The whole conversation: system prompt, messages, tool calls and results, per-call usage.
    pub transcript: serde_json::Value,
    pub usage: Usage,
    pub calls: u32,
    /// At known prices; calls at unknown prices are counted in `unpriced_calls` instead.
    pub usd: f64,
    pub unpriced_calls: u32,
    /// The model that answered last (a fallback if the first one failed).
    pub model: String,
    /// True when no endpoint could even be called for lack of credentials.
    pub missing_credentials: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitArgs {
    action: Action,
    #[serde(default)]
    rationale: String,
    #[serde(default)]
    hypothesis: Option<String>,
    #[serde(default)]
    changes: Vec<Change>,
    #[serde(default)]
    more: Vec<MoreArgs>,
    #[serde(default)]
    search_space: Vec<crate::advisor::SpaceEdit>,
}

/// One further change of a decision made for several free slots at once.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoreArgs {
    #[serde(default)]
    rationale: String,
    #[serde(default)]
    hypothesis: Option<String>,
    #[serde(default)]
    changes: Vec<Change>,
}

/// The decision in `args`, or every problem found with it.
pub fn parse_decision(args: &serde_json::Value) -> Result<Decision, Vec<String>> {
    let parsed: SubmitArgs = serde_json::from_value(args.clone())
        .map_err(|e| vec![format!("the arguments do not match the submit_decision schema: {e}")])?;
    let mut problems = Vec::new();
    if parsed.rationale.trim().is_empty() {
        problems.push("rationale is empty: say why this change should help".to_string());
    }
    if parsed.action == Action::Change && parsed.changes.is_empty() {
        problems.push("action is \"change\" but changes is empty".to_string());
    }
    if parsed.action != Action::Change && !parsed.more.is_empty() {
        problems.push("`more` goes with action \"change\" only".to_string());
    }
    if parsed.action != Action::Change && !parsed.search_space.is_empty() {
        problems.push("`search_space` goes with action \"change\" only".to_string());
    }
    for (i, more) in parsed.more.iter().enumerate() {
        if more.rationale.trim().is_empty() {
            problems.push(format!("more[{i}].rationale is empty: say why this change should help"));
        }
        if more.changes.is_empty() {
            problems.push(format!("more[{i}].changes is empty"));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let more = parsed
        .more
        .into_iter()
        .map(|m| Decision {
            action: Action::Change,
            rationale: m.rationale.trim().to_string(),
            hypothesis: m.hypothesis.filter(|h| !h.trim().is_empty()),
            changes: m.changes,
            params: Default::default(),
            more: Vec::new(),
            search_space: Vec::new(),
        })
        .collect();
    Ok(Decision {
        action: parsed.action,
        rationale: parsed.rationale.trim().to_string(),
        hypothesis: parsed.hypothesis.filter(|h| !h.trim().is_empty()),
        changes: parsed.changes,
        params: Default::default(),
        more,
        search_space: parsed.search_space,
    })
}

/// What the agent does with `submit_decision` arguments: parse them, then check a change
/// against the worktree with `validate`. Stop and escalate decisions carry no change to check
/// (their `changes` are never applied). Public so the fuzz target exercises this very path.
pub fn accept_decision(
    args: &serde_json::Value,
    validate: &(dyn Fn(&Decision) -> Result<(), Vec<String>> + Sync),
) -> Result<Decision, Vec<String>> {
    let decision = parse_decision(args)?;
    if decision.action == Action::Change {
        validate(&decision)?;
        let mut problems = Vec::new();
        for (i, more) in decision.more.iter().enumerate() {
            if let Err(found) = validate(more) {
                problems.extend(found.into_iter().map(|p| format!("more[{i}]: {p}")));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
    }
    Ok(decision)
}

impl Agent<'_> {
    pub async fn run(&self) -> Outcome {
        let mut messages = vec![Message::User {
            text: "Decide the next change. Inspect what you need with the tools, then call submit_decision.".into(),
        }];
        let mut usage = Usage::default();
        let mut usd = 0.0;
        let mut calls = 0u32;
        let mut log: Vec<serde_json::Value> = Vec::new();
        let mut endpoint = 0usize;
        let mut model = self.endpoints.first().map(|e| e.route.spec.clone()).unwrap_or_default();
        let mut missing_credentials = self.endpoints.is_empty();
        let specs = tools::tool_specs();

        let failure = 'rounds: {
            if self.endpoints.is_empty() {
                break 'rounds "no model is available (no API key or api_base for llm.model nor llm.fallback)"
                    .to_string();
            }
            for round in 1..=self.max_rounds.max(1) {
                let last = round == self.max_rounds.max(1);
                // On the last round the model must decide: a model that keeps reading still
                // gets its chance to submit.
                let tool_choice = if last { ToolChoice::Tool(SUBMIT.into()) } else { ToolChoice::Auto };
                let response = loop {
                    let Some(current) = self.endpoints.get(endpoint) else {
                        break 'rounds format!("every model failed; last: {}", log_last_error(&log));
                    };
                    let request = ChatRequest {
                        model: current.route.model.clone(),
                        system_stable: self.system_stable.clone(),
                        system_dynamic: self.system_dynamic.clone(),
                        messages: messages.clone(),
                        tools: specs.clone(),
                        tool_choice: tool_choice.clone(),
                        max_tokens: self.max_tokens,
                    };
                    match current.provider.complete(&request).await {
                        Ok(response) => {
                            missing_credentials = false;
                            break response;
                        }
                        Err(e) => {
                            if !matches!(e, LlmError::MissingKey { .. }) {
                                missing_credentials = false;
                            }
                            log.push(json!({"round": round, "model": current.route.spec, "error": e.to_string()}));
                            tracing::warn!(model = %current.route.spec, error = %e, "LLM call failed; trying the next model");
                            endpoint += 1;
                        }
                    }
                };
                let current = &self.endpoints[endpoint];
                model = current.route.spec.clone();
                calls += 1;
                usage.add(response.usage);
                // A deployment or route named freely (Azure, proxies) is priced by the model that
                // answered, when the table knows it; otherwise the cost is unknown, never $0.
                let price = current.price.or_else(|| pricing::table_price(&response.model));
                let cost = price.map(|p| pricing::cost(&p, &response.usage));
                usd += cost.unwrap_or(0.0);
                log.push(json!({
                    "round": round,
                    "model": current.route.spec,
                    "stop_reason": response.stop_reason,
                    "usage": response.usage,
                    "usd": cost,
                }));
                messages
                    .push(Message::Assistant { text: response.text.clone(), tool_calls: response.tool_calls.clone() });
                if response.tool_calls.is_empty() {
                    messages.push(Message::User {
                        text: "Use the tools, and call submit_decision when you have decided.".into(),
                    });
                    continue;
                }
                let mut results = Vec::new();
                let mut accepted = None;
                for call in &response.tool_calls {
                    if accepted.is_some() {
                        results.push(result(call, "ignored: a decision was already accepted", false));
                        continue;
                    }
                    results.push(match self.answer(call) {
                        Answer::Decision(decision) => {
                            accepted = Some(decision);
                            result(call, "decision accepted", false)
                        }
                        Answer::Tool(content, is_error) => result(call, &content, is_error),
                    });
                }
                messages.push(Message::ToolResults { results });
                if let Some(decision) = accepted {
                    return self.outcome(Ok(decision), messages, log, usage, calls, usd, model, false);
                }
            }
            format!("no decision after {} round trips (context.max_agent_iterations)", self.max_rounds.max(1))
        };
        self.outcome(Err(failure), messages, log, usage, calls, usd, model, missing_credentials)
    }

    fn answer(&self, call: &ToolCall) -> Answer {
        let args = match &call.arguments {
            Ok(args) => args,
            Err(raw) => {
                return Answer::Tool(
                    format!("the arguments are not valid JSON ({}); send a JSON object", snippet(raw)),
                    true,
                );
            }
        };
        if call.name != SUBMIT {
            let outcome = self.workspace.run_tool(&call.name, args);
            return Answer::Tool(outcome.content, outcome.is_error);
        }
        match accept_decision(args, self.validate) {
            Ok(decision) => Answer::Decision(decision),
            Err(problems) => Answer::Tool(problem_list(&problems), true),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn outcome(
        &self,
        decision: Result<Decision, String>,
        messages: Vec<Message>,
        log: Vec<serde_json::Value>,
        usage: Usage,
        calls: u32,
        usd: f64,
        model: String,
        missing_credentials: bool,
    ) -> Outcome {
        let transcript = json!({
            "system": {"stable": self.system_stable, "dynamic": self.system_dynamic},
            "messages": messages,
            "calls": log,
            "outcome": match &decision {
                Ok(d) => json!({"decision": d}),
                Err(reason) => json!({"failed": reason}),
            },
            "usage": usage,
            "usd": usd,
        });
        let unpriced_calls = log.iter().filter(|call| call.get("usage").is_some() && call["usd"].is_null()).count();
        let unpriced_calls = u32::try_from(unpriced_calls).unwrap_or(u32::MAX);
        Outcome { decision, transcript, usage, calls, usd, unpriced_calls, model, missing_credentials }
    }
}

enum Answer {
    Decision(Decision),
    Tool(String, bool),
}

fn result(call: &ToolCall, content: &str, is_error: bool) -> ToolResult {
    ToolResult { call_id: call.id.clone(), content: content.to_string(), is_error }
}

fn problem_list(problems: &[String]) -> String {
    let mut text = String::from("The decision was not accepted. Fix these and call submit_decision again:");
    for p in problems {
        text.push_str("\n- ");
        text.push_str(p);
    }
    text
}

fn snippet(raw: &str) -> String {
    let cut = (0..=raw.len().min(120)).rev().find(|&i| raw.is_char_boundary(i)).unwrap_or(0);
    if cut < raw.len() { format!("{}…", &raw[..cut]) } else { raw.to_string() }
}

fn log_last_error(log: &[serde_json::Value]) -> String {
    log.iter()
        .rev()
        .find_map(|entry| entry.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| "unknown error".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submit_arguments_become_a_decision_or_a_list_of_problems() {
        let ok = parse_decision(&json!({
            "action": "change",
            "rationale": "lower lr",
            "changes": [{"kind": "config_edit", "file": "c.yaml", "key": "lr", "value": 0.01},
                        {"kind": "arg", "name": "--epochs", "value": null}]
        }))
        .unwrap();
        assert_eq!(ok.changes.len(), 2);
        assert!(parse_decision(&json!({"action": "change", "rationale": "x", "changes": []})).is_err());
        assert!(parse_decision(&json!({"action": "stop"})).is_err(), "a stop needs a rationale");
        assert!(parse_decision(&json!({"action": "jump", "rationale": "x"})).is_err());
        let problems = parse_decision(&json!({"action": "change", "rationale": " ", "changes": []})).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn more_changes_for_free_slots_are_each_a_decision_of_their_own() {
        let edit = |lr: f64| json!({"kind": "config_edit", "file": "c.yaml", "key": "lr", "value": lr});
        let ok = parse_decision(&json!({
            "action": "change",
            "rationale": "lower lr",
            "hypothesis": "less noise",
            "changes": [edit(0.01)],
            "more": [{"rationale": "much lower", "hypothesis": "even less", "changes": [edit(0.001)]},
                     {"rationale": "higher", "changes": [edit(0.1)]}]
        }))
        .unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(ok.more.len(), 2);
        assert_eq!(ok.more[0].hypothesis.as_deref(), Some("even less"));
        assert_eq!(ok.more[1].action, Action::Change);
        assert!(ok.more.iter().all(|m| m.more.is_empty()), "never nested");
        let problems = parse_decision(&json!({
            "action": "change", "rationale": "x", "changes": [edit(0.01)],
            "more": [{"rationale": "", "changes": []}]
        }))
        .unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            parse_decision(
                &json!({"action": "stop", "rationale": "x", "more": [{"rationale": "y", "changes": [edit(1.0)]}]})
            )
            .is_err()
        );
        // Each further change is checked against the worktree like the first.
        let reject_big = |d: &Decision| match d.changes.first() {
            Some(Change::ConfigEdit { value, .. }) if value.as_f64().is_some_and(|v| v > 0.05) => {
                Err(vec!["too big".to_string()])
            }
            _ => Ok(()),
        };
        let args = json!({"action": "change", "rationale": "x", "changes": [edit(0.01)],
                          "more": [{"rationale": "y", "changes": [edit(0.1)]}]});
        let problems = accept_decision(&args, &reject_big).unwrap_err();
        assert_eq!(problems, vec!["more[0]: too big".to_string()]);
    }
}
