//! Our own files are private: the data and log directories 0700, the files in them that
//! hold prompts, usage or keys 0600. Directories are created so, and tightened when an
//! older version (or a umask) left them looser — logged, so the user sees why a mode
//! changed. Client config directories (`~/.claude`, …) are not ours and never pass here.

use std::path::Path;

/// Creates `dir` (and its parents) 0700, or tightens it to 0700 when it exists with any
/// group or other bits.
pub fn ensure_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)?;
    tighten(dir, 0o700)
}

/// Makes an existing `path` 0600 when it is looser; a missing file is fine (nothing to
/// protect yet).
pub fn tighten_file(path: &Path) -> std::io::Result<()> {
    match tighten(path, 0o600) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Opens `path` for appending, created 0600 (and tightened if it exists looser).
pub fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    tighten(path, 0o600)?;
    Ok(file)
}

#[cfg(unix)]
fn tighten(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let was = std::fs::symlink_metadata(path)?.permissions().mode() & 0o777;
    if was & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    tracing::warn!(
        path = %path.display(),
        "tightened permissions from {was:04o} to {mode:04o}: others could read Cursor Bridge's private files"
    );
    Ok(())
}

#[cfg(not(unix))]
fn tighten(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("test io")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn directories_are_created_private_and_tightened_when_loose() {
        let tmp = tempfile::tempdir().expect("test io");
        let fresh = tmp.path().join("a/b");
        ensure_dir(&fresh).expect("test io");
        assert_eq!(mode(&fresh), 0o700);

        let loose = tmp.path().join("loose");
        std::fs::create_dir(&loose).expect("test io");
        std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o755)).expect("test io");
        ensure_dir(&loose).expect("test io");
        assert_eq!(mode(&loose), 0o700);
    }

    #[test]
    fn files_are_tightened_and_appended_private() {
        let tmp = tempfile::tempdir().expect("test io");
        let log = tmp.path().join("app.log");
        drop(open_append(&log).expect("test io"));
        assert_eq!(mode(&log), 0o600);
        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o644)).expect("test io");
        drop(open_append(&log).expect("test io"));
        assert_eq!(mode(&log), 0o600);

        std::fs::set_permissions(&log, std::fs::Permissions::from_mode(0o640)).expect("test io");
        tighten_file(&log).expect("test io");
        assert_eq!(mode(&log), 0o600);
        tighten_file(&tmp.path().join("missing")).expect("test io");
    }
}
