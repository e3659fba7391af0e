//! # cursor-bridge-harden: what every Cursor Bridge process does first
//!
//! The CLI's and the tray app's `main` call [`start`] before anything else runs (no
//! runtime, no window), then build the settings' snapshot of the environment with the
//! secrets it returns:
//!
//! - **Secrets leave the environment.** The variables named by the caller
//!   (`CURSOR_ACCESS_TOKEN`, `CURSOR_BRIDGE_API_KEY`) are taken out, so no child inherits
//!   them: the browser opened for the sign-in, WebKit's web and network processes,
//!   `opencode --version`. On Linux the process execs itself once with an environment
//!   without them, handing their values over in an anonymous memory file
//!   (`memfd`) that the new image reads and closes: sound whatever threads exist (the
//!   tray app has one before `main`: WebKitGTK's JavaScriptCore starts it from a library
//!   constructor), and even the kernel's copy, `/proc/<pid>/environ`, no longer holds
//!   them. Elsewhere the variables are removed in place, which is sound only while the
//!   process has one thread: the first thing in `main`.
//! - **No core dumps.** `RLIMIT_CORE` is set to 0 (children inherit it) and, on Linux,
//!   the process is made not dumpable (`PR_SET_DUMPABLE` 0): no core file, no
//!   `ptrace` attach and no reading of `/proc/<pid>/mem` or `environ` by other processes
//!   of the same user. A crash cannot leave the tokens or the local key on disk.
//!
//! This is the workspace's only crate allowed `unsafe` (see its `Cargo.toml`): taking
//! ownership of the handed-over file descriptor, and [`std::env::remove_var`] where there
//! is no re-exec (unsafe because C code may read the environment from another thread at
//! the same time; done only when the process is seen to have a single thread).

/// Names the file descriptor holding the secrets across the re-exec.
const SECRETS_FD_VAR: &str = "CURSOR_BRIDGE_SECRETS_FD";
/// The memfd's name, checked before the descriptor is trusted (`/proc/self/fd/<n>`).
const MEMFD_NAME: &str = "cursor-bridge-secrets";

/// What [`start`] found: the secrets taken out of the environment, and what it could not
/// do, as sentences for the caller to print (the process still runs: a missing `/proc`
/// must not stop the app).
#[derive(Default)]
pub struct Started {
    /// `(name, value)` of each secret variable that was set; the caller adds them to its
    /// snapshot of the environment.
    pub secrets: Vec<(String, String)>,
    /// What could not be done.
    pub problems: Vec<String>,
}

/// Hardens the process: takes `secret_vars` out of the environment and disables core
/// dumps. Call it first thing in `main`; on Linux it may exec the binary again (same pid,
/// same arguments) and return in the new image.
pub fn start(secret_vars: &[&str]) -> Started {
    let mut started = Started::default();
    if let Err(e) = disable_core_dumps() {
        started
            .problems
            .push(format!("cannot disable core dumps: {e}"));
    }
    match take_secrets(secret_vars) {
        Ok(secrets) => started.secrets = secrets,
        Err(e) => started.problems.push(e),
    }
    started
}

/// The secrets, out of the environment: handed over by the previous image, or read now
/// and then removed (by re-exec, else in place).
fn take_secrets(vars: &[&str]) -> Result<Vec<(String, String)>, String> {
    #[cfg(target_os = "linux")]
    if let Some(secrets) = reexec::handed_over() {
        return Ok(secrets);
    }
    let secrets: Vec<(String, String)> = vars
        .iter()
        .filter_map(|v| Some((v.to_string(), std::env::var(v).ok()?)))
        .collect();
    if secrets.is_empty() {
        return Ok(secrets);
    }
    #[cfg(target_os = "linux")]
    let in_place = {
        // Returns only when the exec failed (e.g. the binary was replaced on disk).
        let failed = reexec::exec_without(vars, &secrets);
        remove_secrets(vars).map_err(|e| format!("{e} (re-exec failed: {failed})"))
    };
    #[cfg(not(target_os = "linux"))]
    let in_place = remove_secrets(vars);
    in_place.map(|()| secrets)
}

#[cfg(target_os = "linux")]
mod reexec {
    use std::io::{Read as _, Seek as _, Write as _};
    use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
    use std::os::unix::process::CommandExt as _;

    use super::{MEMFD_NAME, SECRETS_FD_VAR};

    /// Execs this binary again, with the same arguments and an environment without
    /// `vars`, their values in an inheritable memfd named by [`SECRETS_FD_VAR`]. Returns
    /// only if that failed, saying why.
    pub(super) fn exec_without(vars: &[&str], secrets: &[(String, String)]) -> String {
        let file = match memfd(secrets) {
            Ok(f) => f,
            Err(e) => return format!("cannot hand the secrets over: {e}"),
        };
        let exe = match std::env::current_exe() {
            Ok(p) => p,
            Err(e) => return format!("cannot find this binary: {e}"),
        };
        let mut args = std::env::args_os();
        let mut cmd = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        cmd.args(args)
            .env(SECRETS_FD_VAR, file.as_raw_fd().to_string());
        for var in vars {
            cmd.env_remove(var);
        }
        let e = cmd.exec();
        format!("cannot exec this binary again: {e}")
    }

    /// `NAME=VALUE\0` entries in a memfd without close-on-exec, at offset 0.
    fn memfd(secrets: &[(String, String)]) -> std::io::Result<std::fs::File> {
        let fd = rustix::fs::memfd_create(MEMFD_NAME, rustix::fs::MemfdFlags::empty())?;
        let mut file = std::fs::File::from(fd);
        for (name, value) in secrets {
            write!(file, "{name}={value}\0")?;
        }
        file.rewind()?;
        Ok(file)
    }

    /// The secrets the previous image handed over, if this is the re-exec'd one: the
    /// descriptor is read, closed (no child inherits it) and checked to be our memfd.
    pub(super) fn handed_over() -> Option<Vec<(String, String)>> {
        let fd: i32 = std::env::var(SECRETS_FD_VAR).ok()?.parse().ok()?;
        // Only our own memfd: a stale variable inherited by some grandchild must not make
        // it read (and close) whatever that number is now.
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
        if link.to_str() != Some(&format!("/memfd:{MEMFD_NAME} (deleted)")) {
            return None;
        }
        // SAFETY: descriptor `fd` is open (its /proc link exists) and is the memfd the
        // previous image of this process created for us; nothing else in this process
        // knows its number, so taking ownership (and closing it on drop) is sound.
        #[allow(unsafe_code)]
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut text = String::new();
        std::fs::File::from(owned).read_to_string(&mut text).ok()?;
        Some(
            text.split('\0')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }
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
