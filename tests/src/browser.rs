//! A real headless Chromium driven over WebDriver (Debian's `chromium` and `chromedriver`),
//! for the dashboard's tests and measurements. Scripts run in the page and return JSON; clicks
//! are the page's own `click()`.
//!
//! Must not: leave chromedriver or Chromium running (the guard ends the WebDriver session and
//! kills chromedriver's process group), or reach the network (the flags Chromium needs on a
//! closed machine: no background networking, component updates, sync or first-run pages).

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use revis_fixtures::http::request;
use revis_fixtures::wait::{free_port, poll_until};
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether this machine has what the browser tests need (`.ci/run` installs both).
pub fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

pub struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Self {
        let port = free_port().expect("a free port");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new(CHROMEDRIVER);
        command.arg(format!("--port={port}")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        // Its own process group: the guard ends chromedriver and every Chromium it started.
        command.process_group(0);
        let driver = command.spawn().expect("start chromedriver");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Self { driver, addr, session: String::new(), _profile: profile };
        let ready = poll_until(Duration::from_secs(20), Duration::from_millis(50), || {
            browser.call("GET", "/status", None).is_ok_and(|v| v["value"]["ready"] == true)
        });
        assert!(ready, "chromedriver did not become ready on {addr}");
        let args = [
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--enable-precise-memory-info".into(),
            "--window-size=1280,1000".into(),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        }}});
        let reply = browser.call("POST", "/session", Some(&capabilities)).expect("a WebDriver session");
        browser.session = reply["value"]["sessionId"].as_str().expect("session id").to_string();
        browser
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        let text = body.map(Value::to_string).unwrap_or_default();
        let headers = [("content-type", "application/json")];
        let reply = request(self.addr, method, path, &headers, &text).map_err(|e| format!("{method} {path}: {e}"))?;
        let value: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("{method} {path}: {e}"))?;
        if reply.status >= 400 {
            return Err(format!("{method} {path}: {} {value}", reply.status));
        }
        Ok(value)
    }

    fn session_call(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.call(method, &path, body).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn goto(&self, url: &str) {
        self.session_call("POST", "/url", Some(&json!({ "url": url })));
    }

    /// Runs `script` (a function body: `return ...`) in the page and returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.session_call("POST", "/execute/sync", Some(&json!({ "script": script, "args": [] })))["value"].clone()
    }

    /// Polls `script` until it returns something other than null/false, or panics with `what`
    /// and the page's text.
    pub fn wait_for(&self, what: &str, timeout: Duration, script: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.eval(script);
            if !value.is_null() && value != Value::Bool(false) {
                return value;
            }
            if Instant::now() >= deadline {
                let text = self.eval("return document.body ? document.body.innerText : ''");
                panic!("timed out waiting for {what}; the page says:\n{}", text.as_str().unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element `css` selects (it must exist).
    pub fn click(&self, css: &str) {
        let script = format!(
            "const e = document.querySelector({}); if (!e) return false; e.click(); return true;",
            Value::String(css.to_string())
        );
        assert_eq!(self.eval(&script), Value::Bool(true), "no element {css} to click");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        if let Ok(pid) = i32::try_from(self.driver.id()) {
            let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
