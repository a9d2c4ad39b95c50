//! `revis pr`: the session branch is pushed with the git CLI to a local bare repository standing
//! in for GitHub, and the pull request is opened against a loopback fake of the GitHub REST API
//! (`REVIS_GITHUB_API` points the CLI at it).
//!
//! The remote is configured with a GitHub-style URL (`https://github.com/acme/model.git` or
//! `git@ghe.corp.example:team/model.git`) that `url.<bare path>.insteadOf` rewrites to the bare
//! repository: git pushes to the local path while revis parses owner/repo from the URL the user
//! configured. Covers: a running session refused, created (201), already exists (422 → the open
//! one is returned), bad token (401), an Enterprise-style remote and API path, and `--no-pr`.
//! How the API base is derived from a remote host is unit-tested in revis-cli (pr/remote.rs).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use revis_fixtures::http::{HttpRequest, HttpResponse, HttpServer};
use revis_tests::cli::{Running, describe, revis_command};
use revis_tests::git::git;
use revis_tests::session::{pretty, state};
use revis_tests::{COMMAND_DEADLINE, TestEnv, standard_project};
use serde_json::{Value, json};

const TOKEN: &str = "ghp_test_token_123";
const PROXY_VARS: &[&str] = &["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"];

/// A fake GitHub API that records every request and answers with `respond`.
struct FakeGitHub {
    server: HttpServer,
    requests: Arc<Mutex<Vec<HttpRequest>>>,
}

impl FakeGitHub {
    fn start(respond: impl Fn(&HttpRequest) -> HttpResponse + Send + Sync + 'static) -> Self {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let server = HttpServer::start(Arc::new(move |req: HttpRequest| {
            let response = respond(&req);
            if let Ok(mut all) = seen.lock() {
                all.push(req);
            }
            response
        }))
        .unwrap_or_else(|e| panic!("cannot start the fake GitHub API: {e}"));
        Self { server, requests }
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.server.port())
    }

    fn requests(&self) -> Vec<HttpRequest> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// The headers GitHub's REST API documents for every call.
fn assert_github_headers(req: &HttpRequest) {
    assert_eq!(req.header("authorization"), Some(format!("Bearer {TOKEN}").as_str()), "{req:?}");
    assert_eq!(req.header("accept"), Some("application/vnd.github+json"), "{req:?}");
    assert_eq!(req.header("x-github-api-version"), Some("2022-11-28"), "{req:?}");
    assert!(req.header("user-agent").is_some_and(|ua| !ua.is_empty()), "GitHub requires a User-Agent: {req:?}");
}

fn body_json(req: &HttpRequest) -> Value {
    serde_json::from_slice(&req.body).unwrap_or_else(|e| panic!("request body is not JSON ({e}): {req:?}"))
}

/// A finished session with a few iterations, and a bare repository the project's `origin`
/// (a GitHub-style URL) is rewritten to.
struct World {
    env: TestEnv,
    bare: PathBuf,
}

impl World {
    fn new(remote_url: &str) -> Self {
        let env = TestEnv::new(standard_project(&[]));
        let bare = env.project.scratch().join("origin.git");
        git(env.project.scratch(), &["init", "-q", "--bare", path_str(&bare)]);
        env.project.git(&["remote", "add", "origin", remote_url]);
        env.project.git(&["config", &format!("url.{}.insteadOf", path_str(&bare)), remote_url]);
        Self { env, bare }
    }

    fn finished(remote_url: &str, name: &str) -> Self {
        let world = Self::new(remote_url);
        world.env.start_loop(name, &["--max-iterations", "3"]);
        let s = world.env.wait_ended(name);
        assert_eq!(state(&s), "completed", "{}", pretty(&s));
        world
    }

    /// `revis pr args...` against `api` (None: no API override) with `token` in GH_TOKEN.
    fn pr(&self, args: &[&str], api: Option<&str>, token: Option<&str>) -> Output {
        let mut all = vec!["pr"];
        all.extend_from_slice(args);
        let mut cmd = revis_command(&self.env.home, self.env.project.path(), &all);
        for var in PROXY_VARS {
            cmd.env_remove(var);
        }
        cmd.env_remove("GH_TOKEN").env_remove(REVIS_GITHUB_API);
        if let Some(api) = api {
            cmd.env(REVIS_GITHUB_API, api);
        }
        if let Some(token) = token {
            cmd.env("GH_TOKEN", token);
        }
        Running::spawn(cmd, &format!("revis {}", all.join(" "))).wait(COMMAND_DEADLINE)
    }

    /// The commit `refs/heads/BRANCH` points at in the bare repository, if it exists.
    fn pushed(&self, branch: &str) -> Option<String> {
        let out = std::process::Command::new("git")
            .args(["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])
            .current_dir(&self.bare)
            .output()
            .unwrap_or_else(|e| panic!("cannot run git in {}: {e}", self.bare.display()));
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    fn local(&self, branch: &str) -> String {
        self.env.project.git(&["rev-parse", &format!("refs/heads/{branch}")])
    }
}

const REVIS_GITHUB_API: &str = "REVIS_GITHUB_API";

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap_or_else(|| panic!("non-UTF-8 temp path {}", path.display()))
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn created(number: u64, url: &str) -> HttpResponse {
    HttpResponse::json(201, &json!({"number": number, "html_url": url, "state": "open", "head": {"ref": "x"}}))
}

#[test]
fn a_running_session_is_refused_then_the_finished_one_is_pushed_and_opened() {
    let world = World::new("https://github.com/acme/model.git");
    let env = &world.env;
    let github = FakeGitHub::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/repos/acme/model/pulls") => created(42, "https://github.com/acme/model/pull/42"),
        _ => HttpResponse::json(404, &json!({"message": "Not Found"})),
    });

    // Iteration 1 waits for its gate: the session is running while we ask.
    env.project.touch_ctl("block-1");
    env.start_loop("otter", &["--max-iterations", "3"]);
    env.wait_ctl("started-1");
    let refused = world.pr(&["otter"], Some(&github.base()), Some(TOKEN));
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let message = stderr(&refused);
    assert!(message.contains("session otter is running") && message.contains("revis stop otter"), "{message}");
    assert_eq!(world.pushed("revis/otter"), None, "nothing is pushed for a running session");
    assert!(github.requests().is_empty(), "no API call for a running session");

    env.project.touch_ctl("gate-1");
    let s = env.wait_ended("otter");
    assert_eq!(state(&s), "completed", "{}", pretty(&s));

    let out = world.pr(&["otter"], Some(&github.base()), Some(TOKEN));
    assert!(out.status.success(), "{}\ndaemon log:\n{}", describe(&out), env.home.daemon_log());
    assert_eq!(stdout(&out), "https://github.com/acme/model/pull/42\n", "{}", describe(&out));
    assert_eq!(world.pushed("revis/otter"), Some(world.local("revis/otter")), "the branch is pushed as it is");

    let requests = github.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let req = &requests[0];
    assert_github_headers(req);
    let body = body_json(req);
    assert_eq!(body["head"], "revis/otter", "{body}");
    assert_eq!(body["base"], "main", "the branch the session started from: {body}");
    assert_eq!(body["draft"], false, "{body}");
    assert!(body["title"].as_str().is_some_and(|t| t.starts_with("revis/otter: val_loss ")), "{body}");
    let text = body["body"].as_str().unwrap_or_default();
    assert!(text.contains("**Outcome:** completed (max_iterations)"), "{text}");
    assert!(text.contains("**val_loss** (minimize): "), "{text}");
    assert!(text.contains("| # | Commit | Change | val_loss | Outcome |"), "{text}");
    for n in 0..3 {
        assert!(text.contains(&format!("\n| {n} | ")), "iteration {n} missing from the table: {text}");
    }
    assert!(text.contains("### Spend"), "{text}");

    // The URL is recorded with the session.
    let s = env.show("otter");
    assert_eq!(s["pr_url"], "https://github.com/acme/model/pull/42", "{}", pretty(&s));
    let shown = env.revis_ok(&["show", "otter"]);
    assert!(shown.contains("  pr        https://github.com/acme/model/pull/42\n"), "{shown}");
}

#[test]
fn an_existing_pull_request_is_found_and_returned() {
    let world = World::finished("https://github.com/acme/model.git", "heron");
    let github = FakeGitHub::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/repos/acme/model/pulls") => HttpResponse::json(
            422,
            &json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                "message": "A pull request already exists for acme:revis/heron."}]}),
        ),
        ("GET", "/repos/acme/model/pulls?head=acme%3Arevis%2Fheron&state=open") => HttpResponse::json(
            200,
            &json!([{"number": 7, "html_url": "https://github.com/acme/model/pull/7", "state": "open"}]),
        ),
        _ => HttpResponse::json(404, &json!({"message": "Not Found"})),
    });

    let out = world.pr(&["heron"], Some(&github.base()), Some(TOKEN));
    assert!(out.status.success(), "{}\nrequests: {:?}", describe(&out), github.requests());
    assert_eq!(stdout(&out), "https://github.com/acme/model/pull/7\n");
    assert!(stderr(&out).contains("already open: #7"), "{}", describe(&out));
    let requests = github.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    requests.iter().for_each(assert_github_headers);
    assert_eq!(world.env.show("heron")["pr_url"], "https://github.com/acme/model/pull/7");
}

#[test]
fn a_bad_token_is_a_clear_error_naming_the_token_variables() {
    let world = World::finished("git@github.com:acme/model.git", "wren");
    let github = FakeGitHub::start(|_| {
        HttpResponse::json(
            401,
            &json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
        )
    });

    let out = world.pr(&["wren"], Some(&github.base()), Some("ghp_expired_secret"));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let message = stderr(&out);
    assert!(message.contains("GitHub rejected the token from GH_TOKEN (401 Bad credentials)"), "{message}");
    assert!(message.contains("GH_TOKEN or GITHUB_TOKEN") && message.contains("gh auth login"), "{message}");
    assert!(!message.contains("ghp_expired_secret"), "the token must never be printed: {message}");
    assert!(stdout(&out).is_empty(), "{}", describe(&out));
    assert!(world.env.show("wren")["pr_url"].is_null(), "nothing recorded");
}

#[test]
fn an_enterprise_remote_opens_a_draft_with_the_given_title_under_api_v3() {
    let world = World::finished("git@ghe.corp.example:team/model.git", "lark");
    let github = FakeGitHub::start(|req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/api/v3/repos/team/model/pulls") => created(3, "https://ghe.corp.example/team/model/pull/3"),
        _ => HttpResponse::json(404, &json!({"message": "Not Found"})),
    });

    let api = format!("{}/api/v3/", github.base());
    let out = world.pr(&["lark", "--draft", "--title", "Tune lr"], Some(&api), Some(TOKEN));
    assert!(out.status.success(), "{}\nrequests: {:?}", describe(&out), github.requests());
    assert_eq!(stdout(&out), "https://ghe.corp.example/team/model/pull/3\n");
    let requests = github.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_github_headers(&requests[0]);
    let body = body_json(&requests[0]);
    assert_eq!((body["title"].as_str(), body["draft"].as_bool()), (Some("Tune lr"), Some(true)), "{body}");
    assert_eq!(world.pushed("revis/lark"), Some(world.local("revis/lark")));
}

#[test]
fn no_pr_only_pushes_and_needs_no_token() {
    let world = World::finished("https://github.com/acme/model.git", "finch");
    let github = FakeGitHub::start(|_| HttpResponse::json(500, &json!({"message": "must not be called"})));

    let out = world.pr(&["finch", "--no-pr", "--remote", "origin"], Some(&github.base()), None);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(stdout(&out).is_empty(), "{}", describe(&out));
    assert_eq!(world.pushed("revis/finch"), Some(world.local("revis/finch")));
    assert!(github.requests().is_empty());
    assert!(world.env.show("finch")["pr_url"].is_null());

    // A remote that does not exist is named in the error.
    let out = world.pr(&["finch", "--remote", "upstream"], Some(&github.base()), Some(TOKEN));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("no git remote 'upstream'"), "{}", describe(&out));
}
