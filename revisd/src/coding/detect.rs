//! Finding agents on PATH. The PATH is always passed in (or read once from the daemon's
//! environment) so tests never have to mutate the process environment.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::{AgentKind, agents};
use crate::config::schema::CodingAgentType;

/// The first registered agent found on PATH, in registry order (claude, codex, aider).
pub fn detect(path_var: Option<&OsStr>) -> Option<AgentKind> {
    agents().iter().find(|agent| find_program(agent.program(), path_var).is_some()).map(|agent| agent.kind())
}

/// What `coding_agent.type` means on this machine: `auto` is whatever `detect` finds (`None`
/// when nothing is installed), an explicit agent must be on PATH, and `none` is no agent.
pub fn resolve(configured: CodingAgentType, path_var: Option<&OsStr>) -> Result<Option<AgentKind>, String> {
    let agent = match configured {
        CodingAgentType::Auto => return Ok(detect(path_var)),
        CodingAgentType::None => return Ok(None),
        named => agents()
            .iter()
            .find(|agent| agent.config_type() == named)
            .ok_or_else(|| format!("coding_agent.type {named:?} has no agent registered"))?,
    };
    match find_program(agent.program(), path_var) {
        Some(_) => Ok(Some(agent.kind())),
        None => Err(format!("{} not found on PATH", agent.program())),
    }
}

/// The absolute path of an executable file named `program` in the first PATH directory that
/// has one. Empty PATH entries (the current directory, to POSIX) are skipped on purpose: the
/// daemon's current directory says nothing about what the user installed.
pub(super) fn find_program(program: &str, path_var: Option<&OsStr>) -> Option<PathBuf> {
    let owned: Option<OsString> = match path_var {
        Some(_) => None,
        None => std::env::var_os("PATH"),
    };
    let path_var = path_var.or(owned.as_deref())?;
    std::env::split_paths(path_var)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable_file(candidate))
}

fn is_executable_file(path: &std::path::Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coding::test_support::{path_of, write_script};

    #[test]
    fn detection_follows_claude_codex_aider_order() {
        let first = tempfile::tempdir().expect("tempdir");
        let second = tempfile::tempdir().expect("tempdir");
        write_script(first.path(), "aider", "exit 0");
        write_script(second.path(), "codex", "exit 0");
        let path = path_of(&[first.path(), second.path()]);
        // codex wins over aider even though aider comes first on PATH.
        assert_eq!(detect(Some(&path)), Some(AgentKind::Codex));
        write_script(second.path(), "claude", "exit 0");
        assert_eq!(detect(Some(&path)), Some(AgentKind::ClaudeCode));
        let only_aider = path_of(&[first.path()]);
        assert_eq!(detect(Some(&only_aider)), Some(AgentKind::Aider));
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(detect(Some(&path_of(&[empty.path()]))), None);
    }

    #[test]
    fn non_executable_and_directories_do_not_count() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("claude"), "#!/bin/sh\n").expect("write");
        std::fs::create_dir(dir.path().join("codex")).expect("mkdir");
        assert_eq!(detect(Some(&path_of(&[dir.path()]))), None);
    }

    #[test]
    fn resolve_explicit_types_must_be_on_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_script(dir.path(), "codex", "exit 0");
        let path = path_of(&[dir.path()]);
        assert_eq!(resolve(CodingAgentType::Codex, Some(&path)), Ok(Some(AgentKind::Codex)));
        assert_eq!(resolve(CodingAgentType::ClaudeCode, Some(&path)), Err("claude not found on PATH".to_string()));
        assert_eq!(resolve(CodingAgentType::Aider, Some(&path)), Err("aider not found on PATH".to_string()));
        assert_eq!(resolve(CodingAgentType::Auto, Some(&path)), Ok(Some(AgentKind::Codex)));
        assert_eq!(resolve(CodingAgentType::None, Some(&path)), Ok(None));
        let empty = tempfile::tempdir().expect("tempdir");
        assert_eq!(resolve(CodingAgentType::Auto, Some(&path_of(&[empty.path()]))), Ok(None));
    }

    #[test]
    fn kind_names_round_trip() {
        for kind in agents().iter().map(|agent| agent.kind()) {
            assert_eq!(kind.to_string().parse::<AgentKind>(), Ok(kind));
        }
        assert_eq!(AgentKind::ClaudeCode.to_string(), "claude-code");
        assert!("claude".parse::<AgentKind>().is_err());
    }
}
