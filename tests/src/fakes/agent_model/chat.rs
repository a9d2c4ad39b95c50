//! OpenAI Chat Completions for the agent model, and the edit formats of aider (which talks to
//! every provider through litellm and edits by parsing the model's text, not by tool calls):
//! `diff` (SEARCH/REPLACE blocks after the file name), `diff-fenced` (file name inside the
//! fence), `whole` (the whole new file) and `udiff`. The format is recognised from aider's
//! system prompt. Answers stream as `chat.completion.chunk` records and `[DONE]` when asked.

use serde_json::{Value, json};

use super::super::openai;
use super::sse::{EventStream, halves};
use super::{Answered, Ctx, EditTask, Mode, NO_OP_TEXT, Turn};
use revis_fixtures::http::HttpResponse;

pub(super) fn answer(ctx: &Ctx<'_>, violations: &mut Vec<String>) -> Answered {
    if ctx.body["messages"].as_array().is_none_or(Vec::is_empty) {
        violations.push("messages: a non-empty array is required".into());
    }
    let conversation = conversation(ctx.body);
    let (turn, answer) = match ctx.mode {
        Mode::NoOp => (Turn::Text(NO_OP_TEXT.into()), "text".to_string()),
        _ => edit_format_turn(&conversation, ctx.task)
            .unwrap_or_else(|| (Turn::Text("Edit a file".into()), "text (side request)".into())),
    };
    let Turn::Text(text) = &turn else { unreachable!("aider edits through text") };
    let usage = ctx.usage(&turn);
    let (model, n) = (ctx.model(), ctx.index as u64);
    let response = if ctx.stream() {
        let id = format!("chatcmpl-AgentFake{n:06}");
        let chunk = |delta: Value, finish: Value| {
            json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64 + n, "model": model,
                   "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            .to_string()
        };
        let mut s = EventStream::default();
        s.data(&chunk(json!({"role": "assistant", "content": ""}), Value::Null));
        for part in halves(text) {
            s.data(&chunk(json!({"content": part}), Value::Null));
        }
        s.data(&chunk(json!({}), json!("stop")));
        if ctx.body["stream_options"]["include_usage"] == true {
            s.data(
                &json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000u64 + n, "model": model,
                        "choices": [], "usage": usage_json(usage.input_tokens, usage.output_tokens)})
                .to_string(),
            );
        }
        s.data("[DONE]");
        s.into_response()
    } else {
        HttpResponse::json(200, &openai::success_body(model, n, text, &[], usage.input_tokens, usage.output_tokens))
    };
    let response = response.with_header("x-request-id", &format!("req_agentfake{n:06}"));
    Answered { response, answer, usage: Some(usage) }
}

fn usage_json(input: u64, output: u64) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output,
           "prompt_tokens_details": {"cached_tokens": 0}})
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => String::new(),
    }
}

fn conversation(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| (m["role"].as_str().unwrap_or_default().to_string(), text_of(&m["content"])))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Diff,
    DiffFenced,
    Whole,
    Udiff,
}

fn format_of(system: &str) -> Option<Format> {
    if system.contains("SEARCH/REPLACE") {
        // diff-fenced puts the path inside the fence: its prompt says so.
        if system.contains("inside the fence") || system.contains("*inside* the opening fence") {
            Some(Format::DiffFenced)
        } else {
            Some(Format::Diff)
        }
    } else if system.contains("unified diff") || system.contains("diff -U0") {
        Some(Format::Udiff)
    } else if system.contains("file listing") {
        Some(Format::Whole)
    } else {
        None
    }
}

/// The answer of an edit-format conversation (aider): the edit the first time the task is
/// asked, a summary once the model's own edit is in the history, a short apology after aider
/// reports that an edit did not apply; with a label for the record. None when the conversation
/// is not an edit-format one.
pub(super) fn edit_format_turn(conversation: &[(String, String)], task: &EditTask) -> Option<(Turn, String)> {
    let system: String =
        conversation.iter().filter(|(r, _)| r == "system").map(|(_, t)| t.as_str()).collect::<Vec<_>>().join("\n");
    let format = format_of(&system)?;
    let edit = render_edit(format, conversation, task);
    let last_user = conversation.iter().rev().find(|(r, _)| r == "user").map(|(_, t)| t.as_str()).unwrap_or_default();
    if conversation.iter().any(|(r, t)| r == "assistant" && t.contains(&edit)) {
        return Some((Turn::Text(task.summary()), "text (summary after the edit)".into()));
    }
    if last_user.contains("failed to match") || last_user.contains("Fix any errors") {
        return Some((Turn::Text("I could not apply the edit.".into()), "text (edit did not apply)".into()));
    }
    let text = format!("I will change `{}` to `{}` in {}.\n\n{edit}", task.old, task.new, task.file);
    Some((Turn::Text(text), format!("edit ({format:?})")))
}

fn render_edit(format: Format, conversation: &[(String, String)], task: &EditTask) -> String {
    let (file, old, new) = (&task.file, &task.old, &task.new);
    match format {
        Format::Diff => format!("{file}\n```\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n```"),
        Format::DiffFenced => format!("```\n{file}\n<<<<<<< SEARCH\n{old}\n=======\n{new}\n>>>>>>> REPLACE\n```"),
        Format::Udiff => {
            let minus: String = old.lines().map(|l| format!("-{l}\n")).collect();
            let plus: String = new.lines().map(|l| format!("+{l}\n")).collect();
            format!("```diff\n--- {file}\n+++ {file}\n@@ ... @@\n{minus}{plus}```")
        }
        Format::Whole => {
            let current = file_in_chat(conversation, file).unwrap_or_else(|| old.clone());
            let updated = current.replacen(old.as_str(), new, 1);
            format!("{file}\n```\n{}\n```", updated.trim_end_matches('\n'))
        }
    }
}

/// The content aider showed for `file`: the fenced block after a line holding just its name.
fn file_in_chat(conversation: &[(String, String)], file: &str) -> Option<String> {
    for (_, text) in conversation.iter().filter(|(r, _)| r == "user") {
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if line.trim() == file && lines.get(i + 1).is_some_and(|l| l.starts_with("```")) {
                let body: Vec<&str> = lines[i + 2..].iter().take_while(|l| !l.starts_with("```")).copied().collect();
                return Some(body.join("\n") + "\n");
            }
        }
    }
    None
}
