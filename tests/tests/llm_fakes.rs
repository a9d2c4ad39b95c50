//! The loopback LLM fakes themselves: they accept well-formed requests, refuse (and record) what
//! the real APIs refuse, and answer in the providers' exact shapes. No daemon involved.

use revis_fixtures::http::post;
use revis_tests::fakes::{FakeLlm, Reply, raw_tool_call, submit, tool_call};
use serde_json::{Value, json};

const KEY: &str = "sk-fake-test";

fn anthropic_post(fake: &FakeLlm, key: &str, body: &Value) -> (u16, Vec<(String, String)>, Value) {
    let text = body.to_string();
    let out = post(
        fake.addr(),
        "/v1/messages",
        &[("x-api-key", key), ("anthropic-version", "2023-06-01"), ("content-type", "application/json")],
        &text,
    )
    .expect("post to the fake");
    (out.status, out.headers, serde_json::from_slice(&out.body).unwrap_or(Value::Null))
}

fn openai_post(fake: &FakeLlm, body: &Value) -> (u16, Value) {
    let auth = format!("Bearer {KEY}");
    let out = post(
        fake.addr(),
        "/v1/chat/completions",
        &[("authorization", auth.as_str()), ("content-type", "application/json")],
        &body.to_string(),
    )
    .expect("post to the fake");
    (out.status, serde_json::from_slice(&out.body).unwrap_or(Value::Null))
}

fn anthropic_tools() -> Value {
    json!([{"name": "read_file", "description": "read", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}])
}

#[test]
fn anthropic_fake_plays_a_tool_conversation_and_bills_by_size() {
    let fake = FakeLlm::anthropic(KEY);
    fake.push(Reply::call(tool_call("read_file", json!({"path": "config.json"}))).with_text("Reading."));
    fake.push(Reply::call(submit(json!({"action": "stop", "rationale": "done", "changes": []}))));

    let first = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024,
        "system": [{"type": "text", "text": "stable", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "dynamic"}],
        "tools": anthropic_tools(), "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": "decide"}]
    });
    let (status, headers, answer) = anthropic_post(&fake, KEY, &first);
    assert_eq!(status, 200, "{answer}");
    assert!(headers.iter().any(|(k, _)| k == "request-id"));
    assert_eq!(answer["type"], "message");
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_eq!(answer["content"][0], json!({"type": "text", "text": "Reading."}));
    let call = &answer["content"][1];
    assert_eq!(call["type"], "tool_use");
    assert_eq!(call["input"], json!({"path": "config.json"}));
    assert_eq!(answer["usage"]["input_tokens"], first.to_string().len() as u64 / 4);

    let id = call["id"].as_str().expect("tool_use id");
    let second = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024, "tools": anthropic_tools(),
        "messages": [
            {"role": "user", "content": "decide"},
            {"role": "assistant", "content": answer["content"]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "{\"lr\": 1.0}", "is_error": false}]}
        ]
    });
    let (status, _, answer) = anthropic_post(&fake, KEY, &second);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["content"][0]["name"], "submit_decision");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let seen = fake.requests()[1].tool_results();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].name.as_deref(), Some("read_file"));
    assert_eq!(seen[0].content, "{\"lr\": 1.0}");
    assert_eq!(seen[0].is_error, Some(false));
}

#[test]
fn anthropic_fake_refuses_what_the_api_refuses() {
    let fake = FakeLlm::anthropic(KEY);
    fake.otherwise(|_, _| Reply::text("ok"));
    let ok = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});

    let (status, _, body) = anthropic_post(&fake, "wrong", &ok);
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "authentication_error");

    let cases = [
        json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "assistant", "content": "hi"}]}),
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
        json!({"model": "m", "max_tokens": 10, "tools": [{"name": "bad name!", "input_schema": {"type": "object"}}], "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "m", "max_tokens": 10, "tools": anthropic_tools(), "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {}}]},
            {"role": "user", "content": "no result"}]}),
        json!({"model": "m", "max_tokens": 10, "system": [{"type": "text", "text": "s", "cache_control": {"type": "forever"}}], "messages": [{"role": "user", "content": "a"}]}),
        json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "text", "text": "  "}]}]}),
        json!({"model": "m", "max_tokens": 10, "extra": 1, "messages": [{"role": "user", "content": "a"}]}),
    ];
    for (i, case) in cases.iter().enumerate() {
        let (status, _, body) = anthropic_post(&fake, KEY, case);
        assert_eq!(status, 400, "case {i} must be refused: {case}");
        assert_eq!(body["type"], "error", "case {i}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "case {i}");
    }
    assert_eq!(fake.violations().len(), cases.len() + 1, "{:#?}", fake.violations());

    let (status, _, _) = anthropic_post(&fake, KEY, &ok);
    assert_eq!(status, 200);
}

#[test]
fn scripted_errors_carry_their_status_headers_and_body() {
    let fake = FakeLlm::anthropic(KEY);
    fake.push(Reply::error(429, "slow down").header("retry-after", "3"));
    fake.push(Reply::error(529, "Overloaded"));
    fake.push(Reply::error(400, "nope").header("x-should-retry", "false"));
    let ok = json!({"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});
    let (status, headers, body) = anthropic_post(&fake, KEY, &ok);
    assert_eq!(status, 429);
    assert!(headers.contains(&("retry-after".into(), "3".into())), "{headers:?}");
    assert_eq!(body["error"], json!({"type": "rate_limit_error", "message": "slow down"}));
    let (status, _, body) = anthropic_post(&fake, KEY, &ok);
    assert_eq!((status, body["error"]["type"].as_str()), (529, Some("overloaded_error")));
    let (status, headers, _) = anthropic_post(&fake, KEY, &ok);
    assert_eq!(status, 400);
    assert!(headers.contains(&("x-should-retry".into(), "false".into())), "{headers:?}");
    // Script exhausted: an unexpected request is refused and recorded.
    let (status, _, _) = anthropic_post(&fake, KEY, &ok);
    assert_eq!(status, 400);
    assert_eq!(fake.violations().len(), 1, "{:?}", fake.violations());
}

#[test]
fn openai_fake_sends_raw_arguments_and_checks_tool_messages() {
    let fake = FakeLlm::openai(KEY);
    fake.push(Reply::call(raw_tool_call("submit_decision", "{\"action\": ")));
    fake.push(Reply::text("fine"));
    let tools = json!([{"type": "function", "function": {"name": "submit_decision", "parameters": {"type": "object", "properties": {"action": {"type": "string"}}}}}]);
    let first = json!({"model": "gpt-4.1", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "tools": tools, "tool_choice": "required"});
    let (status, answer) = openai_post(&fake, &first);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    let message = &answer["choices"][0]["message"];
    assert!(message["content"].is_null());
    let call = &message["tool_calls"][0];
    assert_eq!(call["function"]["arguments"], "{\"action\": ");
    assert_eq!(answer["usage"]["prompt_tokens"], first.to_string().len() as u64 / 4);

    // The tool message is missing: refused.
    let mut missing = first.clone();
    missing["messages"].as_array_mut().expect("messages").push(message.clone());
    missing["messages"].as_array_mut().expect("messages").push(json!({"role": "user", "content": "again"}));
    let (status, body) = openai_post(&fake, &missing);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error");

    let mut answered = first.clone();
    answered["messages"].as_array_mut().expect("messages").push(message.clone());
    answered["messages"]
        .as_array_mut()
        .expect("messages")
        .push(json!({"role": "tool", "tool_call_id": call["id"], "content": "error: arguments are not valid JSON"}));
    let (status, body) = openai_post(&fake, &answered);
    assert_eq!(status, 200, "{body}");
    let seen = fake.requests()[2].tool_results();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].name.as_deref(), Some("submit_decision"));

    // strict: true needs additionalProperties false and every property required.
    let strict = json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "u"}],
        "tools": [{"type": "function", "function": {"name": "t", "strict": true, "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}}}]});
    let (status, _) = openai_post(&fake, &strict);
    assert_eq!(status, 400);
    let refused = fake.requests().iter().filter(|r| !r.violations.is_empty()).count();
    assert_eq!(refused, 2, "{:#?}", fake.violations());
}
