//! A real OpenSSH server on 127.0.0.1 for the ssh executor tests, and a temp `$HOME` for the
//! daemon holding `.ssh/config` (alias `gpu-box`), `known_hosts` and the client key.
//!
//! Owns: host and client keys, sshd_config, authorized_keys and the remote work dir, all in one
//! temp dir; an optional ssh-agent; running `revis` with `HOME` (and `SSH_AUTH_SOCK`) pointing
//! there. Must not: touch the real `~/.ssh`, or leave sshd, its sessions or the agent running
//! (every process is killed on drop). Runs sshd as the current user (root in CI).

#![allow(dead_code)]

use std::fs;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use revis_tests::cli::{Running, revis_command};
use revis_tests::{COMMAND_DEADLINE, TestEnv};

pub const ALIAS: &str = "gpu-box";
const START_DEADLINE: Duration = Duration::from_secs(10);

pub struct SshServer {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    agent: Option<Child>,
}

fn run(cmd: &mut Command, what: &str) {
    let status = cmd.stdin(Stdio::null()).stdout(Stdio::null()).status();
    assert!(status.is_ok_and(|s| s.success()), "{what} failed");
}

fn keygen(path: &Path) {
    let _ = fs::remove_file(path);
    let _ = fs::remove_file(path.with_extension("pub"));
    run(
        Command::new("ssh-keygen").args(["-q", "-N", "", "-t", "ed25519", "-C", "revis-test", "-f"]).arg(path),
        "ssh-keygen",
    );
}

impl SshServer {
    /// Starts sshd with a fresh host key; the client key is authorized and, unless
    /// `key_on_disk` is false, kept at `<home>/.ssh/id_ed25519`. The host is trusted.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new().prefix("rvs-sshd-").tempdir_in("/tmp").expect("temp dir");
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("free port").port();
        let mut server = Self { dir, port, child: None, agent: None };
        fs::create_dir_all(server.home().join(".ssh")).expect("home/.ssh");
        fs::create_dir_all(server.work_dir()).expect("work dir");
        keygen(&server.dir.path().join("host_key"));
        keygen(&server.client_key());
        let public = fs::read_to_string(server.client_key().with_extension("pub")).expect("client key");
        fs::write(server.dir.path().join("authorized_keys"), public).expect("authorized_keys");
        if nix::unistd::getuid().is_root() {
            let _ = fs::create_dir_all("/run/sshd");
        }
        let d = server.dir.path().display();
        // Sessions get the test's HOME: the machine user's shell startup files (pyenv's rehash
        // lock, say) must not run, nor be left half-done when a test kills a session.
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
             PidFile none\nStrictModes no\nUsePAM no\nPermitRootLogin yes\nPubkeyAuthentication yes\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nLogLevel VERBOSE\n\
             SetEnv HOME={home}\n",
            home = server.home().display()
        );
        fs::write(server.dir.path().join("sshd_config"), config).expect("sshd_config");
        server.write_ssh_config(true);
        server.trust();
        server.spawn();
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The daemon's `$HOME`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `executor.work_dir` on the "remote" (the same machine).
    pub fn work_dir(&self) -> PathBuf {
        self.dir.path().join("remote")
    }

    /// The authorized client key (in the server dir; `write_ssh_config` decides whether the
    /// home sees it).
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("client_key")
    }

    /// `Host gpu-box` in `<home>/.ssh/config`; with `with_key`, the key file is copied to the
    /// default `~/.ssh/id_ed25519` place and named by `IdentityFile`.
    pub fn write_ssh_config(&self, with_key: bool) {
        let ssh = self.home().join(".ssh");
        let user =
            nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name).unwrap_or("root".into());
        let mut config = format!("Host {ALIAS}\n  HostName 127.0.0.1\n  Port {}\n  User {user}\n", self.port);
        let key = ssh.join("id_ed25519");
        if with_key {
            fs::copy(self.client_key(), &key).expect("copy key");
            config.push_str(&format!("  IdentityFile {}\n", key.display()));
        } else {
            let _ = fs::remove_file(&key);
        }
        config.push_str("\nHost *\n  ServerAliveInterval 15\n");
        fs::write(ssh.join("config"), config).expect("ssh config");
    }

    /// `[127.0.0.1]:port <host key>` in `<home>/.ssh/known_hosts`.
    pub fn trust(&self) {
        let key = fs::read_to_string(self.dir.path().join("host_key.pub")).expect("host key");
        let mut fields = key.split_whitespace();
        let (kind, data) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
        fs::write(self.known_hosts(), format!("[127.0.0.1]:{} {kind} {data}\n", self.port)).expect("known_hosts");
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.home().join(".ssh/known_hosts")
    }

    /// `SHA256:...` of the server's host key, as `ssh-keygen -l` prints it.
    pub fn host_fingerprint(&self) -> String {
        let out = Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.dir.path().join("host_key.pub"))
            .output()
            .expect("ssh-keygen -l");
        String::from_utf8_lossy(&out.stdout).split_whitespace().nth(1).unwrap_or_default().to_string()
    }

    /// known_hosts records some other key for this host:port.
    pub fn trust_wrong_key(&self) {
        let other = self.dir.path().join("other_host_key");
        keygen(&other);
        let key = fs::read_to_string(other.with_extension("pub")).expect("other key");
        let mut fields = key.split_whitespace();
        let (kind, data) = (fields.next().unwrap_or_default(), fields.next().unwrap_or_default());
        fs::write(self.known_hosts(), format!("[127.0.0.1]:{} {kind} {data}\n", self.port)).expect("known_hosts");
    }

    /// An ssh-agent holding the client key; its socket is passed to `revis` from now on.
    pub fn start_agent(&mut self) {
        let socket = self.agent_socket();
        let mut child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let deadline = Instant::now() + START_DEADLINE;
        while !socket.exists() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("ssh-agent did not create {}", socket.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.agent = Some(child);
        run(Command::new("ssh-add").arg("-q").arg(self.client_key()).env("SSH_AUTH_SOCK", &socket), "ssh-add");
    }

    fn agent_socket(&self) -> PathBuf {
        self.dir.path().join("agent.sock")
    }

    /// The `executor:` section for revis.yaml.
    pub fn executor_yaml(&self, host: &str) -> String {
        format!("executor:\n  type: ssh\n  host: {host}\n  work_dir: {}\n", self.work_dir().display())
    }

    /// `revis args...` in the env's project with `HOME` (and the agent, if any) of this server.
    pub fn revis(&self, env: &TestEnv, args: &[&str]) -> Output {
        let mut cmd = revis_command(&env.home, env.project.path(), args);
        cmd.env("HOME", self.home()).env_remove("SSH_AUTH_SOCK");
        if self.agent.is_some() {
            cmd.env("SSH_AUTH_SOCK", self.agent_socket());
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

    /// Kills every sshd session process: connections drop, the listener stays.
    pub fn kill_sessions(&self) {
        let Some(listener) = self.child.as_ref().map(Child::id) else { return };
        for pid in descendants(listener as i32) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn spawn(&mut self) {
        let log =
            fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("sshd.log")).expect("sshd log");
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start /usr/sbin/sshd (is openssh-server installed?)");
        let deadline = Instant::now() + START_DEADLINE;
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_err() {
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sshd did not start: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        self.kill_sessions();
        for child in [self.child.take(), self.agent.take()].into_iter().flatten() {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        // The remote runs' tmux server lives in the work dir.
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(self.work_dir().join(".revis/tmux.sock"))
            .arg("kill-server")
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// All processes below `root`, from /proc.
fn descendants(root: i32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else { continue };
        if let Some(ppid) =
            stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().nth(1)).and_then(|p| p.parse().ok())
        {
            parents.push((pid, ppid));
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}
