//! Where W&B lives and which key to use: `WANDB_BASE_URL` (W&B Server) else api.wandb.ai;
//! `WANDB_API_KEY`, else the netrc entry `wandb login` writes (`$NETRC` or `$HOME/.netrc`).
//!
//! Must not: print or log the key (`Connection`'s Debug hides it), or fail when no key exists
//! (callers fall back to local files).

use std::path::PathBuf;

pub const DEFAULT_BASE_URL: &str = "https://api.wandb.ai";

#[derive(Clone)]
pub struct Connection {
    pub base_url: String,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Connection {
    /// From the daemon's environment (for discovery, outside any run).
    pub fn from_env() -> Self {
        Self::resolve(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// From a variable lookup (a run's context, or a test's).
    pub fn resolve(var: impl Fn(&str) -> Option<String>) -> Self {
        let base_url = var("WANDB_BASE_URL")
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        let api_key = var("WANDB_API_KEY").map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).or_else(|| {
            let path =
                var("NETRC").map(PathBuf::from).or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".netrc")))?;
            let text = std::fs::read_to_string(path).ok()?;
            let url = reqwest::Url::parse(&base_url).ok()?;
            let host = url.host_str()?;
            // `wandb login` names the machine by the URL's netloc, so a port is part of it.
            let with_port = url.port().map(|p| format!("{host}:{p}"));
            with_port.and_then(|m| netrc_password(&text, &m)).or_else(|| netrc_password(&text, host))
        });
        Self { base_url, api_key }
    }

    /// The host named in messages about credentials.
    pub fn host(&self) -> String {
        reqwest::Url::parse(&self.base_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| self.base_url.clone())
    }
}

/// The password of `machine` (or of the `default` entry) in netrc text.
pub fn netrc_password(text: &str, machine: &str) -> Option<String> {
    let mut tokens = text.split_whitespace();
    let mut current: Option<bool> = None; // Some(matches) inside an entry
    let mut default_password = None;
    let mut in_default = false;
    while let Some(token) = tokens.next() {
        match token {
            "machine" => {
                current = Some(tokens.next() == Some(machine));
                in_default = false;
            }
            "default" => {
                current = None;
                in_default = true;
            }
            "password" => {
                let password = tokens.next()?.to_string();
                if current == Some(true) {
                    return Some(password);
                }
                if in_default {
                    default_password = Some(password);
                }
            }
            "login" | "account" => {
                tokens.next();
            }
            _ => {}
        }
    }
    default_password
}
