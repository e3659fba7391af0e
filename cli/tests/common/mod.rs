//! Running the real `cursor-bridge` binary the way a user runs it, against the fake
//! Cursor, shared by the tests that spawn it (`cli.rs`, `secrets.rs`, `ledger_kill.rs`).
//!
//! Every child gets a fresh temporary `CURSOR_BRIDGE_HOME` and a *cleared* environment: a
//! developer's `CURSOR_ACCESS_TOKEN`, `RUST_LOG`, `CURSOR_BRIDGE_*` or keychain can never
//! leak in. The session bus is pointed at a socket that does not exist and
//! `HOME`/`XDG_RUNTIME_DIR` at the temp dir, so no test can ever touch a real keychain;
//! tests that need credentials opt in to the file store
//! (`CURSOR_BRIDGE_CREDENTIALS_FILE`), as a headless user would.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufRead, Lines};
use tokio::process::Command;

use cursor_bridge_tests::FakeCursor;

pub const BIN: &str = env!("CARGO_BIN_EXE_cursor-bridge");

/// One user's machine: a temp dir holding the Cursor Bridge home and a fake `$HOME`.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub api: String,
}

impl Sandbox {
    /// `<dir>/<name>` as a symlink to `<sandbox>/elsewhere/<name>` holding `{}`: a config
    /// file that leads out of its directory. The link and the target.
    #[cfg(unix)]
    #[allow(dead_code)] // not every test binary using this module needs it
    pub fn link_out(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let elsewhere = self.dir.path().join("elsewhere");
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        let target = elsewhere.join(name);
        std::fs::write(&target, "{}\n").expect("write");
        let link = dir.join(name);
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        (link, target)
    }

    pub fn new(fake: &FakeCursor) -> Sandbox {
        let dir = tempfile::tempdir().expect("temp dir");
        for d in ["home", "user-home"] {
            std::fs::create_dir_all(dir.path().join(d)).expect("mkdir");
        }
        Sandbox {
            dir,
            api: fake.url(),
        }
    }

    /// `CURSOR_BRIDGE_HOME`.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The opt-in credentials file.
    pub fn creds_path(&self) -> PathBuf {
        self.home().join("credentials.json")
    }

    /// The local proxy's API key, written by `serve`.
    pub fn key_path(&self) -> PathBuf {
        self.home().join("local-api-key")
    }

    /// The local API key `serve` generated.
    pub fn local_key(&self) -> String {
        std::fs::read_to_string(self.key_path())
            .expect("local key")
            .trim()
            .to_string()
    }

    /// The usage ledger `serve` writes.
    pub fn ledger_path(&self) -> PathBuf {
        self.home().join("ledger.sqlite3")
    }

    pub fn write_settings(&self, toml: &str) {
        std::fs::write(self.home().join("settings.toml"), toml).expect("write settings.toml");
    }

    /// Credentials as a signed-in user has them: the file store's JSON, mode 0600.
    pub fn write_creds(&self, creds: &Value) {
        std::fs::write(self.creds_path(), creds.to_string()).expect("write credentials");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let private = std::fs::Permissions::from_mode(0o600);
            std::fs::set_permissions(self.creds_path(), private).expect("chmod 600");
        }
    }

    pub fn read_creds(&self) -> Value {
        let text = std::fs::read_to_string(self.creds_path()).expect("read credentials file");
        serde_json::from_str(&text).expect("credentials file is JSON")
    }

    /// `cursor-bridge <args>` with the file credential store.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.keychain_cmd(args);
        c.env("CURSOR_BRIDGE_CREDENTIALS_FILE", self.creds_path());
        c
    }

    /// `cursor-bridge <args>` with the default (keychain) store, which is unreachable here.
    /// Stdin closed, stdout and stderr piped, killed when dropped.
    pub fn keychain_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .env_clear()
            .env("CURSOR_BRIDGE_HOME", self.home())
            .env("CURSOR_BRIDGE_API_URL", &self.api)
            .env("CURSOR_BRIDGE_LOGIN_URL", &self.api)
            .env("HOME", self.dir.path().join("user-home"))
            .env("XDG_RUNTIME_DIR", self.dir.path().join("user-home"))
            .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// Every regular file under the sandbox (full paths, sorted).
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(dir).expect("read dir") {
                let p = e.expect("dir entry").path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.dir.path(), &mut out);
        out.sort();
        out
    }
}

/// A valid session the fake accepts: a 1 h access token and a refresh token.
pub fn session(fake: &FakeCursor) -> Value {
    serde_json::json!({
        "accessToken": fake.mint_access_token(Duration::from_secs(3600)),
        "refreshToken": fake.mint_refresh_token(),
    })
}

/// An HTTP/1.1 client, like a browser or an OpenAI SDK, giving up after `timeout`.
pub fn http1(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .http1_only()
        .timeout(timeout)
        .build()
        .expect("reqwest client")
}

/// The permission bits of `path`.
#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// The base URL in `serve`'s "… listening on <url> …" line.
pub fn listening_url(line: &str) -> Option<String> {
    line.split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_string)
}

/// Reads `serve`'s stdout until its "listening on" line (at most `wait`); returns the base
/// URL. Every line read is appended to `seen`.
pub async fn wait_for_listening<R: AsyncBufRead + Unpin>(
    stdout: &mut Lines<R>,
    seen: &mut String,
    wait: Duration,
) -> String {
    tokio::time::timeout(wait, async {
        while let Some(line) = stdout.next_line().await.expect("read stdout") {
            seen.push_str(&line);
            seen.push('\n');
            if let Some(url) = listening_url(&line) {
                return Some(url);
            }
        }
        None
    })
    .await
    .expect("serve prints its address")
    .expect("an address")
}
