//! Creates and checks `$REVIS_HOME`: a real directory (not a symlink), owned by us, mode 0700.

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
    Ok(())
}
