//! Files and directories only the hub's user may read (contract §2: the data dir holds keys
//! and the store).

/// Creates `dir` (and its parents) readable by the hub's user only, 0700, and tightens it
/// if it exists (contract §2: the data dir holds keys and the store).
pub fn private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}
