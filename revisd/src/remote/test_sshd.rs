//! Test support: the shared sshd fixture (`revis_fixtures::sshd`) in this crate's types — SSH
//! targets, connect options and host-key trust — which the fixture crate cannot name (it must
//! not depend on revisd). Used by the remote and exec::ssh unit tests.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(crate) use revis_fixtures::sshd::{KeyKind, SshAgent as TestAgent, Sshd as TestSshd, current_user, keygen};

use super::target::SshTarget;
use super::{ConnectOptions, PublicKey};

fn other(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

pub(crate) fn read_public_key(path: &Path) -> io::Result<PublicKey> {
    let text = std::fs::read_to_string(path)?;
    PublicKey::from_openssh(text.trim()).map_err(|e| other(format!("{}: {e}", path.display())))
}

/// What the remote tests ask of the server beyond the fixture: revisd's view of it.
pub(crate) trait SshdExt {
    fn host_key(&self) -> io::Result<PublicKey>;
    /// A target for 127.0.0.1:port as the current user with the given identity files.
    fn target(&self, identity_files: Vec<PathBuf>) -> io::Result<SshTarget>;
    /// Records the server's host key in `<home>/.ssh/known_hosts`.
    fn trust(&self, home: &Path) -> io::Result<()>;
}

impl SshdExt for TestSshd {
    fn host_key(&self) -> io::Result<PublicKey> {
        read_public_key(&self.host_key_path())
    }

    fn target(&self, identity_files: Vec<PathBuf>) -> io::Result<SshTarget> {
        Ok(SshTarget {
            alias: "test-sshd".into(),
            host: "127.0.0.1".into(),
            port: self.port(),
            user: current_user()?,
            identity_files,
            proxy_jump: None,
        })
    }

    fn trust(&self, home: &Path) -> io::Result<()> {
        super::trust_host(home, "127.0.0.1", self.port(), &self.host_key()?).map_err(|e| other(e.to_string()))
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
