//! The Unix socket: bound inside the 0700 home, mode 0600. An existing socket file is removed
//! only when connecting to it is refused (nobody listens: a daemon died without cleaning up);
//! a socket that answers is never taken over. Called with the pid lock held.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokio::net::UnixListener;

use super::DaemonError;

pub fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
    let io = |what: &'static str| move |source| DaemonError::Io { what, path: path.to_path_buf(), source };
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => {
            return Err(DaemonError::Insecure(format!(
                "{} is answering connections from another process; refusing to take it over",
                path.display()
            )));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            tracing::warn!(socket = %path.display(), "removing a stale socket (connection refused)");
            std::fs::remove_file(path).map_err(io("removing a stale socket"))?;
        }
        Err(e) => {
            // Not a socket, or not connectable for another reason: only a non-socket file
            // left in our private directory is safe to remove.
            let meta = std::fs::symlink_metadata(path).map_err(io("inspecting the socket path"))?;
            use std::os::unix::fs::FileTypeExt;
            if meta.file_type().is_socket() || meta.is_file() {
                tracing::warn!(socket = %path.display(), error = %e, "replacing an unusable socket file");
                std::fs::remove_file(path).map_err(io("removing an unusable socket file"))?;
            } else {
                return Err(io("connecting to the existing socket")(e));
            }
        }
    }
    let listener = UnixListener::bind(path).map_err(io("binding the socket"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io("restricting the socket to 0600"))?;
    Ok(listener)
}
