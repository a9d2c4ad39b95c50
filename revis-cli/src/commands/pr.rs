//! `revis pr NAME`: pushes a finished session's branch (`revis/NAME`) with the user's git and
//! opens a GitHub pull request against the branch the session started from, or returns the one
//! already open. The URL is recorded with the daemon (`revis show` prints it) and printed alone
//! on stdout; progress goes to stderr. Must not push or open anything for a session that is
//! still running, and never prints the token.

mod body;
mod git;
mod github;
mod remote;
mod token;

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use revis_proto::v1::{GetSessionRequest, SessionDetail, SessionState, SetPullRequestRequest};

use self::github::{GitHub, GitHubError, NewPullRequest, Opened};
use self::remote::{API_OVERRIDE_VAR, RemoteRepo, RemoteUrlError};
use super::{Context, out};
use crate::error::CliError;
use crate::states;

/// Push a session's branch and open a GitHub pull request for it.
///
/// The token comes from GH_TOKEN, GITHUB_TOKEN or `gh auth token`; the API from the remote's
/// host (github.com, or GitHub Enterprise at https://HOST/api/v3; REVIS_GITHUB_API overrides).
#[derive(Debug, Args)]
pub struct PrArgs {
    /// Session name.
    pub name: String,
    /// Only push the branch; do not open a pull request.
    #[arg(long)]
    pub no_pr: bool,
    /// Open the pull request as a draft.
    #[arg(long, conflicts_with = "no_pr")]
    pub draft: bool,
    /// Pull request title (default: the branch and its result).
    #[arg(long, value_name = "T", conflicts_with = "no_pr")]
    pub title: Option<String>,
    /// Git remote to push to; its URL names the GitHub repository.
    #[arg(long, default_value = "origin")]
    pub remote: String,
}

pub async fn run(ctx: &Context, args: PrArgs) -> Result<ExitCode, CliError> {
    let project_dir = ctx.project_dir()?;
    let mut conn = ctx.connect().await?;
    let request = GetSessionRequest { name: args.name.clone(), project_dir: project_dir.clone(), trace: false };
    let session = conn.client.get_session(request).await?.into_inner();
    refuse_unfinished(&session)?;

    let dir = Path::new(&project_dir);
    let branch = body::branch(&session);
    check_branch(dir, &session, &branch)?;

    // Everything that can fail without side effects is settled before the push.
    let plan = if args.no_pr { None } else { Some(prepare(dir, &args, &session, &branch)?) };

    eprintln!("Pushing {branch} to {}", args.remote);
    git::push(dir, &args.remote, &branch).map_err(|e| CliError::Runtime(e.to_string()))?;
    let Some(plan) = plan else {
        eprintln!("Pushed {branch} to {} (no pull request: --no-pr)", args.remote);
        return Ok(ExitCode::SUCCESS);
    };

    let opened = plan.client.open(&plan.repo, &plan.pull).await?;
    let pr = match opened {
        Opened::Created(pr) => {
            eprintln!("Opened pull request #{} into {}", pr.number, plan.pull.base);
            pr
        }
        Opened::Existing(pr) => {
            eprintln!("A pull request for {branch} was already open: #{}", pr.number);
            pr
        }
    };
    let record = SetPullRequestRequest { name: session.head().name.clone(), project_dir, url: pr.html_url.clone() };
    conn.client.set_pull_request(record).await?;
    out(&format!("{}\n", pr.html_url))?;
    Ok(ExitCode::SUCCESS)
}

/// What opening the pull request needs, gathered before anything is pushed.
struct Plan {
    client: GitHub,
    repo: RemoteRepo,
    pull: NewPullRequest,
}

fn prepare(dir: &Path, args: &PrArgs, session: &SessionDetail, branch: &str) -> Result<Plan, CliError> {
    if session.base_branch.is_empty() {
        return Err(CliError::Usage(format!(
            "session {} started from a detached HEAD, so there is no branch to open a pull request against; push with --no-pr and open it by hand",
            session.head().name
        )));
    }
    let (effective, configured) = git::remote_urls(dir, &args.remote).map_err(|e| CliError::Usage(e.to_string()))?;
    let repo = repo_from_urls(&effective, &configured).map_err(|e| CliError::Usage(e.to_string()))?;
    let token =
        token::find(repo.auth_host()).ok_or_else(|| CliError::Usage(token::missing_token_message(repo.auth_host())))?;
    let base = remote::api_base(&repo, std::env::var(API_OVERRIDE_VAR).ok().as_deref());
    let client = GitHub::new(base, token)?;
    let title = args.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| body::title(session));
    let pull = NewPullRequest {
        title,
        head: branch.to_string(),
        base: session.base_branch.clone(),
        body: body::body(session),
        draft: args.draft,
    };
    Ok(Plan { client, repo, pull })
}

/// The repository from the URL git pushes to, else from the configured one (a rewrite with
/// `url.*.insteadOf` may point at a mirror or a local path).
fn repo_from_urls(effective: &str, configured: &str) -> Result<RemoteRepo, RemoteUrlError> {
    RemoteRepo::parse(effective).or_else(|first| RemoteRepo::parse(configured).map_err(|_| first))
}

fn refuse_unfinished(session: &SessionDetail) -> Result<(), CliError> {
    let s = session.head();
    if matches!(s.state(), SessionState::Running | SessionState::Queued) {
        return Err(CliError::Runtime(format!(
            "session {name} is {state}: its branch is still changing. Wait until it ends (revis watch {name}) or stop it (revis stop {name}), then run revis pr {name}",
            name = s.name,
            state = states::state_word(s)
        )));
    }
    Ok(())
}

/// The branch must exist and hold something the base does not: GitHub refuses an empty PR.
fn check_branch(dir: &Path, session: &SessionDetail, branch: &str) -> Result<(), CliError> {
    let git_err = |e: git::GitError| CliError::Runtime(e.to_string());
    if !git::has_branch(dir, branch).map_err(git_err)? {
        let name = &session.head().name;
        return Err(CliError::Runtime(format!("session {name} has no branch {branch} in {}", dir.display())));
    }
    if session.base_commit.is_empty() {
        return Ok(());
    }
    if git::commits_ahead(dir, &session.base_commit, branch).map_err(git_err)? == Some(0) {
        return Err(CliError::Runtime(format!(
            "{branch} has no commits beyond the commit session {} started from: nothing to push",
            session.head().name
        )));
    }
    Ok(())
}

impl From<GitHubError> for CliError {
    fn from(err: GitHubError) -> Self {
        match err {
            GitHubError::BadToken { .. } | GitHubError::TokenNotAHeader(_) | GitHubError::BadBase { .. } => {
                CliError::Usage(err.to_string())
            }
            _ => CliError::Runtime(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use revis_proto::v1::SessionSummary;

    fn session(state: SessionState) -> SessionDetail {
        let summary = SessionSummary { name: "otter".into(), state: state as i32, ..Default::default() };
        SessionDetail { summary: Some(summary), ..Default::default() }
    }

    #[test]
    fn running_and_queued_sessions_are_refused_with_what_to_do() {
        for (state, word) in [(SessionState::Running, "running"), (SessionState::Queued, "queued")] {
            let err = refuse_unfinished(&session(state)).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(&format!("session otter is {word}")), "{err}");
            assert!(err.contains("revis stop otter"), "{err}");
        }
        for state in [SessionState::Completed, SessionState::Stopped, SessionState::Failed, SessionState::Paused] {
            assert!(refuse_unfinished(&session(state)).is_ok(), "{state:?}");
        }
    }

    #[test]
    fn a_rewritten_remote_falls_back_to_the_configured_url() {
        let repo = repo_from_urls("/srv/mirror/model.git", "https://github.com/acme/model.git");
        assert_eq!(repo.map(|r| (r.owner, r.repo)).ok(), Some(("acme".into(), "model".into())));
        let err = repo_from_urls("/srv/a.git", "/srv/b.git").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("/srv/a.git"), "{err}");
    }
}
