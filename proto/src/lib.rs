//! The one contract between the `revis` CLI and the `revisd` daemon.

/// Protocol number checked by the `Hello` handshake. Bump on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 3;

/// The LLM provider settings (API keys, base URLs) that `revis loop`, `resume` and `approve`
/// pass from the user's shell to the daemon in their `env` maps. They are secrets: the daemon
/// keeps them in memory only.
pub const PROVIDER_VARIABLES: &[&str] = &[
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_API_BASE",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
    // codex reads its key from here, not from OPENAI_API_KEY.
    "CODEX_API_KEY",
    "OLLAMA_API_BASE",
    "OLLAMA_API_KEY",
    "HOSTED_VLLM_API_BASE",
    "HOSTED_VLLM_API_KEY",
    "LITELLM_PROXY_API_BASE",
    "LITELLM_PROXY_API_KEY",
    // OpenAI-compatible hosts (revisd's `advisor::llm::models::HOSTS`), by LiteLLM's names.
    "OPENROUTER_API_KEY",
    "OR_API_KEY",
    "OPENROUTER_API_BASE",
    "GROQ_API_KEY",
    "GROQ_API_BASE",
    "MISTRAL_API_KEY",
    "MISTRAL_API_BASE",
    "DEEPSEEK_API_KEY",
    "DEEPSEEK_API_BASE",
    "TOGETHERAI_API_KEY",
    "TOGETHER_API_KEY",
    "TOGETHER_AI_API_KEY",
    "TOGETHER_AI_TOKEN",
    "TOGETHERAI_API_BASE",
    "FIREWORKS_API_KEY",
    "FIREWORKS_AI_API_KEY",
    "FIREWORKSAI_API_KEY",
    "FIREWORKS_AI_TOKEN",
    "FIREWORKS_API_BASE",
    "XAI_API_KEY",
    "XAI_API_BASE",
    "CEREBRAS_API_KEY",
    "CEREBRAS_API_BASE",
    "PERPLEXITYAI_API_KEY",
    "PERPLEXITY_API_KEY",
    "PERPLEXITY_API_BASE",
    // Gemini, Azure OpenAI, Bedrock API keys and Vertex AI's LiteLLM names.
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GEMINI_API_BASE",
    "AZURE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_AD_TOKEN",
    "AZURE_API_BASE",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_API_VERSION",
    "OPENAI_API_VERSION",
    "AWS_REGION_NAME",
    "AWS_BEARER_TOKEN_BEDROCK",
    "AWS_BEDROCK_RUNTIME_ENDPOINT",
    "VERTEXAI_CREDENTIALS",
    "VERTEXAI_PROJECT",
    "VERTEX_PROJECT",
    "VERTEXAI_LOCATION",
    "VERTEX_LOCATION",
    "VERTEXAI_API_BASE",
];

/// The cloud account settings Bedrock and Vertex AI sign in with. They travel with the
/// session like the provider settings, but unlike those they are not taken out of the
/// daemon's or the training's environment: training jobs use the same accounts (S3, GCS).
/// The credential files are named by path; `revis` fills in the default locations
/// (`~/.aws/…`, gcloud's application-default file) when the user's shell has them.
pub const CLOUD_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_CONFIG_FILE",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
];

/// Every variable a session carries for its LLM: the provider and the cloud settings.
pub fn is_llm_variable(name: &str) -> bool {
    PROVIDER_VARIABLES.contains(&name) || CLOUD_VARIABLES.contains(&name)
}

pub mod v1 {
    #![allow(clippy::all)]
    tonic::include_proto!("revis.v1");

    /// Encoded descriptor set for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("revis_descriptor");
}

/// The words of the protocol's enums, as people and the CLI's JSON read them: a value's name
/// without its enum's prefix, in lower case (`SESSION_STATE_RUNNING` → `running`,
/// `OUTCOME_NO_IMPROVEMENT` → `no_improvement`). Derived from the generated names, so the words
/// cannot drift from the enums.
pub mod words {
    use super::v1;

    /// The word of a generated enum value name.
    fn word(name: &str, prefix: &str) -> String {
        name.strip_prefix(prefix).unwrap_or(name).to_ascii_lowercase()
    }

    /// An enum of the protocol with its words.
    pub trait Word: Sized + Copy {
        /// The lower-case word (`unspecified` for the zero value).
        fn word(self) -> String;
        /// The value whose word this is.
        fn from_word(text: &str) -> Option<Self>;
    }

    macro_rules! words {
        ($($ty:ident => $prefix:literal, $ser:ident, $opt:ident;)+) => {$(
            impl Word for v1::$ty {
                fn word(self) -> String {
                    word(self.as_str_name(), $prefix)
                }

                fn from_word(text: &str) -> Option<Self> {
                    v1::$ty::from_str_name(&format!("{}{}", $prefix, text.to_ascii_uppercase()))
                }
            }

            /// Serializes an i32 field of this enum as its word (an unknown number as itself).
            pub fn $ser<S: serde::Serializer>(value: &i32, s: S) -> Result<S::Ok, S::Error> {
                match v1::$ty::try_from(*value) {
                    Ok(known) => s.serialize_str(&known.word()),
                    Err(_) => s.serialize_i32(*value),
                }
            }

            /// Like the plain serializer, for an optional field.
            pub fn $opt<S: serde::Serializer>(value: &Option<i32>, s: S) -> Result<S::Ok, S::Error> {
                match value {
                    Some(v) => $ser(v, s),
                    None => s.serialize_none(),
                }
            }
        )+};
    }

    words! {
        SessionState => "SESSION_STATE_", session_state, opt_session_state;
        StopReason => "STOP_REASON_", stop_reason_value, stop_reason;
        Phase => "PHASE_", phase_value, phase;
        IterationState => "ITERATION_STATE_", iteration_state, opt_iteration_state;
        Outcome => "OUTCOME_", outcome_value, outcome;
        Advisor => "ADVISOR_", advisor, opt_advisor;
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn words_come_from_the_enum_names_and_read_back() {
            assert_eq!(v1::SessionState::Running.word(), "running");
            assert_eq!(v1::Outcome::NoImprovement.word(), "no_improvement");
            assert_eq!(v1::StopReason::SpaceExhausted.word(), "space_exhausted");
            assert_eq!(v1::StopReason::from_word("max_cost"), Some(v1::StopReason::MaxCost));
            assert_eq!(v1::Phase::from_word("nope"), None);
        }
    }
}

impl v1::SessionDetail {
    /// The session's summary part (an empty one when a daemon sent none).
    pub fn head(&self) -> &v1::SessionSummary {
        static EMPTY: std::sync::OnceLock<v1::SessionSummary> = std::sync::OnceLock::new();
        self.summary.as_ref().unwrap_or_else(|| EMPTY.get_or_init(v1::SessionSummary::default))
    }
}

/// What these binaries are: the crate version and the commit they were built from.
pub mod build_info {
    /// The version of the Revis crates (the workspace version).
    pub const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// 12 hex digits of the commit, or "unknown" for a build outside any checkout.
    pub const COMMIT: &str = env!("REVIS_COMMIT");
    /// The commit's date (YYYY-MM-DD), empty when unknown.
    pub const COMMIT_DATE: &str = env!("REVIS_COMMIT_DATE");

    /// `0.1.0 (0123456789ab 2026-12-07)`: what `--version` prints after the program's name.
    pub const LONG_VERSION: &str = env!("REVIS_LONG_VERSION");

    pub fn long_version() -> String {
        describe(VERSION, COMMIT, COMMIT_DATE)
    }

    /// The same line for any version and commit (a daemon's, as its Hello reports it).
    pub fn describe(version: &str, commit: &str, date: &str) -> String {
        match (commit.is_empty(), date.is_empty()) {
            (true, _) => version.to_string(),
            (false, true) => format!("{version} ({commit})"),
            (false, false) => format!("{version} ({commit} {date})"),
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn the_long_version_names_the_commit_when_it_is_known() {
            assert_eq!(super::describe("0.1.0", "0123456789ab", "2026-12-07"), "0.1.0 (0123456789ab 2026-12-07)");
            assert_eq!(super::describe("0.1.0", "unknown", ""), "0.1.0 (unknown)");
            assert_eq!(super::describe("0.1.0", "", ""), "0.1.0");
            // The build script's constant and the function agree.
            assert_eq!(super::LONG_VERSION, super::long_version());
        }
    }
}
