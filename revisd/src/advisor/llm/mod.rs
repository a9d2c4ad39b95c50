//! The LLM advisor: an agent loop over the worktree with tools, behind one `LlmProvider` trait
//! (Anthropic Messages, OpenAI Chat Completions and every OpenAI-compatible server).
//!
//! It reads what it may (never a denied file), decides, and returns a `Decision` that
//! `changes` validates and applies; it never writes to the worktree itself.

pub mod agent;
pub mod anthropic;
pub mod aws;
pub mod bedrock;
pub mod chat;
pub mod context;
pub mod gemini;
pub mod google;
pub mod hosts;
pub mod models;
pub mod openai;
pub mod pricing;
pub mod retry;
pub mod tools;

use std::collections::BTreeMap;

use indexmap::IndexMap;

use crate::config::Config;

pub use agent::{Agent, Endpoint, Outcome};

/// The provider settings (and `coding_agent.env` names) the CLI passed for this session, from
/// the user's shell. Never the daemon's own environment: a key travels with the session that
/// needs it. Held in memory only.
#[derive(Clone, Default)]
pub struct Credentials {
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    // Never print values: they are API keys.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("names", &self.vars.keys().collect::<Vec<_>>()).finish()
    }
}

pub use crate::secrets::PROVIDER_VARIABLES as PASSED_VARIABLES;

impl Credentials {
    /// Keeps only the known provider variables and the `extra` names the session's config asks
    /// for (`coding_agent.env`), whatever a client sent.
    pub fn new<'a>(vars: impl IntoIterator<Item = (String, String)>, extra: impl IntoIterator<Item = &'a str>) -> Self {
        let extra: Vec<&str> = extra.into_iter().collect();
        let wanted = |name: &str| revis_proto::is_llm_variable(name) || extra.contains(&name);
        let vars = vars.into_iter().filter(|(k, v)| wanted(k) && !v.is_empty()).collect();
        Self { vars }
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned().filter(|v| !v.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }
}

/// True when the LLM advisor can be used: a model is configured and it has a key (or an
/// explicit `api_base`, for servers that need none).
pub fn is_available(config: &Config, credentials: &Credentials) -> bool {
    let model = config.llm.model.trim();
    if model.is_empty() || model.eq_ignore_ascii_case("none") {
        return false;
    }
    config.llm.api_base.is_some() || models::resolve(model, None, &|name| credentials.get(name)).is_ok()
}

/// Why the LLM advisor is not available, in words that say what to set.
pub fn unavailable_reason(config: &Config, credentials: &Credentials) -> String {
    let model = config.llm.model.trim();
    if model.is_empty() || model.eq_ignore_ascii_case("none") {
        return "llm.model is \"none\" in revis.yaml".into();
    }
    match models::resolve(model, config.llm.api_base.as_deref(), &|name| credentials.get(name)) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

/// `llm.pricing` as prices: providers bill cache reads at a tenth and cache writes at 1.25x of
/// input unless the user says otherwise.
pub fn price_overrides(config: &Config) -> IndexMap<String, pricing::Price> {
    config
        .llm
        .pricing
        .iter()
        .map(|(model, p)| {
            let price = pricing::Price {
                input: p.input,
                output: p.output,
                cache_read: p.cache_read.unwrap_or(p.input * 0.1),
                cache_write: p.cache_write.unwrap_or(p.input * 1.25),
            };
            (model.clone(), price)
        })
        .collect()
}

/// The model and its fallbacks, ready to call, with a note for each one left out. `api_base`
/// applies to `llm.model` only: fallbacks are usually hosted providers.
pub fn endpoints(config: &Config, credentials: &Credentials) -> (Vec<Endpoint>, Vec<String>) {
    let settings = models::ProviderSettings {
        timeout: crate::config::duration::parse_duration(&config.llm.request_timeout)
            .unwrap_or(std::time::Duration::from_secs(600)),
        max_retries: config.llm.max_retries,
        ..models::ProviderSettings::default()
    };
    let overrides = price_overrides(config);
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let specs = std::iter::once((config.llm.model.as_str(), config.llm.api_base.as_deref()))
        .chain(config.llm.fallback.iter().map(|f| (f.as_str(), None)));
    for (spec, api_base) in specs {
        if spec.trim().is_empty() || spec.eq_ignore_ascii_case("none") {
            continue;
        }
        match models::resolve(spec, api_base, &|name| credentials.get(name)) {
            Ok(route) => {
                let price = pricing::price_for(&route, &overrides);
                if price.is_none() {
                    notes.push(format!(
                        "no built-in price for {spec}: unless the model that answers is in the price table, its \
                         spend is shown as unknown (set llm.pricing to count it)"
                    ));
                }
                let provider = models::provider(&route, &settings);
                out.push(Endpoint { route, provider, price });
            }
            Err(e) => notes.push(format!("{spec} left out: {e}")),
        }
    }
    (out, notes)
}
