//! AWS credentials and region for Bedrock, the way the AWS SDKs find them: the standard
//! variables first, then the named profile (`AWS_PROFILE`, else `default`) in the shared
//! credentials and config files. The CLI names those files with the session
//! (`AWS_SHARED_CREDENTIALS_FILE`, `AWS_CONFIG_FILE`, defaulted to `~/.aws/…` of the user who
//! ran `revis loop`), so a key always comes from the user's side, never the daemon's.
//!
//! Must not: show a secret in any message or `Debug` output, or run anything a profile names
//! (`credential_process`, SSO logins): such profiles are refused with the command that exports
//! their keys instead.

use std::collections::HashMap;
use std::fmt;

/// Static SigV4 credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl fmt::Debug for Keys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keys")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The variables the SDKs read, in their order of precedence.
pub const REGION_VARS: &[&str] = &["AWS_REGION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION"];

/// The profile the SDKs would use.
fn profile_name(var: &dyn Fn(&str) -> Option<String>) -> (String, bool) {
    match var("AWS_PROFILE").or_else(|| var("AWS_DEFAULT_PROFILE")) {
        Some(name) => (name, true),
        None => ("default".to_string(), false),
    }
}

/// An INI file as the AWS CLI writes it: `[section]` headers and `key = value` lines; `#` and
/// `;` start comments. Keys are lower-cased (the SDKs treat them case-insensitively).
fn sections(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = header.split_whitespace().collect::<Vec<_>>().join(" ");
            out.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            let value = value.trim().trim_matches('"').to_string();
            out.entry(section.clone()).or_default().insert(key.trim().to_ascii_lowercase(), value);
        }
    }
    out
}

/// The named profile's settings: the credentials file's `[name]` over the config file's
/// `[profile name]` (`[default]` or `[profile default]` for the default profile), as the SDKs
/// merge them.
fn profile(var: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<HashMap<String, String>> {
    let read = |env: &str| var(env).and_then(|path| std::fs::read_to_string(path).ok()).map(|t| sections(&t));
    let mut merged: Option<HashMap<String, String>> = None;
    if let Some(config) = read("AWS_CONFIG_FILE")
        && let Some(section) = config.get(&format!("profile {name}")).or_else(|| config.get(name))
    {
        merged = Some(section.clone());
    }
    if let Some(credentials) = read("AWS_SHARED_CREDENTIALS_FILE")
        && let Some(section) = credentials.get(name)
    {
        merged.get_or_insert_with(HashMap::new).extend(section.clone());
    }
    merged
}

/// The region from the variables, else from the profile.
pub fn region(var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    REGION_VARS.iter().find_map(|name| var(name)).or_else(|| {
        let (name, _) = profile_name(var);
        profile(var, &name)?.get("region").filter(|r| !r.is_empty()).cloned()
    })
}

/// Where keys were found, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Variables,
    Profile(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Variables => f.write_str("AWS_ACCESS_KEY_ID"),
            Source::Profile(name) => write!(f, "profile {name}"),
        }
    }
}

/// The keys the SDKs would sign with: `Ok(None)` when there are none at all (a missing key,
/// which pauses the session), `Err` when a profile was named but cannot be used (refused
/// before anything runs).
pub fn keys(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<(Keys, Source)>, String> {
    if let (Some(access_key_id), Some(secret_access_key)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let keys = Keys { access_key_id, secret_access_key, session_token: var("AWS_SESSION_TOKEN") };
        return Ok(Some((keys, Source::Variables)));
    }
    let (name, named) = profile_name(var);
    let Some(settings) = profile(var, &name) else {
        return if named {
            Err(format!(
                "AWS profile {name:?} is in neither the credentials file ({}) nor the config file ({})",
                var("AWS_SHARED_CREDENTIALS_FILE").unwrap_or_else(|| "none".into()),
                var("AWS_CONFIG_FILE").unwrap_or_else(|| "none".into())
            ))
        } else {
            Ok(None)
        };
    };
    let get = |key: &str| settings.get(key).filter(|v| !v.is_empty()).cloned();
    if let (Some(access_key_id), Some(secret_access_key)) = (get("aws_access_key_id"), get("aws_secret_access_key")) {
        let keys = Keys { access_key_id, secret_access_key, session_token: get("aws_session_token") };
        return Ok(Some((keys, Source::Profile(name))));
    }
    let dynamic = ["sso_session", "sso_start_url", "credential_process", "role_arn", "web_identity_token_file"];
    if let Some(kind) = dynamic.iter().find(|k| settings.contains_key(**k)) {
        return Err(format!(
            "AWS profile {name:?} gets its keys through {kind}, which Revis does not run; export them first: \
             eval \"$(aws configure export-credentials --profile {name} --format env)\""
        ));
    }
    if named {
        Err(format!("AWS profile {name:?} has no aws_access_key_id and aws_secret_access_key"))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())
    }

    fn files(credentials: &str, config: &str) -> (tempfile::TempDir, String, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let c = dir.path().join("credentials");
        let g = dir.path().join("config");
        std::fs::write(&c, credentials).expect("write");
        std::fs::write(&g, config).expect("write");
        (dir, c.display().to_string(), g.display().to_string())
    }

    #[test]
    fn variables_win_over_profiles() {
        let var = env(vec![
            ("AWS_ACCESS_KEY_ID", "AKIAVAR".into()),
            ("AWS_SECRET_ACCESS_KEY", "s3cr3t-value".into()),
            ("AWS_SESSION_TOKEN", "t0ken-value".into()),
            ("AWS_REGION", "eu-west-1".into()),
        ]);
        let (keys, source) = keys(&var).expect("ok").expect("keys");
        assert_eq!(keys.access_key_id, "AKIAVAR");
        assert_eq!(keys.session_token.as_deref(), Some("t0ken-value"));
        assert_eq!(source, Source::Variables);
        assert_eq!(region(&var).as_deref(), Some("eu-west-1"));
        let shown = format!("{keys:?}");
        assert!(!shown.contains("s3cr3t") && !shown.contains("t0ken"), "{shown}");
    }

    #[test]
    fn named_and_default_profiles_merge_both_files() {
        let (_dir, credentials, config) = files(
            "[default]\naws_access_key_id = AKIADEF\naws_secret_access_key = s1\n\n[work]\n# comment\nAWS_ACCESS_KEY_ID=AKIAWORK\naws_secret_access_key = s2\naws_session_token = t2\n",
            "[default]\nregion = us-east-1\n[profile work]\nregion = us-west-2\n",
        );
        let base = vec![("AWS_SHARED_CREDENTIALS_FILE", credentials), ("AWS_CONFIG_FILE", config)];
        let var = env(base.clone());
        let (keys, source) = keys(&var).expect("ok").expect("keys");
        assert_eq!((keys.access_key_id.as_str(), source), ("AKIADEF", Source::Profile("default".into())));
        assert_eq!(region(&var).as_deref(), Some("us-east-1"));
        let mut named = base.clone();
        named.push(("AWS_PROFILE", "work".into()));
        let var = env(named);
        let (keys, _) = super::keys(&var).expect("ok").expect("keys");
        assert_eq!((keys.access_key_id.as_str(), keys.session_token.as_deref()), ("AKIAWORK", Some("t2")));
        assert_eq!(region(&var).as_deref(), Some("us-west-2"));
        // The config file may also name the default profile `[profile default]`.
        let (_dir, credentials, config) = files("", "[profile default]\nregion = eu-central-1\n");
        let var = env(vec![("AWS_SHARED_CREDENTIALS_FILE", credentials), ("AWS_CONFIG_FILE", config)]);
        assert_eq!(region(&var).as_deref(), Some("eu-central-1"));
    }

    #[test]
    fn missing_and_unusable_profiles() {
        assert_eq!(keys(&env(vec![])), Ok(None));
        let (_dir, credentials, config) =
            files("", "[profile sso]\nsso_session = corp\nregion = us-east-1\n[profile empty]\nregion = x\n");
        let base = vec![("AWS_SHARED_CREDENTIALS_FILE", credentials), ("AWS_CONFIG_FILE", config)];
        let with = |profile: &'static str| {
            let mut vars = base.clone();
            vars.push(("AWS_PROFILE", profile.into()));
            keys(&env(vars)).expect_err("refused")
        };
        assert!(with("sso").contains("export-credentials --profile sso"), "{}", with("sso"));
        assert!(with("empty").contains("no aws_access_key_id"), "{}", with("empty"));
        assert!(with("nope").contains("in neither"), "{}", with("nope"));
    }
}
