//! The shared sshd fixture (`revis_fixtures::sshd`) set up for the ssh executor's end-to-end
//! tests: a temp `$HOME` for the daemon holding `.ssh/config` (alias `gpu-box`), `known_hosts`
//! and the client key, which is also the sessions' HOME; the remote work dir; an optional
//! ssh-agent; and running `revis` with `HOME` (and `SSH_AUTH_SOCK`) pointing there.
//!
//! Must not: touch the real `~/.ssh`, or leave sshd, its sessions, the agent or the remote tmux
//! server running (every process is killed on drop). sshd shares the machine's pids: the tests
//! read the pids training wrote, and remote training must outlive a dropped connection.

#![allow(dead_code)]

use std::fs;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use revis_fixtures::sshd::{KeyKind, SshAgent, Sshd, current_user, keygen, public_path};
use revis_tests::cli::{Running, revis_command};
use revis_tests::process::kill_tmux_server;
use revis_tests::{COMMAND_DEADLINE, TestEnv};

pub const ALIAS: &str = "gpu-box";

pub struct SshServer {
    sshd: Sshd,
    client_key: PathBuf,
    agent: Option<SshAgent>,
}

impl SshServer {
    /// Starts sshd with a fresh host key; the client key is authorized and, unless
    /// `write_ssh_config(false)` says otherwise, kept at `<home>/.ssh/id_ed25519`. The host is
    /// trusted.
    pub fn start() -> Self {
        let sshd = Sshd::start_in_host_pids().unwrap_or_else(|e| panic!("cannot start sshd: {e}"));
        let client_key = sshd.authorized_key("client_key", KeyKind::Ed25519).expect("client key");
        let server = Self { sshd, client_key, agent: None };
        fs::create_dir_all(server.home().join(".ssh")).expect("home/.ssh");
        fs::create_dir_all(server.work_dir()).expect("work dir");
        server.write_ssh_config(true);
        server.trust();
        server
    }

    /// Every later SSH session gets `name=value` (see `Sshd::set_session_env`).
    pub fn set_session_env(&mut self, name: &str, value: &str) {
        self.sshd.set_session_env(name, value).unwrap_or_else(|e| panic!("cannot restart sshd: {e}"));
    }

    pub fn port(&self) -> u16 {
        self.sshd.port()
    }

    /// The daemon's `$HOME`, and the sessions'.
    pub fn home(&self) -> PathBuf {
        self.sshd.home()
    }

    /// `executor.work_dir` on the "remote" (the same machine).
    pub fn work_dir(&self) -> PathBuf {
        self.sshd.dir().join("remote")
    }

    /// The authorized client key (in the server dir; `write_ssh_config` decides whether the
    /// home sees it).
    pub fn client_key(&self) -> PathBuf {
        self.client_key.clone()
    }

    /// `Host gpu-box` in `<home>/.ssh/config`; with `with_key`, the key file is copied to the
    /// default `~/.ssh/id_ed25519` place and named by `IdentityFile`.
    pub fn write_ssh_config(&self, with_key: bool) {
        let ssh = self.home().join(".ssh");
        let user = current_user().unwrap_or_else(|_| "root".into());
        let mut config = format!("Host {ALIAS}\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n", self.port());
        let key = ssh.join("id_ed25519");
        if with_key {
            fs::copy(&self.client_key, &key).expect("copy key");
            config.push_str(&format!("  IdentityFile {}\n", key.display()));
        } else {
            let _ = fs::remove_file(&key);
        }
        config.push_str("\nHost *\n  ServerAliveInterval 15\n");
        fs::write(ssh.join("config"), config).expect("ssh config");
    }

    /// `[127.0.0.1]:port <host key>` in `<home>/.ssh/known_hosts`.
    pub fn trust(&self) {
        let line = self.sshd.known_hosts_line().expect("host key");
        fs::write(self.known_hosts(), format!("{line}\n")).expect("known_hosts");
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.home().join(".ssh/known_hosts")
    }

    /// `SHA256:...` of the server's host key, as `ssh-keygen -l` prints it.
    pub fn host_fingerprint(&self) -> String {
        self.sshd.host_fingerprint().expect("ssh-keygen -l")
    }

    /// known_hosts records some other key for this host:port.
    pub fn trust_wrong_key(&self) {
        let other = self.sshd.dir().join("other_host_key");
        keygen(&other, KeyKind::Ed25519).expect("ssh-keygen");
        let key = fs::read_to_string(public_path(&other)).expect("other key");
        let mut fields = key.split_whitespace();
        let (kind, data) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
        fs::write(self.known_hosts(), format!("[127.0.0.1]:{} {kind} {data}\n", self.port())).expect("known_hosts");
    }

    /// An ssh-agent holding the client key; its socket is passed to `revis` from now on.
    pub fn start_agent(&mut self) {
        let agent = SshAgent::start().unwrap_or_else(|e| panic!("cannot start ssh-agent: {e}"));
        agent.add(&self.client_key).unwrap_or_else(|e| panic!("ssh-add: {e}"));
        self.agent = Some(agent);
    }

    /// The `executor:` section for revis.yaml.
    pub fn executor_yaml(&self, host: &str) -> String {
        format!("executor:\n  type: ssh\n  host: {host}\n  work_dir: {}\n", self.work_dir().display())
    }

    /// `revis args...` in the env's project with `HOME` (and the agent, if any) of this server.
    pub fn revis(&self, env: &TestEnv, args: &[&str]) -> Output {
        let mut cmd = revis_command(&env.home, env.project.path(), args);
        cmd.env("HOME", self.home()).env_remove("SSH_AUTH_SOCK");
        if let Some(agent) = &self.agent {
            cmd.env("SSH_AUTH_SOCK", agent.socket());
        }
        Running::spawn(cmd, &format!("revis {}", args.join(" "))).wait(COMMAND_DEADLINE)
    }

    pub fn revis_ok(&self, env: &TestEnv, args: &[&str]) -> String {
        let out = self.revis(env, args);
        assert!(
            out.status.success(),
            "revis {} failed: {}\n{}\ndaemon log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            env.home.daemon_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn show(&self, env: &TestEnv, name: &str) -> serde_json::Value {
        let out = self.revis_ok(env, &["show", name, "--json"]);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("show --json: {e}: {out}"))
    }

    /// Polls `show --json` until `pred` holds.
    pub fn wait_show(
        &self,
        env: &TestEnv,
        name: &str,
        timeout: Duration,
        pred: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let mut last = serde_json::Value::Null;
        let ok = revis_tests::wait_until(timeout, || {
            last = self.show(env, name);
            pred(&last)
        });
        assert!(
            ok,
            "timed out waiting for session {name}: {last:#}\ndaemon log:\n{}\nsshd log:\n{}",
            env.home.daemon_log(),
            self.log()
        );
        last
    }

    /// Kills every sshd session process: connections drop, the listener stays, and what a
    /// session detached (the remote tmux server) lives on.
    pub fn kill_sessions(&self) {
        self.sshd.kill_sessions().unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", self.log()));
    }

    pub fn log(&self) -> String {
        self.sshd.log()
    }

    /// Stops the listener and every session: the host is gone until the test ends.
    pub fn stop(&mut self) {
        self.sshd.stop();
    }

    /// The server's own directory (keys, authorized_keys, config, log).
    pub fn dir(&self) -> PathBuf {
        self.sshd.dir().to_path_buf()
    }

    /// Lets `other`'s client key log in here and makes `other`'s home trust this host under
    /// `alias`: one daemon home that reaches several servers.
    pub fn serve_also(&self, other: &SshServer, alias: &str) {
        let public = fs::read_to_string(public_path(&other.client_key)).expect("client public key");
        let mut keys = fs::OpenOptions::new().append(true).open(self.dir().join("authorized_keys")).expect("keys");
        std::io::Write::write_all(&mut keys, public.as_bytes()).expect("authorize");
        let line = self.sshd.known_hosts_line().expect("host key");
        let mut known = fs::OpenOptions::new().append(true).open(other.known_hosts()).expect("known_hosts");
        std::io::Write::write_all(&mut known, format!("{line}\n").as_bytes()).expect("trust");
        let user = current_user().unwrap_or_else(|_| "root".into());
        let key = other.home().join(".ssh/id_ed25519");
        let entry = format!(
            "Host {alias}\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n  IdentityFile {}\n\n",
            self.port(),
            key.display()
        );
        let config = other.home().join(".ssh/config");
        let existing = fs::read_to_string(&config).unwrap_or_default();
        fs::write(&config, format!("{entry}{existing}")).expect("ssh config");
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        // The remote runs' tmux server lives in the work dir; sshd and the agent stop with
        // their own guards.
        kill_tmux_server(&self.work_dir().join(".revis/tmux.sock"));
    }
}
