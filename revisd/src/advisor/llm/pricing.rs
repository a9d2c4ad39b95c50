//! What a call costs: a built-in price table for the common models of every family (USD per
//! million tokens at each provider's list price, matched by the longest prefix of the model id
//! so dated ids like `claude-sonnet-4-5-20250929` match; Bedrock's `us.anthropic.` and
//! Vertex's `@version` forms are reduced to the model's own id), free local servers, and
//! `llm.pricing` overrides.
//!
//! Must not: guess a price for a model it does not know (`None`: the caller says the cost is
//! unknown rather than reporting a made-up figure).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::chat::Usage;
use super::models::Route;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    #[serde(default)]
    pub cache_read: f64,
    #[serde(default)]
    pub cache_write: f64,
}

const fn price(input: f64, output: f64, cache_read: f64, cache_write: f64) -> Price {
    Price { input, output, cache_read, cache_write }
}

/// Anthropic cache writes are the 5-minute ones (1.25 × input); OpenAI caches for free, so a
/// write costs the normal input rate (and OpenAI never reports writes anyway).
const TABLE: &[(&str, Price)] = &[
    ("claude-opus-4-6", price(5.0, 25.0, 0.50, 6.25)),
    ("claude-opus-4-5", price(5.0, 25.0, 0.50, 6.25)),
    ("claude-opus-4-1", price(15.0, 75.0, 1.50, 18.75)),
    ("claude-opus-4", price(15.0, 75.0, 1.50, 18.75)),
    ("claude-sonnet-4", price(3.0, 15.0, 0.30, 3.75)),
    ("claude-haiku-4-5", price(1.0, 5.0, 0.10, 1.25)),
    ("claude-3-7-sonnet", price(3.0, 15.0, 0.30, 3.75)),
    ("claude-3-5-sonnet", price(3.0, 15.0, 0.30, 3.75)),
    ("claude-3-5-haiku", price(0.80, 4.0, 0.08, 1.0)),
    ("claude-3-opus", price(15.0, 75.0, 1.50, 18.75)),
    ("claude-3-haiku", price(0.25, 1.25, 0.03, 0.30)),
    ("gpt-5.2", price(1.75, 14.0, 0.175, 1.75)),
    ("gpt-5.1", price(1.25, 10.0, 0.125, 1.25)),
    ("gpt-5-pro", price(15.0, 120.0, 15.0, 15.0)),
    ("gpt-5-mini", price(0.25, 2.0, 0.025, 0.25)),
    ("gpt-5-nano", price(0.05, 0.40, 0.005, 0.05)),
    ("gpt-5", price(1.25, 10.0, 0.125, 1.25)),
    ("gpt-4.1-mini", price(0.40, 1.60, 0.10, 0.40)),
    ("gpt-4.1-nano", price(0.10, 0.40, 0.025, 0.10)),
    ("gpt-4.1", price(2.0, 8.0, 0.50, 2.0)),
    ("gpt-4o-mini", price(0.15, 0.60, 0.075, 0.15)),
    ("gpt-4o", price(2.50, 10.0, 1.25, 2.50)),
    ("gpt-4-turbo", price(10.0, 30.0, 10.0, 10.0)),
    ("gpt-4", price(30.0, 60.0, 30.0, 30.0)),
    ("gpt-3.5-turbo", price(0.50, 1.50, 0.50, 0.50)),
    ("o1-pro", price(150.0, 600.0, 150.0, 150.0)),
    ("o1-mini", price(1.10, 4.40, 0.55, 1.10)),
    ("o1", price(15.0, 60.0, 7.50, 15.0)),
    ("o3-pro", price(20.0, 80.0, 20.0, 20.0)),
    ("o3-mini", price(1.10, 4.40, 0.55, 1.10)),
    ("o3", price(2.0, 8.0, 0.50, 2.0)),
    ("o4-mini", price(1.10, 4.40, 0.275, 1.10)),
    // Gemini (prompts up to 200k tokens; cache reads at the context-caching rate).
    ("gemini-3-pro", price(2.0, 12.0, 0.20, 2.0)),
    ("gemini-2.5-pro", price(1.25, 10.0, 0.125, 1.25)),
    ("gemini-2.5-flash-lite", price(0.10, 0.40, 0.01, 0.10)),
    ("gemini-2.5-flash", price(0.30, 2.50, 0.03, 0.30)),
    ("gemini-2.0-flash-lite", price(0.075, 0.30, 0.075, 0.075)),
    ("gemini-2.0-flash", price(0.10, 0.40, 0.025, 0.10)),
    ("gemini-1.5-pro", price(1.25, 5.0, 0.3125, 1.25)),
    ("gemini-1.5-flash", price(0.075, 0.30, 0.01875, 0.075)),
    // Mistral, DeepSeek, xAI, and Bedrock's own models.
    ("mistral-large", price(2.0, 6.0, 2.0, 2.0)),
    ("mistral-medium", price(0.40, 2.0, 0.40, 0.40)),
    ("mistral-small", price(0.10, 0.30, 0.10, 0.10)),
    ("codestral", price(0.30, 0.90, 0.30, 0.30)),
    ("deepseek-chat", price(0.28, 0.42, 0.028, 0.28)),
    ("deepseek-reasoner", price(0.28, 0.42, 0.028, 0.28)),
    ("grok-4", price(3.0, 15.0, 0.75, 3.0)),
    ("grok-3-mini", price(0.30, 0.50, 0.075, 0.30)),
    ("grok-3", price(3.0, 15.0, 0.75, 3.0)),
    ("llama3-1-70b-instruct", price(0.72, 0.72, 0.72, 0.72)),
    ("llama3-1-8b-instruct", price(0.22, 0.22, 0.22, 0.22)),
    ("nova-pro", price(0.80, 3.20, 0.20, 0.80)),
    ("nova-lite", price(0.06, 0.24, 0.015, 0.06)),
    ("nova-micro", price(0.035, 0.14, 0.00875, 0.035)),
];

/// Open-weight models cost what the host that serves them charges, so the hosts that serve them
/// (LiteLLM's prefixes) are priced from this table alone: a model they serve that is not here has
/// no price, rather than its maker's own API price from the table above. Perplexity's
/// per-request search fees (and its citation tokens) are not token prices and are not counted.
const HOST_TABLE: &[(&str, &str, Price)] = &[
    ("together_ai", "llama-3.3-70b-instruct-turbo", price(0.88, 0.88, 0.88, 0.88)),
    ("together_ai", "meta-llama-3.1-8b-instruct-turbo", price(0.18, 0.18, 0.18, 0.18)),
    ("together_ai", "meta-llama-3.1-70b-instruct-turbo", price(0.88, 0.88, 0.88, 0.88)),
    ("together_ai", "meta-llama-3.1-405b-instruct-turbo", price(3.50, 3.50, 3.50, 3.50)),
    ("together_ai", "llama-4-maverick-17b-128e-instruct-fp8", price(0.27, 0.85, 0.27, 0.27)),
    ("together_ai", "llama-4-scout-17b-16e-instruct", price(0.18, 0.59, 0.18, 0.18)),
    ("together_ai", "deepseek-v3", price(1.25, 1.25, 1.25, 1.25)),
    ("together_ai", "deepseek-r1", price(3.0, 7.0, 3.0, 3.0)),
    ("together_ai", "qwen2.5-72b-instruct-turbo", price(1.20, 1.20, 1.20, 1.20)),
    ("together_ai", "kimi-k2-instruct", price(1.0, 3.0, 1.0, 1.0)),
    ("together_ai", "gpt-oss-120b", price(0.15, 0.60, 0.15, 0.15)),
    ("together_ai", "gpt-oss-20b", price(0.05, 0.20, 0.05, 0.05)),
    ("fireworks_ai", "llama-v3p3-70b-instruct", price(0.90, 0.90, 0.90, 0.90)),
    ("fireworks_ai", "llama-v3p1-405b-instruct", price(3.0, 3.0, 3.0, 3.0)),
    ("fireworks_ai", "llama-v3p1-8b-instruct", price(0.20, 0.20, 0.20, 0.20)),
    ("fireworks_ai", "deepseek-v3", price(0.90, 0.90, 0.90, 0.90)),
    ("fireworks_ai", "deepseek-r1", price(3.0, 8.0, 3.0, 3.0)),
    ("fireworks_ai", "qwen2p5-72b-instruct", price(0.90, 0.90, 0.90, 0.90)),
    ("fireworks_ai", "kimi-k2-instruct", price(0.60, 2.50, 0.60, 0.60)),
    ("fireworks_ai", "gpt-oss-120b", price(0.15, 0.60, 0.15, 0.15)),
    ("fireworks_ai", "gpt-oss-20b", price(0.07, 0.30, 0.07, 0.07)),
    ("cerebras", "llama3.1-8b", price(0.10, 0.10, 0.10, 0.10)),
    ("cerebras", "llama-3.3-70b", price(0.85, 1.20, 0.85, 0.85)),
    ("cerebras", "llama-4-scout-17b-16e-instruct", price(0.65, 0.85, 0.65, 0.65)),
    ("cerebras", "qwen-3-32b", price(0.40, 0.80, 0.40, 0.40)),
    ("cerebras", "gpt-oss-120b", price(0.35, 0.75, 0.35, 0.35)),
    ("groq", "llama-3.3-70b-versatile", price(0.59, 0.79, 0.59, 0.59)),
    ("groq", "llama-3.1-8b-instant", price(0.05, 0.08, 0.05, 0.05)),
    ("groq", "openai/gpt-oss-120b", price(0.15, 0.75, 0.15, 0.15)),
    ("groq", "openai/gpt-oss-20b", price(0.10, 0.50, 0.10, 0.10)),
    ("groq", "qwen/qwen3-32b", price(0.29, 0.59, 0.29, 0.29)),
    ("groq", "moonshotai/kimi-k2-instruct", price(1.0, 3.0, 1.0, 1.0)),
    ("perplexity", "sonar", price(1.0, 1.0, 1.0, 1.0)),
    ("perplexity", "sonar-pro", price(3.0, 15.0, 3.0, 3.0)),
    ("perplexity", "sonar-reasoning", price(1.0, 5.0, 1.0, 1.0)),
    ("perplexity", "sonar-reasoning-pro", price(2.0, 8.0, 2.0, 2.0)),
    ("perplexity", "sonar-deep-research", price(2.0, 8.0, 2.0, 2.0)),
];

/// A model id as the tables know it: the last path segment (proxies, OpenRouter and Together
/// name `vendor/model`; Fireworks `accounts/fireworks/models/model`), lower-case, without
/// Vertex's `@version`, without Bedrock's region and vendor prefixes (`us.anthropic.claude-…`,
/// `meta.llama3-…`, `amazon.nova-…`), and with OpenRouter's dotted Claude versions
/// (`claude-sonnet-4.5`) in Anthropic's own form (`claude-sonnet-4-5`).
fn table_id(model: &str) -> String {
    let model = model.rsplit('/').next().unwrap_or(model);
    let model = model.split('@').next().unwrap_or(model).to_ascii_lowercase();
    // OpenRouter's variants (`:thinking`, `:nitro`) cost what the model costs; Bedrock's
    // `-v1:0` loses only its `:0`.
    let mut id = model.split(':').next().unwrap_or(&model);
    for region in BEDROCK_REGIONS {
        if let Some(rest) = id.strip_prefix(region) {
            id = rest;
        }
    }
    for vendor in ["anthropic.", "meta.", "amazon.", "mistral.", "deepseek.", "cohere.", "ai21."] {
        if let Some(rest) = id.strip_prefix(vendor) {
            id = rest;
            break;
        }
    }
    if id.starts_with("claude-") { id.replace('.', "-") } else { id.to_string() }
}

/// Bedrock's cross-region inference profiles prefix the model id with their geography.
pub const BEDROCK_REGIONS: [&str; 7] = ["us.", "eu.", "apac.", "jp.", "au.", "global.", "us-gov."];

/// The hosts priced by `HOST_TABLE` alone.
fn serves_open_weights(host: &str) -> bool {
    HOST_TABLE.iter().any(|(h, _, _)| *h == host)
}

/// Whether `entry` prices `id`: the whole id, or a prefix followed by `-` (so `gpt-4` does not
/// price `gpt-4.5`, but `gpt-4o-2024-08-06` is `gpt-4o`).
fn matches_entry(id: &str, entry: &str) -> bool {
    id.strip_prefix(entry).is_some_and(|rest| rest.is_empty() || rest.starts_with('-'))
}

/// The table entry for a model id: the longest entry that matches it.
pub fn table_price(model: &str) -> Option<Price> {
    let model = table_id(model);
    TABLE
        .iter()
        .filter(|(prefix, _)| matches_entry(&model, prefix))
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, price)| *price)
}

/// A host's own price for an open-weight model it serves (Groq's ids keep their vendor path).
fn host_price(host: &str, model: &str) -> Option<Price> {
    let lowered = model.to_ascii_lowercase();
    let id = table_id(model);
    HOST_TABLE
        .iter()
        .filter(|(h, entry, _)| *h == host && (matches_entry(&id, entry) || matches_entry(&lowered, entry)))
        .max_by_key(|(_, entry, _)| entry.len())
        .map(|(_, _, price)| *price)
}

/// The price of `route`: an override keyed by the full spec, then by the bare model id; zero
/// for local servers (Ollama, vLLM, or any loopback base such as llama.cpp) unless the model is
/// in the table (a loopback stand-in for a paid API keeps its price); else the table.
pub fn price_for(route: &Route, overrides: &IndexMap<String, Price>) -> Option<Price> {
    price_of(&route.spec, &route.model, &route.base_url, overrides)
}

/// [`price_for`] by the route's parts: its name, the provider's model id and the base URL
/// (empty when not known yet: not a local server).
pub fn price_of(spec: &str, model: &str, base_url: &str, overrides: &IndexMap<String, Price>) -> Option<Price> {
    if let Some(price) = overrides.get(spec).or_else(|| overrides.get(model)) {
        return Some(*price);
    }
    let prefix = spec.split_once('/').map(|(prefix, _)| prefix);
    if matches!(prefix, Some("ollama" | "ollama_chat" | "hosted_vllm")) {
        return Some(Price::default());
    }
    // A local server behind an OpenAI- or Anthropic-style name (llama.cpp, a LiteLLM proxy) is
    // free; a hosted family's name on loopback is a tunnel to a paid API, not a free model.
    let local_kind = matches!(prefix, None | Some("openai" | "anthropic" | "litellm_proxy"));
    // OpenRouter's free variants cost nothing.
    if prefix == Some("openrouter") && model.ends_with(":free") {
        return Some(Price::default());
    }
    if let Some(host) = prefix.filter(|p| serves_open_weights(p)) {
        return host_price(host, model);
    }
    table_price(model).or_else(|| (local_kind && is_loopback(base_url)).then(Price::default))
}

/// The price of a model known by name only (a coding agent's): an override by the full name,
/// then by the bare id, then the table.
pub fn model_price(model: &str, overrides: &IndexMap<String, Price>) -> Option<Price> {
    let bare = model.rsplit('/').next().unwrap_or(model);
    overrides.get(model).or_else(|| overrides.get(bare)).copied().or_else(|| table_price(model))
}

fn is_loopback(base_url: &str) -> bool {
    let authority = base_url.split_once("://").map_or(base_url, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or(authority);
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => authority.split(':').next().unwrap_or(authority),
    };
    matches!(host, "localhost" | "::1" | "0.0.0.0") || host.starts_with("127.")
}

/// USD for one call's usage.
pub fn cost(price: &Price, usage: &Usage) -> f64 {
    let tokens = |n: u64| n as f64 / 1_000_000.0;
    tokens(usage.input_tokens) * price.input
        + tokens(usage.output_tokens) * price.output
        + tokens(usage.cache_read_tokens) * price.cache_read
        + tokens(usage.cache_write_tokens) * price.cache_write
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisor::llm::models::Api;

    fn route(spec: &str, model: &str, base_url: &str) -> Route {
        Route {
            spec: spec.into(),
            api: Api::OpenAi,
            model: model.into(),
            base_url: base_url.into(),
            key: None,
            key_env: "X".into(),
            extra: crate::advisor::llm::models::Extra::None,
        }
    }

    #[test]
    fn every_family_has_its_common_models_priced() {
        let input = |model: &str| table_price(model).map(|p| p.input);
        assert_eq!(input("gemini-2.5-flash"), Some(0.30));
        assert_eq!(input("gemini-2.5-flash-lite-preview-09-2025"), Some(0.10));
        assert_eq!(input("gemini-2.5-pro"), Some(1.25));
        assert_eq!(input("anthropic.claude-3-5-sonnet-20240620-v1:0"), Some(3.0), "Bedrock");
        assert_eq!(input("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), Some(3.0), "Bedrock inference profile");
        assert_eq!(input("meta.llama3-1-70b-instruct-v1:0"), Some(0.72));
        assert_eq!(input("amazon.nova-pro-v1:0"), Some(0.80));
        assert_eq!(input("claude-sonnet-4-5@20250929"), Some(3.0), "Vertex");
        assert_eq!(input("deepseek-chat"), Some(0.28));
        assert_eq!(input("mistral-large-latest"), Some(2.0));
        assert_eq!(input("grok-4-0709"), Some(3.0));
        assert_eq!(input("jp.anthropic.claude-sonnet-4-5-20250929-v1:0"), Some(3.0), "Bedrock in Japan");
        assert_eq!(input("acme/model-7b"), None, "unknown stays unknown");
        assert_eq!(input("anthropic/claude-sonnet-4.5"), Some(3.0), "OpenRouter's dotted Claude ids");
        assert_eq!(input("anthropic/claude-3.5-haiku"), Some(0.80));
        assert_eq!(input("google/gemini-2.5-pro"), Some(1.25));
        assert_eq!(input("gpt-4.1"), Some(2.0), "dots kept outside Claude ids");
    }

    #[test]
    fn open_weight_models_are_priced_by_the_host_that_serves_them() {
        let none = IndexMap::new();
        let at = |spec: &str| {
            let (_, model) = spec.split_once('/').unwrap();
            price_for(&route(spec, model, "https://host.example/v1"), &none).map(|p| (p.input, p.output))
        };
        assert_eq!(at("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo"), Some((0.88, 0.88)));
        assert_eq!(at("together_ai/deepseek-ai/DeepSeek-R1"), Some((3.0, 7.0)));
        assert_eq!(at("fireworks_ai/accounts/fireworks/models/llama-v3p3-70b-instruct"), Some((0.90, 0.90)));
        assert_eq!(at("fireworks_ai/accounts/fireworks/models/deepseek-r1-0528"), Some((3.0, 8.0)));
        assert_eq!(at("cerebras/gpt-oss-120b"), Some((0.35, 0.75)));
        assert_eq!(at("together_ai/openai/gpt-oss-120b"), Some((0.15, 0.60)), "the same model, another host");
        assert_eq!(at("groq/openai/gpt-oss-120b"), Some((0.15, 0.75)));
        assert_eq!(at("groq/llama-3.3-70b-versatile"), Some((0.59, 0.79)));
        // A host's model it has no price for is unknown, not its maker's API price.
        assert_eq!(at("together_ai/mistralai/Mistral-Small-24B-Instruct-2501"), None);
        assert_eq!(at("fireworks_ai/accounts/fireworks/models/codestral-22b"), None);
        assert_eq!(at("openrouter/anthropic/claude-sonnet-4.5:thinking"), Some((3.0, 15.0)));
        assert_eq!(at("openrouter/meta-llama/llama-3.3-70b-instruct:free"), Some((0.0, 0.0)));
        assert_eq!(at("perplexity/sonar-pro"), Some((3.0, 15.0)));
        assert_eq!(at("perplexity/sonar-reasoning-pro"), Some((2.0, 8.0)), "the longest entry wins");
        assert_eq!(at("cerebras/some-new-model"), None);
    }

    #[test]
    fn longest_prefix_wins_and_dated_ids_match() {
        assert_eq!(table_price("claude-sonnet-4-5-20250929").map(|p| p.input), Some(3.0));
        assert_eq!(table_price("claude-opus-4-5-20251101").map(|p| p.input), Some(5.0));
        assert_eq!(table_price("claude-opus-4-20250514").map(|p| p.input), Some(15.0));
        assert_eq!(table_price("claude-haiku-4-5").map(|p| p.cache_read), Some(0.10));
        assert_eq!(table_price("gpt-4o-mini-2024-07-18").map(|p| p.input), Some(0.15));
        assert_eq!(table_price("gpt-4o-2024-08-06").map(|p| p.input), Some(2.50));
        assert_eq!(table_price("gpt-4.1").map(|p| p.output), Some(8.0));
        assert_eq!(table_price("o3-mini").map(|p| p.input), Some(1.10));
        assert_eq!(table_price("o3").map(|p| p.input), Some(2.0));
        assert_eq!(table_price("gpt-5-mini-2025-08-07").map(|p| p.input), Some(0.25));
        assert_eq!(table_price("anthropic/claude-sonnet-4-5").map(|p| p.input), Some(3.0));
        assert_eq!(table_price("gpt-4.5-preview"), None);
        assert_eq!(table_price("llama3"), None);
    }

    #[test]
    fn overrides_by_spec_then_model_win_over_the_table() {
        let r = route("openai/gpt-4.1", "gpt-4.1", "https://api.openai.com/v1");
        let mut overrides = IndexMap::new();
        overrides.insert("gpt-4.1".to_string(), price(1.0, 1.0, 0.0, 0.0));
        assert_eq!(price_for(&r, &overrides).map(|p| p.input), Some(1.0));
        overrides.insert("openai/gpt-4.1".to_string(), price(7.0, 1.0, 0.0, 0.0));
        assert_eq!(price_for(&r, &overrides).map(|p| p.input), Some(7.0));
        assert_eq!(price_for(&r, &IndexMap::new()).map(|p| p.input), Some(2.0));
    }

    #[test]
    fn local_servers_are_free_and_unknown_remote_models_have_no_price() {
        let none = IndexMap::new();
        assert_eq!(price_for(&route("ollama/llama3", "llama3", "http://gpu:11434/v1"), &none), Some(Price::default()));
        assert_eq!(price_for(&route("hosted_vllm/q", "q", "http://gpu:8000/v1"), &none), Some(Price::default()));
        assert_eq!(
            price_for(&route("openai/local", "local", "http://127.0.0.1:8080/v1"), &none),
            Some(Price::default())
        );
        assert_eq!(
            price_for(&route("openai/local", "local", "http://localhost:8080/v1"), &none),
            Some(Price::default())
        );
        assert_eq!(price_for(&route("openai/local", "local", "http://[::1]:8080/v1"), &none), Some(Price::default()));
        assert_eq!(price_for(&route("openai/mystery", "mystery", "https://api.example.com/v1"), &none), None);
        // A loopback fake standing in for Anthropic keeps the real price.
        let fake = route("anthropic/claude-sonnet-4-5", "claude-sonnet-4-5", "http://127.0.0.1:9999");
        assert_eq!(price_for(&fake, &none).map(|p| p.output), Some(15.0));
    }

    #[test]
    fn cost_adds_every_token_kind_at_its_rate() {
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 500_000,
            cache_read_tokens: 2_000_000,
            cache_write_tokens: 100_000,
        };
        let usd = cost(&price(3.0, 15.0, 0.30, 3.75), &usage);
        assert!((usd - (3.0 + 7.5 + 0.6 + 0.375)).abs() < 1e-9, "{usd}");
    }

    #[test]
    fn overrides_parse_from_yaml_shaped_json() {
        let p: Price = serde_json::from_str(r#"{"input": 1, "output": 2}"#).unwrap();
        assert_eq!(p, price(1.0, 2.0, 0.0, 0.0));
        assert!(serde_json::from_str::<Price>(r#"{"input": 1, "output": 2, "typo": 3}"#).is_err());
    }
}
