//! Which of the user's environment variables travel to the daemon with `loop`, `resume` and
//! `approve`: the LLM provider settings (API keys, base URLs), so a daemon started elsewhere can
//! still call the model the user has credentials for, plus the names the session's
//! `coding_agent.env` asks for. The daemon names them (it owns revis.yaml); this module owns
//! only the selection and must never print or log the values (they are secrets).

use std::collections::HashMap;

use revis_proto::v1::SessionVariablesRequest;

use crate::client::Client;
use crate::error::CliError;

/// The provider variables the daemon understands (the contract crate owns the list).
pub use revis_proto::PROVIDER_VARIABLES as PROVIDER_VARS;

/// The provider variables that `lookup` reports set and non-empty; an empty value counts as
/// unset so it cannot override a key the daemon has itself.
pub fn select(lookup: impl Fn(&str) -> Option<String>) -> HashMap<String, String> {
    let mut selected: HashMap<String, String> = PROVIDER_VARS
        .iter()
        .chain(revis_proto::CLOUD_VARIABLES)
        .filter_map(|name| lookup(name).filter(|v| !v.is_empty()).map(|v| ((*name).to_string(), v)))
        .collect();
    // The SDKs' default credential files, named by path when the shell does not name its own,
    // so the daemon reads this user's files, not whatever its own home holds.
    if let Some(home) = lookup("HOME").filter(|h| !h.is_empty()) {
        // gcloud's configuration directory: CLOUDSDK_CONFIG, else ~/.config/gcloud (google-auth
        // looks there and nowhere else; XDG_CONFIG_HOME does not move it).
        let gcloud =
            lookup("CLOUDSDK_CONFIG").filter(|c| !c.is_empty()).unwrap_or_else(|| format!("{home}/.config/gcloud"));
        let defaults = [
            ("AWS_SHARED_CREDENTIALS_FILE", format!("{home}/.aws/credentials")),
            ("AWS_CONFIG_FILE", format!("{home}/.aws/config")),
            ("GOOGLE_APPLICATION_CREDENTIALS", format!("{gcloud}/application_default_credentials.json")),
        ];
        for (name, path) in defaults {
            if !selected.contains_key(name) && std::path::Path::new(&path).is_file() {
                selected.insert(name.to_string(), path);
            }
        }
    }
    selected
}

/// `names` that are set and non-empty in `lookup`.
pub fn select_names(names: &[String], lookup: impl Fn(&str) -> Option<String>) -> HashMap<String, String> {
    names.iter().filter_map(|name| lookup(name).filter(|v| !v.is_empty()).map(|v| (name.clone(), v))).collect()
}

/// The variables of this process's environment that the session wants, as the daemon names
/// them for the project (`session` empty) or for a session. Values that are not valid UTF-8
/// are skipped (the daemon could not use them in an HTTP header anyway).
pub async fn for_session(
    client: &mut Client,
    project_dir: &str,
    session: &str,
) -> Result<HashMap<String, String>, CliError> {
    let request = SessionVariablesRequest { project_dir: project_dir.to_string(), session: session.to_string() };
    let names = client.session_variables(request).await?.into_inner().names;
    let mut selected = select_names(&names, |name| std::env::var(name).ok());
    // The provider settings go along even if the daemon named fewer.
    selected.extend(select(|name| std::env::var(name).ok()));
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn only_set_provider_variables_are_selected() {
        let lookup = env(&[
            ("ANTHROPIC_API_KEY", "sk-ant"),
            ("OPENAI_BASE_URL", "http://localhost:8000/v1"),
            ("OPENAI_API_KEY", ""),
            ("HOME", "/home/u"),
            ("GITHUB_TOKEN", "nope"),
        ]);
        let selected = select(lookup);
        let mut keys: Vec<&str> = selected.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["ANTHROPIC_API_KEY", "OPENAI_BASE_URL"]);
        assert_eq!(selected.get("ANTHROPIC_API_KEY").map(String::as_str), Some("sk-ant"));
    }

    #[test]
    fn default_credential_files_are_named_when_they_exist() {
        let home = tempfile::tempdir().expect("home");
        std::fs::create_dir_all(home.path().join(".aws")).expect("dir");
        std::fs::write(home.path().join(".aws/credentials"), "[default]\n").expect("write");
        let home_text = home.path().display().to_string();
        let selected = select(env(&[("HOME", &home_text)]));
        let expected = format!("{home_text}/.aws/credentials");
        assert_eq!(selected.get("AWS_SHARED_CREDENTIALS_FILE"), Some(&expected));
        assert!(!selected.contains_key("AWS_CONFIG_FILE"), "no such file");
        assert!(!selected.contains_key("GOOGLE_APPLICATION_CREDENTIALS"), "no such file");
        let own = select(env(&[("HOME", &home_text), ("AWS_SHARED_CREDENTIALS_FILE", "/elsewhere")]));
        assert_eq!(own.get("AWS_SHARED_CREDENTIALS_FILE").map(String::as_str), Some("/elsewhere"));

        // gcloud's application-default file: under ~/.config/gcloud, or CLOUDSDK_CONFIG.
        std::fs::create_dir_all(home.path().join(".config/gcloud")).expect("dir");
        std::fs::write(home.path().join(".config/gcloud/application_default_credentials.json"), "{}").expect("write");
        let adc = select(env(&[("HOME", &home_text), ("XDG_CONFIG_HOME", "/not/used/by/gcloud")]));
        let expected = format!("{home_text}/.config/gcloud/application_default_credentials.json");
        assert_eq!(adc.get("GOOGLE_APPLICATION_CREDENTIALS"), Some(&expected));
        let moved = home.path().join("gcloud-elsewhere");
        std::fs::create_dir_all(&moved).expect("dir");
        std::fs::write(moved.join("application_default_credentials.json"), "{}").expect("write");
        let moved_text = moved.display().to_string();
        let adc = select(env(&[("HOME", &home_text), ("CLOUDSDK_CONFIG", &moved_text)]));
        let expected = format!("{moved_text}/application_default_credentials.json");
        assert_eq!(adc.get("GOOGLE_APPLICATION_CREDENTIALS"), Some(&expected));
    }

    #[test]
    fn every_provider_variable_is_carried() {
        let selected = select(|name| (name != "HOME").then(|| format!("v-{name}")));
        assert_eq!(selected.len(), PROVIDER_VARS.len() + revis_proto::CLOUD_VARIABLES.len());
        for name in PROVIDER_VARS {
            assert_eq!(selected.get(*name), Some(&format!("v-{name}")));
        }
    }

    #[test]
    fn named_variables_are_selected_when_set() {
        let lookup = env(&[("GEMINI_API_KEY", "g"), ("EMPTY", ""), ("HOME", "/home/u")]);
        let names = ["GEMINI_API_KEY".to_string(), "EMPTY".to_string(), "MISSING".to_string()];
        let selected = select_names(&names, lookup);
        assert_eq!(selected, HashMap::from([("GEMINI_API_KEY".to_string(), "g".to_string())]));
    }

    #[test]
    fn an_empty_environment_sends_nothing() {
        assert!(select(|_| None).is_empty());
    }
}
