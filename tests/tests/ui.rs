//! The dashboard (`revis ui`) in a real headless Chromium, against the real daemon and a real
//! session (tmux, git): the list shows the session; its chart gains a point when a trial ends,
//! with no reload; the running trial's log streams; a daemon restart under an open page is
//! followed (the page reconnects on its own and keeps updating); Stop stops the session; a
//! parallel session shows its timeline by slot, and its searched argument's importance, scatter
//! and parallel coordinates with one mark per trial. And over plain HTTP: no token, a wrong one, another origin or host, an action with the token in
//! the URL are refused; no provider key appears in anything the page reads.

use std::net::SocketAddr;
use std::time::Duration;

use revis_fixtures::http::{HttpResponse, request};
use revis_tests::browser::{self, Browser};
use revis_tests::project::Project;
use revis_tests::scripts::script_yaml;
use revis_tests::session::state;
use revis_tests::{SESSION_DEADLINE, TestEnv};

const SECRET: &str = "sk-ui-test-0123456789abcdef";
const PAGE_DEADLINE: Duration = Duration::from_secs(60);

/// Trials from #2 on say so in their log and wait for `go-<n>`: the test decides when each ends.
fn training(ctl: &std::path::Path) -> String {
    let ctl = ctl.display();
    format!(
        r#"n=$REVIS_ITERATION
x=$2
if [ "$n" -ge 2 ]; then
  echo "trial $n waiting for its go"
  touch {ctl}/waiting-$n
  i=0
  while [ ! -e {ctl}/go-$n ] && [ $i -lt 2400 ]; do sleep 0.05; i=$((i+1)); done
fi
awk -v x="$x" 'BEGIN {{ printf "{{\"metrics\": {{\"val_loss\": %.4f}}}}\n", 0.1 + (x - 7) * (x - 7) / 100 }}' > "$REVIS_OUTPUT_DIR/eval.json"
"#
    )
}

struct Dashboard {
    addr: SocketAddr,
    token: String,
    url: String,
}

/// `revis ui --no-open`, and the address it prints.
fn open_dashboard(env: &TestEnv) -> Dashboard {
    let out = env.revis_ok(&["ui", "--no-open"]);
    let url = out
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in: {out}"))
        .to_string();
    let rest = url.trim_start_matches("http://127.0.0.1:");
    let (port, token) = rest.split_once("/?token=").unwrap_or_else(|| panic!("no token in {url}"));
    let port: u16 = port.parse().unwrap_or_else(|_| panic!("no port in {url}"));
    Dashboard { addr: SocketAddr::from(([127, 0, 0, 1], port)), token: token.to_string(), url }
}

fn get(d: &Dashboard, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    request(d.addr, "GET", path, headers, "").unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn body(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
fn the_dashboard_refuses_strangers_and_shows_no_key() {
    let project = Project::new();
    let text = training(project.ctl());
    project.write("train.sh", &text).write("revis.yaml", &script_yaml("sh train.sh", &[]));
    project.commit("baseline");
    let env = TestEnv::new(project);
    env.revis_env_ok(
        &["loop", "--name", "guarded", "--advisor", "search", "--max-iterations", "6"],
        &[("OPENAI_API_KEY".to_string(), SECRET.to_string())],
    );
    env.wait_ctl("waiting-2");
    let d = open_dashboard(&env);
    let bearer = format!("Bearer {}", d.token);

    assert_eq!(get(&d, "/", &[]).status, 401, "no token");
    assert_eq!(get(&d, "/?token=0123", &[]).status, 401, "a wrong token");
    assert_eq!(get(&d, "/api/sessions", &[("authorization", "Bearer nope")]).status, 401);
    let page = get(&d, &format!("/?token={}", d.token), &[]);
    assert_eq!(page.status, 200, "{}", body(&page));
    assert!(page.headers.iter().any(|(k, v)| k == "content-security-policy" && v.contains("default-src 'none'")));
    let evil_origin = get(&d, "/api/sessions", &[("authorization", &bearer), ("origin", "http://evil.example")]);
    assert_eq!(evil_origin.status, 403, "another origin");
    let rebound =
        get(&d, "/api/sessions", &[("authorization", &bearer), ("host", &format!("evil.example:{}", d.addr.port()))]);
    assert_eq!(rebound.status, 403, "a DNS-rebound host");
    let action = r#"{"name":"guarded","action":"stop"}"#;
    let in_url = request(
        d.addr,
        "POST",
        &format!("/api/action?token={}", d.token),
        &[("content-type", "application/json")],
        action,
    )
    .expect("post");
    assert_eq!(in_url.status, 401, "an action with the token in the URL");
    assert_eq!(state(&env.show("guarded")), "running");

    let project_dir = env.project.path().display().to_string();
    let q =
        format!("name=guarded&project={}", form_urlencoded::byte_serialize(project_dir.as_bytes()).collect::<String>());
    for path in [
        "/api/sessions".to_string(),
        format!("/api/session?{q}"),
        format!("/api/params?{q}"),
        format!("/api/diff?{q}&iteration=1"),
    ] {
        let r = get(&d, &path, &[("authorization", &bearer)]);
        assert_eq!(r.status, 200, "{path}: {}", body(&r));
        assert!(!body(&r).contains(SECRET), "{path} shows the provider key");
    }
    env.revis_ok(&["stop", "guarded"]);
}

#[test]
fn a_page_follows_trials_live_across_a_daemon_restart_and_stops_the_session() {
    assert!(
        browser::available(),
        "the dashboard tests need {} and {} (.ci/run installs them)",
        browser::CHROMIUM,
        browser::CHROMEDRIVER
    );
    let project = Project::new();
    let text = training(project.ctl());
    project.write("train.sh", &text).write("revis.yaml", &script_yaml("sh train.sh", &[]));
    project.commit("baseline");
    let env = TestEnv::new(project);
    env.revis_ok(&["loop", "--name", "live", "--advisor", "search", "--max-iterations", "10"]);
    env.wait_ctl("waiting-2");
    let d = open_dashboard(&env);

    let page = Browser::start();
    page.goto(&d.url);
    page.wait_for(
        "the session in the list",
        PAGE_DEADLINE,
        "return [...document.querySelectorAll('#sessions tr.session')].some(r => r.dataset.name === 'live')",
    );
    page.click("#sessions tr.session a");
    page.wait_for(
        "two points",
        PAGE_DEADLINE,
        "const c = document.getElementById('metric-chart'); return c && Number(c.dataset.points) === 2",
    );
    page.wait_for(
        "the running trial's log",
        PAGE_DEADLINE,
        "const l = document.getElementById('log'); return l && l.textContent.includes('trial 2 waiting for its go')",
    );

    // A trial ends: the chart gains its point without a reload.
    page.eval("window.__same_page = true; return true");
    env.project.touch_ctl("go-2");
    page.wait_for(
        "a third point",
        PAGE_DEADLINE,
        "const c = document.getElementById('metric-chart'); return c && Number(c.dataset.points) >= 3",
    );
    assert_eq!(page.eval("return window.__same_page === true"), serde_json::Value::Bool(true), "the page reloaded");

    // The daemon goes away and comes back under the open page: same port, same token.
    env.wait_ctl("waiting-3");
    env.revis_ok(&["daemon", "stop"]);
    env.revis_ok(&["daemon", "start"]);
    env.project.touch_ctl("go-3");
    page.wait_for(
        "a fourth point after the restart",
        PAGE_DEADLINE,
        "const c = document.getElementById('metric-chart'); return c && Number(c.dataset.points) >= 4",
    );
    page.wait_for(
        "the link is live again",
        PAGE_DEADLINE,
        "return document.getElementById('link').textContent === 'live'",
    );

    // Stop, from the page.
    page.click("#action-stop");
    page.wait_for(
        "the stopped state",
        PAGE_DEADLINE,
        "const s = document.getElementById('session-state'); return s && s.textContent === 'stopped'",
    );
    let shown = env.wait_show("live", SESSION_DEADLINE, "stopped", |s| state(s) == "stopped");
    assert_eq!(state(&shown), "stopped");
    assert_eq!(page.eval("return window.__same_page === true"), serde_json::Value::Bool(true), "the page reloaded");
}

#[test]
fn a_parallel_session_shows_its_timeline_and_parameters() {
    assert!(browser::available(), "the dashboard tests need {} and {}", browser::CHROMIUM, browser::CHROMEDRIVER);
    let project = Project::new();
    let text = "x=$2\nsleep 0.2\nawk -v x=\"$x\" 'BEGIN { printf \"{\\\"metrics\\\": {\\\"val_loss\\\": %.4f}}\\n\", 0.1 + (x - 7) * (x - 7) / 100 }' > \"$REVIS_OUTPUT_DIR/eval.json\"\n";
    project.write("train.sh", text).write("revis.yaml", &script_yaml("sh train.sh", &[]));
    project.commit("baseline");
    let env = TestEnv::new(project);
    env.revis_ok(&["loop", "--name", "wide", "--advisor", "search", "--max-iterations", "8", "--parallel", "2"]);
    let session = env.wait_ended("wide");
    let trials = revis_tests::session::iterations(&session).len();
    assert!(trials >= 4, "{session}");
    let d = open_dashboard(&env);

    let page = Browser::start();
    page.goto(&d.url);
    page.wait_for("the session", PAGE_DEADLINE, "return document.querySelector('#sessions tr.session a') !== null");
    page.click("#sessions tr.session a");
    // One bar per trial, on two lanes (slot 0 and slot 1); the parameter views drawn.
    let bars = page.wait_for(
        "the timeline and the parameters",
        PAGE_DEADLINE,
        "const t = document.getElementById('timeline'); \
         return t && document.getElementById('parallel') && t.querySelectorAll('rect.bar').length",
    );
    assert_eq!(bars, serde_json::json!(trials));
    let lanes = page.eval(
        "return [...document.querySelectorAll('#timeline text')].filter(t => t.textContent.startsWith('slot')).length",
    );
    let timeline = page.eval("return document.getElementById('timeline').outerHTML.slice(0, 3000)");
    assert_eq!(lanes, serde_json::json!(2), "{timeline}");
    // The searched argument: its importance, its scatter, one line per trial with a metric.
    let importance = page
        .eval("return [...document.querySelectorAll('#importance .bar-row span:first-child')].map(s => s.textContent)");
    let link = page.eval("return document.getElementById('link').textContent");
    assert_eq!(importance, serde_json::json!(["--x"]), "the page's link says {link}");
    let dots = page.eval("return document.querySelectorAll('#params svg.scatter circle').length");
    let lines = page.eval("return document.querySelectorAll('#parallel path.pc-line').length");
    let bearer = format!("Bearer {}", d.token);
    let project_dir = env.project.path().display().to_string();
    let table = body(&get(&d, &format!("/api/params?name=wide&project={project_dir}"), &[("authorization", &bearer)]));
    assert_eq!((dots, lines), (serde_json::json!(trials), serde_json::json!(trials)), "{table}");
    // A trial's detail: its metrics and its change.
    page.click("#trials tr.trial[data-trial='1']");
    page.wait_for(
        "trial 1's detail",
        PAGE_DEADLINE,
        "const b = document.getElementById('trial-detail'); return b && b.textContent.includes('val_loss = ')",
    );
}
