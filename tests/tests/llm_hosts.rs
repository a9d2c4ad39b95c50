//! The OpenAI-compatible hosts (OpenRouter, Groq, Mistral, DeepSeek, Together AI, Fireworks,
//! xAI, Cerebras, Perplexity) by LiteLLM's names: for each one a whole session whose model,
//! `<prefix>/<model>`, is reached through the host's own key and base variables (the base
//! pointed at the loopback OpenAI fake, which checks the key and the request's shape), and makes
//! a config change through a tool call after a 429 it retries. A name no family knows is refused
//! before anything runs, with its line; with `--max-cost`, so is a model with no price.

use revis_tests::TestEnv;
use revis_tests::fakes::{FakeLlm, Reply, change, config_edit, submit};
use revis_tests::llm::{assert_no_violations, fake_key, llm_project};
use revis_tests::session::{iteration, pretty, state};
use revisd::advisor::llm::models::HOSTS;
use serde_json::json;

#[test]
fn every_openai_compatible_host_runs_a_session_with_its_own_variables() {
    for host in HOSTS {
        let key = fake_key("sk-host");
        let fake = FakeLlm::openai(&key);
        // Each host's rate limit in the Chat Completions shape, retried the OpenAI SDK's way.
        fake.push(Reply::error(429, "Rate limit reached for requests"));
        fake.push(Reply::call(submit(change(
            "lr is at the worst end of its range",
            "a smaller lr lowers val_loss",
            vec![config_edit("config.json", "lr", json!(0.01))],
        ))));
        let yaml = format!("llm:\n  model: {}/acme/model-7b\n", host.prefix);
        let env = TestEnv::new(llm_project(&[], &yaml, &[]));
        // The host's last key variable (LiteLLM accepts each), and its base variable.
        let key_env = host.key_envs[host.key_envs.len() - 1];
        let vars = vec![
            (key_env.to_string(), key.clone()),
            (host.base_env.to_string(), fake.base_url()),
            ("NO_PROXY".to_string(), "127.0.0.1,localhost".to_string()),
        ];
        env.start_llm_loop("hosted", &["--max-iterations", "2"], &vars);
        let s = env.wait_ended("hosted");
        assert_eq!(state(&s), "completed", "{}: {}", host.name, pretty(&s));
        assert_no_violations(&[&fake]);
        let requests = fake.requests();
        assert_eq!(requests.len(), 2, "{}: the 429 retried, then one decision", host.name);
        assert_eq!(requests[0].status, 429, "{}", host.name);
        assert_eq!(requests[1].model(), "acme/model-7b", "{}: the model id without its prefix", host.name);
        let it = iteration(&s, 1).unwrap_or_default();
        assert_eq!(it["state"], "succeeded", "{}: {}", host.name, pretty(&it));
        assert!(it["change"].to_string().contains("lr"), "{}: the change was applied: {}", host.name, pretty(&it));
        // `acme/model-7b` has no price: its call is counted, and shown as unknown, never as $0.
        assert_eq!(s["spend"]["llm_unpriced_calls"], 1, "{}: {}", host.name, s["spend"]);
        assert_eq!(it["llm"]["unpriced_calls"], 1, "{}: {}", host.name, pretty(&it));
        if host.prefix == "groq" {
            let text = env.revis_ok(&["show", "hosted"]);
            assert!(text.contains("unknown LLM (1 call at unknown prices: set llm.pricing)"), "{text}");
            let row = text.lines().find(|l| l.trim_start().starts_with("1 ")).unwrap_or_default();
            assert!(row.contains(" unknown"), "the trial's cost is unknown, not $0: {text}");
        }
    }
}

#[test]
fn max_cost_refuses_a_model_without_a_price_until_llm_pricing_gives_one() {
    let key = fake_key("sk-host");
    let fake = FakeLlm::openai(&key);
    let vars = |fake: &FakeLlm| {
        vec![
            ("TOGETHERAI_API_KEY".to_string(), key.clone()),
            ("TOGETHERAI_API_BASE".to_string(), fake.base_url()),
            ("NO_PROXY".to_string(), "127.0.0.1,localhost".to_string()),
        ]
    };
    let yaml = "llm:\n  model: together_ai/acme/model-7b\n";
    let env = TestEnv::new(llm_project(&[], yaml, &[]));
    let out = env.revis_env(&["loop", "--name", "capped", "--advisor", "llm", "--max-cost", "5"], &vars(&fake));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refused: {err}");
    assert!(
        err.contains("revis.yaml:")
            && err.contains("llm.model: together_ai/acme/model-7b has no known price, so --max-cost"),
        "{err}"
    );
    assert!(!env.revis_ok(&["list"]).contains("capped"), "no session was created");
    assert!(fake.requests().is_empty(), "nothing ran");

    // With its price in llm.pricing the same session runs and its spend is in dollars.
    fake.push(Reply::call(submit(change(
        "lr is at the worst end of its range",
        "a smaller lr lowers val_loss",
        vec![config_edit("config.json", "lr", json!(0.01))],
    ))));
    let yaml = "llm:\n  model: together_ai/acme/model-7b\n  pricing:\n    together_ai/acme/model-7b: {input: 1.0, output: 2.0}\n";
    let env = TestEnv::new(llm_project(&[], yaml, &[]));
    env.start_llm_loop("capped", &["--max-iterations", "2", "--max-cost", "5"], &vars(&fake));
    let s = env.wait_ended("capped");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));
    assert!(s["spend"]["llm_usd"].as_f64().is_some_and(|usd| usd > 0.0), "{}", s["spend"]);
    assert!(s["spend"]["llm_unpriced_calls"].as_u64().unwrap_or(0) == 0, "{}", s["spend"]);
}

#[test]
fn a_model_name_no_family_knows_is_refused_before_the_baseline() {
    let env = TestEnv::new(llm_project(&[], "llm:\n  model: gemini-pro\n", &[]));
    let out = env.revis(&["loop", "--name", "never", "--advisor", "search"]);
    assert!(!out.status.success(), "refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("revis.yaml:") && err.contains("llm.model: `gemini-pro` names no model family"), "{err}");
    let list = env.revis_ok(&["list"]);
    assert!(!list.contains("never"), "no session was created: {list}");
    // A fallback no family knows is named by its index.
    let yaml = "llm:\n  model: groq/llama-3.3-70b-versatile\n  fallback:\n    - openai/gpt-4.1\n    - mistrall/x\n";
    let env = TestEnv::new(llm_project(&[], yaml, &[]));
    let out = env.revis(&["loop", "--name", "never", "--advisor", "search"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("llm.fallback: `mistrall/x`"), "{err}");
}
