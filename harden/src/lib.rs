//! # cursor-bridge-harden: what every Cursor Bridge process does first
//!
//! The CLI's and the tray app's `main` snapshot the environment for the settings, then
//! call [`start`] before anything else runs (no runtime, no thread, no window):
//!
//! - **Secrets leave the environment.** The variables named by the caller
//!   (`CURSOR_ACCESS_TOKEN`, `CURSOR_BRIDGE_API_KEY`) are removed from the process
//!   environment, so no child inherits them: the browser opened for the sign-in,
//!   WebKit's web and network processes, `opencode --version`. What the kernel shows in
//!   `/proc/<pid>/environ` is the copy made at exec and does not change; with the
//!   process not dumpable (below) only root can read it.
//! - **No core dumps.** `RLIMIT_CORE` is set to 0 (children inherit it) and, on Linux,
//!   the process is made not dumpable (`PR_SET_DUMPABLE` 0): no core file, no
//!   `ptrace` attach and no reading of `/proc/<pid>/mem` or `environ` by other processes
//!   of the same user. A crash cannot leave the tokens or the local key on disk.
//!
//! This is the workspace's only crate allowed `unsafe` (see its `Cargo.toml`):
//! [`std::env::remove_var`] is unsafe because C code may read the environment from
//! another thread at the same time. [`start`] refuses to touch the environment unless it
//! can see that the process has a single thread (Linux: `/proc/self/task`), which is what
//! "first thing in `main`" guarantees.

/// Hardens the process: removes `secret_vars` from the environment and disables core
/// dumps. Returns what it could not do, as sentences for the caller to print (the process
/// still runs: a missing `/proc` must not stop the app).
pub fn start(secret_vars: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(e) = remove_secrets(secret_vars) {
        problems.push(e);
    }
    if let Err(e) = disable_core_dumps() {
        problems.push(format!("cannot disable core dumps: {e}"));
    }
    problems
}

/// Removes `vars` from the environment, if the process is provably single-threaded.
fn remove_secrets(vars: &[&str]) -> Result<(), String> {
    if !vars.iter().any(|v| std::env::var_os(v).is_some()) {
        return Ok(());
    }
    match thread_count() {
        Some(1) => {}
        Some(n) => {
            return Err(format!(
                "{n} threads are running: the secrets stay in the environment ({})",
                vars.join(", ")
            ));
        }
        // Where the thread count cannot be read, trust the call being first in `main`
        // (Windows' environment functions are thread-safe anyway).
        None if !cfg!(target_os = "linux") => {}
        None => {
            return Err(format!(
                "cannot count threads (no /proc?): the secrets stay in the environment ({})",
                vars.join(", ")
            ));
        }
    }
    for var in vars {
        // SAFETY: the process has exactly one thread (checked just above on Linux, and
        // by being the first call in `main` elsewhere), so nothing reads or writes the
        // environment concurrently.
        #[allow(unsafe_code)]
        unsafe {
            std::env::remove_var(var)
        };
    }
    Ok(())
}

/// How many threads the process has, where the OS says.
fn thread_count() -> Option<usize> {
    if cfg!(target_os = "linux") {
        std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
    } else {
        None
    }
}

/// `RLIMIT_CORE` 0, and on Linux not dumpable.
fn disable_core_dumps() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, setrlimit};
        let zero = Rlimit {
            current: Some(0),
            maximum: Some(0),
        };
        setrlimit(Resource::Core, zero)?;
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test harness runs tests on threads: the environment is left alone and the
    /// caller is told why (the real binaries, single-threaded at this point, are covered
    /// by `cli/tests/cli.rs`).
    #[test]
    #[cfg(target_os = "linux")]
    fn a_process_with_threads_keeps_its_environment_and_says_so() {
        let var = "CURSOR_BRIDGE_HARDEN_TEST_SECRET";
        assert!(std::env::var_os(var).is_none());
        // Another thread that is certainly alive while we look.
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        let err = remove_secrets(&["PATH"]).expect_err("more than one thread");
        assert!(err.contains("threads are running"), "{err}");
        assert!(std::env::var_os("PATH").is_some());
        // Nothing to remove is no problem, whatever the threads.
        assert_eq!(remove_secrets(&[var]), Ok(()));
        drop(tx);
        let _ = t.join();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn core_dumps_off_means_rlimit_zero_and_not_dumpable() {
        disable_core_dumps().expect("disable");
        let limit = rustix::process::getrlimit(rustix::process::Resource::Core);
        assert_eq!((limit.current, limit.maximum), (Some(0), Some(0)));
        assert_eq!(
            rustix::process::dumpable_behavior().expect("PR_GET_DUMPABLE"),
            rustix::process::DumpableBehavior::NotDumpable
        );
    }
}
