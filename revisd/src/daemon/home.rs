//! Creates and checks `$REVIS_HOME`: a real directory (not a symlink), owned by us, mode 0700,
//! whose state files (log, pid file) and `runs/` are private to us too, whatever the umask the
//! daemon was started with. It must not touch anything outside the home.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::DaemonError;

pub fn prepare(root: &Path) -> Result<(), DaemonError> {
    let io = |what: &'static str| move |source| DaemonError::Io { what, path: root.to_path_buf(), source };
    match std::fs::symlink_metadata(root) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(DaemonError::Insecure(format!(
                "{} is a symlink; refusing to use it as the state directory",
                root.display()
            )));
        }
        Ok(meta) if !meta.is_dir() => {
            return Err(DaemonError::Insecure(format!("{} is not a directory", root.display())));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(root).map_err(io("creating the state directory"))?;
        }
        Err(e) => return Err(io("inspecting the state directory")(e)),
    }
    let meta = std::fs::metadata(root).map_err(io("inspecting the state directory"))?;
    let uid = nix::unistd::getuid().as_raw();
    if meta.uid() != uid {
        return Err(DaemonError::Insecure(format!(
            "{} belongs to uid {}, not to us (uid {uid})",
            root.display(),
            meta.uid()
        )));
    }
    if meta.permissions().mode() & 0o777 != 0o700 {
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700))
            .map_err(io("restricting the state directory to 0700"))?;
    }
    std::fs::create_dir_all(root.join("runs")).map_err(io("creating the runs directory"))?;
    // The log is opened (and created under the caller's umask) before the home is checked, so
    // it is restricted here; an open file keeps working after its mode changes.
    for (name, mode) in [("runs", 0o700), ("revisd.log", 0o600), ("revisd.pid", 0o600)] {
        restrict(&root.join(name), mode).map_err(io("restricting a state file to its owner"))?;
    }
    Ok(())
}

/// Takes group and other permissions away from `path` (a missing file or a symlink is left
/// alone: a symlink's own mode means nothing and its target is not ours to change).
fn restrict(path: &Path, mode: u32) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_symlink() && meta.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_loose_home_and_its_state_files_are_made_private() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = dir.path().join("home");
        std::fs::create_dir_all(root.join("runs")).unwrap_or_else(|e| panic!("{e}"));
        for (path, m) in [(root.clone(), 0o777), (root.join("runs"), 0o777)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m)).unwrap_or_else(|e| panic!("{e}"));
        }
        for name in ["revisd.log", "revisd.pid"] {
            std::fs::write(root.join(name), b"x\n").unwrap_or_else(|e| panic!("{e}"));
            std::fs::set_permissions(root.join(name), std::fs::Permissions::from_mode(0o666))
                .unwrap_or_else(|e| panic!("{e}"));
        }
        prepare(&root).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(&root.join("runs")), 0o700);
        assert_eq!(mode(&root.join("revisd.log")), 0o600);
        assert_eq!(mode(&root.join("revisd.pid")), 0o600);
    }

    #[test]
    fn a_symlinked_home_is_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::create_dir(dir.path().join("real")).unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("link")).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(prepare(&dir.path().join("link")), Err(DaemonError::Insecure(_))));
    }
}
