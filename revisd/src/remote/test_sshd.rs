//! Test support: a real OpenSSH server on 127.0.0.1 with its own host key and authorized_keys in
//! a temp dir, run as the current user, killed (with every session it forked) on drop. Also an
//! ssh-agent guard. Used by the remote and exec::ssh unit tests.
//!
//! Where it can, sshd runs as PID 1 of its own PID namespace (`unshare --pid --fork
//! --kill-child`): sessions orphaned by `kill_sessions` are then reaped by sshd itself and
//! stopping it tears down the whole namespace, so no zombie is left behind even under an init
//! that never reaps. Without that privilege it runs directly.
//!
//! Test-only: it may create `/run/sshd` (sshd's privilege separation dir, which Debian's
//! package normally creates at boot) when running as root; it touches nothing else outside
//! its temp dir.

use std::fs;
use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::target::SshTarget;
use super::{ConnectOptions, PublicKey};

const SSHD: &str = "/usr/sbin/sshd";
const START_DEADLINE: Duration = Duration::from_secs(10);

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Key types the tests use; RSA is kept small so key generation stays fast.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyKind {
    Ed25519,
    Rsa,
    Ecdsa,
}

impl KeyKind {
    fn args(self) -> &'static [&'static str] {
        match self {
            KeyKind::Ed25519 => &["-t", "ed25519"],
            KeyKind::Rsa => &["-t", "rsa", "-b", "2048"],
            KeyKind::Ecdsa => &["-t", "ecdsa", "-b", "256"],
        }
    }
}

/// Generates an unencrypted key pair at `path` (and `path.pub`).
pub(crate) fn keygen(path: &Path, kind: KeyKind) -> io::Result<()> {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-N", "", "-C", "revis-test", "-f"])
        .arg(path)
        .args(kind.args())
        .stdin(Stdio::null())
        .status()?;
    if !status.success() {
        return Err(other(format!("ssh-keygen for {} failed: {status}", path.display())));
    }
    Ok(())
}

pub(crate) fn read_public_key(path: &Path) -> io::Result<PublicKey> {
    let text = fs::read_to_string(path)?;
    PublicKey::from_openssh(text.trim()).map_err(|e| other(format!("{}: {e}", path.display())))
}

/// The name sshd will log the current user in as.
pub(crate) fn current_user() -> io::Result<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .map_err(io::Error::from)?
        .map(|u| u.name)
        .ok_or_else(|| other("current uid has no passwd entry"))
}

pub(crate) struct TestSshd {
    dir: tempfile::TempDir,
    port: u16,
    /// `unshare` when namespaced, else sshd itself.
    child: Option<Child>,
    namespaced: bool,
}

impl TestSshd {
    pub(crate) fn start() -> io::Result<TestSshd> {
        let dir = tempfile::Builder::new().prefix("revis-sshd-").tempdir()?;
        keygen(&dir.path().join("host_ed25519"), KeyKind::Ed25519)?;
        fs::write(dir.path().join("authorized_keys"), "")?;
        if nix::unistd::getuid().is_root() {
            // sshd refuses to start as root without its privilege separation directory.
            fs::create_dir_all("/run/sshd")?;
        }
        let port = free_port()?;
        let mut sshd = TestSshd { dir, port, child: None, namespaced: can_unshare_pid() };
        sshd.write_config()?;
        sshd.spawn()?;
        Ok(sshd)
    }

    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn host_key(&self) -> io::Result<PublicKey> {
        read_public_key(&self.dir.path().join("host_ed25519.pub"))
    }

    /// A fresh client key pair in the server dir, authorized for login. Returns the private key.
    pub(crate) fn authorized_key(&self, name: &str, kind: KeyKind) -> io::Result<PathBuf> {
        let path = self.dir.path().join(name);
        keygen(&path, kind)?;
        let public = fs::read_to_string(format!("{}.pub", path.display()))?;
        let mut keys = fs::OpenOptions::new().append(true).open(self.dir.path().join("authorized_keys"))?;
        keys.write_all(public.as_bytes())?;
        Ok(path)
    }

    /// A target for 127.0.0.1:port as the current user with the given identity files.
    pub(crate) fn target(&self, identity_files: Vec<PathBuf>) -> io::Result<SshTarget> {
        Ok(SshTarget {
            alias: "test-sshd".into(),
            host: "127.0.0.1".into(),
            port: self.port,
            user: current_user()?,
            identity_files,
            proxy_jump: None,
        })
    }

    /// Records the server's host key in `<home>/.ssh/known_hosts`.
    pub(crate) fn trust(&self, home: &Path) -> io::Result<()> {
        super::trust_host(home, "127.0.0.1", self.port, &self.host_key()?).map_err(|e| other(e.to_string()))
    }

    /// Kills every process the listener forked (one tree per connection) and waits until they
    /// are gone: clients see their connection drop; the listener keeps accepting.
    pub(crate) fn kill_sessions(&self) -> io::Result<()> {
        let Some(listener) = self.listener_pid() else {
            return Ok(());
        };
        let victims = descendants(listener);
        for pid in &victims {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        let deadline = Instant::now() + START_DEADLINE;
        while victims.iter().any(|p| alive(*p)) {
            if Instant::now() > deadline {
                return Err(other("sshd session processes survived SIGKILL"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Stops the server and every session, then starts it again on the same port and host key.
    pub(crate) fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.spawn()
    }

    /// Stops the server and every session; `restart` brings it back.
    pub(crate) fn stop(&mut self) {
        let _ = self.kill_sessions();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The sshd listener's host pid.
    fn listener_pid(&self) -> Option<u32> {
        let child = self.child.as_ref()?.id();
        if !self.namespaced {
            return Some(child);
        }
        let first = *descendants(child).first()?;
        u32::try_from(first).ok()
    }

    /// What sshd logged so far (it runs with `-e`), for assertion messages.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    fn write_config(&self) -> io::Result<()> {
        let d = self.dir.path().display();
        let config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {d}/host_ed25519\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             PidFile none\n\
             StrictModes no\n\
             UsePAM no\n\
             PermitRootLogin yes\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             LoginGraceTime 10\n\
             LogLevel VERBOSE\n\
             SetEnv HOME={d}\n",
            port = self.port
        );
        fs::write(self.dir.path().join("sshd_config"), config)
    }

    fn spawn(&mut self) -> io::Result<()> {
        let log = fs::OpenOptions::new().create(true).append(true).open(self.dir.path().join("sshd.log"))?;
        let mut command = if self.namespaced {
            let mut c = Command::new("unshare");
            c.args(["--pid", "--fork", "--kill-child", SSHD]);
            c
        } else {
            Command::new(SSHD)
        };
        let mut child = command
            .args(["-D", "-e", "-f"])
            .arg(self.dir.path().join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(status) = child.try_wait()? {
                return Err(other(format!("sshd exited with {status}: {}", self.log())));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(other(format!("sshd did not listen in time: {}", self.log())));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for TestSshd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Test connect options: no agent, short timeouts and backoff.
pub(crate) fn test_options(home: &Path) -> ConnectOptions {
    ConnectOptions {
        agent_socket: None,
        connect_timeout: Duration::from_secs(5),
        reconnect_attempts: 3,
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        ..ConnectOptions::from_env(home.to_path_buf())
    }
}

/// An `ssh-agent -D -a <dir>/agent.sock`, killed on drop.
pub(crate) struct TestAgent {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    child: Child,
}

impl TestAgent {
    pub(crate) fn start() -> io::Result<TestAgent> {
        let dir = tempfile::Builder::new().prefix("revis-agent-").tempdir()?;
        let socket = dir.path().join("agent.sock");
        let mut child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let deadline = Instant::now() + START_DEADLINE;
        while !socket.exists() {
            if child.try_wait()?.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(other("ssh-agent did not create its socket"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(TestAgent { _dir: dir, socket, child })
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// `ssh-add <key>` against this agent only (the process env is left alone).
    pub(crate) fn add(&self, key: &Path) -> io::Result<()> {
        let status = Command::new("ssh-add")
            .arg("-q")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(other(format!("ssh-add {} failed: {status}", key.display())));
        }
        Ok(())
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether this process may create a PID namespace (root outside a locked-down container).
fn can_unshare_pid() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--kill-child", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn free_port() -> io::Result<u16> {
    // The port is released before sshd binds it; a collision makes `start` fail loudly
    // rather than connect to a stranger (the host key check would refuse it anyway).
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

/// All processes below `root`, from /proc (deepest last).
fn descendants(root: u32) -> Vec<i32> {
    let mut parents: Vec<(i32, i32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root as i32];
    while let Some(parent) = frontier.pop() {
        for (pid, ppid) in &parents {
            if *ppid == parent && !found.contains(pid) {
                found.push(*pid);
                frontier.push(*pid);
            }
        }
    }
    found
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); reading its state tells them apart.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            !matches!(stat.rsplit_once(')').and_then(|(_, r)| r.split_whitespace().next()), Some("Z") | Some("X"))
        }
        Err(_) => false,
    }
}
