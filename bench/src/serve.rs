//! The real `cursor-bridge serve` as a child process, started the way a user starts it:
//! a private `CURSOR_BRIDGE_HOME` with a `settings.toml`, `CURSOR_ACCESS_TOKEN` minted by
//! the fake, the fake's URL as the Cursor API, a cleared environment (nothing of the
//! developer's leaks in), `--port 0` and the "listening on" line as readiness.
//!
//! A separate process so its memory and CPU time are its own in `/proc/<pid>`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use cursor_bridge_tests::FakeCursor;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// The local API key every bench proxy is started with.
pub const API_KEY: &str = "cb-bench-local-key";

/// Settings every bench proxy shares: the file credential store (no keychain on a
/// headless box), parking room and run places for every concurrent stream, a short
/// drain on stop.
/// The guard stays on (its cost is part of every figure) with a per-minute budget no
/// benchmark reaches: the bench sends thousands of requests a minute on purpose.
const SETTINGS: &str = "credential_store = \"file\"\nmax_parked_streams = 4096\n\
                        max_concurrent_runs = 4096\ndrain_grace_secs = 1\nguard_requests_per_minute = 100000000\n";

/// How the proxy process is placed on the CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the scheduler likes, as many tokio workers as cores.
    Free,
    /// `taskset -c <cpu>` with `TOKIO_WORKER_THREADS=1`: one core.
    Pinned(usize),
}

/// A temporary home for one or more proxy processes, pointed at one fake.
pub struct Sandbox {
    dir: tempfile::TempDir,
    api: String,
    token: String,
}

impl Sandbox {
    pub fn new(fake: &FakeCursor) -> Result<Sandbox> {
        Self::with_settings(fake, "")
    }

    /// A sandbox whose `settings.toml` adds `extra` (TOML lines) to the shared settings.
    pub fn with_settings(fake: &FakeCursor, extra: &str) -> Result<Sandbox> {
        let dir = tempfile::tempdir().context("temp dir")?;
        for sub in ["cb", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).context("sandbox dirs")?;
        }
        std::fs::write(
            dir.path().join("cb/settings.toml"),
            format!("{SETTINGS}{extra}"),
        )
        .context("settings")?;
        Ok(Sandbox {
            api: fake.url(),
            token: fake.mint_access_token(Duration::from_secs(6 * 3600)),
            dir,
        })
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// `bin args…` in the sandbox's cleared environment.
    pub fn command(&self, bin: &Path, args: &[&str], placement: Placement) -> Command {
        let mut c = match placement {
            Placement::Free => Command::new(bin),
            Placement::Pinned(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(bin);
                c.env("TOKIO_WORKER_THREADS", "1");
                c
            }
        };
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CURSOR_BRIDGE_HOME", self.path("cb"))
            .env("CURSOR_BRIDGE_API_URL", &self.api)
            .env("CURSOR_BRIDGE_LOGIN_URL", &self.api)
            .env(
                "CURSOR_BRIDGE_CREDENTIALS_FILE",
                self.path("cb/credentials.json"),
            )
            .env("CURSOR_ACCESS_TOKEN", &self.token)
            .env("CURSOR_BRIDGE_API_KEY", API_KEY)
            .env("HOME", self.path("home"))
            .env("XDG_RUNTIME_DIR", self.path("home"))
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // Debugging a run: `CB_BENCH_SERVE_LOG=debug` becomes the proxy's RUST_LOG (its
        // stderr is kept in the sandbox and shown when a phase fails).
        if let Some(filter) = std::env::var_os("CB_BENCH_SERVE_LOG") {
            c.env("RUST_LOG", filter);
        }
        // Experiments: `CB_BENCH_SERVE_WORKERS=1` runs the proxy with one tokio worker.
        if let (Some(n), Placement::Free) = (std::env::var_os("CB_BENCH_SERVE_WORKERS"), placement)
        {
            c.env("TOKIO_WORKER_THREADS", n);
        }
        c
    }
}

/// A running `cursor-bridge serve`.
pub struct Serve {
    child: Child,
    pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// From spawn to the "listening on" line.
    pub ready_after: Duration,
    log: PathBuf,
}

impl Serve {
    /// Starts `bin serve --port 0` and waits for its "listening on" line.
    pub async fn start(sandbox: &Sandbox, bin: &Path, placement: Placement) -> Result<Serve> {
        let log = sandbox.path(&format!("serve-{}.log", uuid_ish()));
        let stderr = std::fs::File::create(&log).context("serve log file")?;
        let mut cmd = sandbox.command(bin, &["serve", "--port", "0"], placement);
        cmd.stdout(Stdio::piped()).stderr(stderr);
        let spawned = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id().context("the child has a pid")?;
        let stdout = child.stdout.take().context("piped stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(l) = lines.next_line().await? {
                if l.contains("listening on http://") {
                    return Ok::<_, std::io::Error>(Some(l));
                }
            }
            Ok(None)
        })
        .await;
        let ready_after = spawned.elapsed();
        let line = match line {
            Ok(Ok(Some(l))) => l,
            other => {
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("serve did not report listening ({other:?}); its log:\n{err}");
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let base = line
            .split("listening on ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .context("an address in the listening line")?
            .to_string();
        Ok(Serve {
            child,
            pid,
            base,
            ready_after,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its stderr so far (for error messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then up to 5 s for a clean exit; killed otherwise.
    pub async fn stop(mut self) -> Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await;
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => bail!("serve exited with {status}; log:\n{}", self.log()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => {
                let _ = self.child.kill().await;
                bail!("serve did not stop within 5 s of SIGTERM")
            }
        }
    }
}

/// A short unique suffix for file names.
fn uuid_ish() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

/// Restricts every thread of this process to `cpus` (a `taskset` list such as `1` or
/// `0-1`); false when `taskset` is missing or refuses.
pub fn pin_self(cpus: &str) -> bool {
    std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
