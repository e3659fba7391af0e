//! The app's log file, rotated by size while it runs: once a write would take `app.log`
//! past its limit, `app.log.N-1` becomes `app.log.N` (the oldest dropped), …, `app.log`
//! becomes `app.log.1`, and a fresh 0600 `app.log` takes the write. So a long-running tray
//! (or a client flooding it with refused requests) keeps at most `(keep + 1) × max_bytes`
//! of logs, and every file stays private (a rename keeps the mode; the new file is created
//! 0600). Rotation happens between writes, and the tracing subscriber writes one event per
//! write, so no line is split across files.
//!
//! Nothing here logs: it is the log's own writer (a warning from inside it would re-enter
//! the subscriber that holds its lock).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A log file rotated at `max_bytes`, keeping `keep` older files.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    len: u64,
}

impl RotatingFile {
    /// Opens (appending) `dir/name`, creating `dir` 0700; a file already over `max_bytes`
    /// is rotated first.
    pub fn open(dir: &Path, name: &str, max_bytes: u64, keep: usize) -> std::io::Result<Self> {
        super::private::ensure_dir(dir)?;
        let path = dir.join(name);
        for n in 1..=keep {
            super::private::tighten_file(&numbered(&path, n))?;
        }
        let mut f = RotatingFile {
            file: super::private::open_append(&path)?,
            len: 0,
            path,
            max_bytes,
            keep,
        };
        f.len = f.file.metadata()?.len();
        if f.len > max_bytes {
            f.rotate()?;
        }
        Ok(f)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        if self.keep == 0 {
            self.file.set_len(0)?;
        } else {
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
            self.file = create_private(&self.path)?;
        }
        self.len = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.len > 0 && self.len + buf.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        let n = self.file.write(buf)?;
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// `app.log.n`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// A new file for appending, 0600 from the start (no tightening, which would log).
fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize) -> String {
        format!("line {i:04} {}\n", "x".repeat(90))
    }

    #[test]
    fn it_rotates_by_size_while_writing_keeps_n_files_all_private_and_loses_no_recent_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let logs = dir.path().join("logs");
        let mut f = RotatingFile::open(&logs, "app.log", 1000, 2).expect("open");
        for i in 0..100 {
            f.write_all(line(i).as_bytes()).expect("write");
        }
        let mut names: Vec<String> = std::fs::read_dir(&logs)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["app.log", "app.log.1", "app.log.2"]);
        let read = |n: &str| std::fs::read_to_string(logs.join(n)).expect("read");
        let mut text = String::new();
        for n in ["app.log.2", "app.log.1", "app.log"] {
            let t = read(n);
            assert!(t.len() <= 1000, "{n}: {} bytes", t.len());
            assert!(t.ends_with('\n'), "{n}: whole lines only");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let mode = std::fs::metadata(logs.join(n))
                    .expect("meta")
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{n}");
            }
            text.push_str(&t);
        }
        // The newest lines, in order, end to end.
        let want: String = (100 - text.lines().count()..100).map(line).collect();
        assert_eq!(text, want);
        assert!(text.lines().count() >= 2 * 9, "the kept files are full");
    }

    #[test]
    fn a_file_over_the_limit_at_start_is_rotated_first() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("app.log"), "y".repeat(2000)).expect("seed");
        let mut f = RotatingFile::open(dir.path(), "app.log", 1000, 1).expect("open");
        f.write_all(b"fresh\n").expect("write");
        let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).expect("read");
        assert_eq!(read("app.log"), "fresh\n");
        assert_eq!(read("app.log.1").len(), 2000);
    }
}
