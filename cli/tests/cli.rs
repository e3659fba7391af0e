//! The `cursor-bridge` binary end to end, run the way a user runs it, against the fake
//! Cursor server.
//!
//! Every child process runs in a [`Sandbox`](common::Sandbox): a fresh temporary
//! `CURSOR_BRIDGE_HOME`, a cleared environment, no reachable keychain; tests that need
//! credentials opt in to the file store, as a headless user would.
//!
//! Children run under `tokio::process` (the fake serves from this test's runtime; a
//! blocking wait would starve it), stdin closed, and every wait has a timeout. Readiness
//! is read from the child's stdout, never slept for. Every test ends by checking that no
//! secret the fake issued or received (tokens, API keys, the PKCE verifier) was printed.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use cursor_bridge_tests::{FakeCursor, FakeModel, FakeUsage, FakeUser, jwt_exp};

use common::{Sandbox, http1, listening_url, mode, session};

/// Generous for one CLI run on a loaded 2-core machine; a hang fails instead of blocking.
const WAIT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// What a finished run printed and how it exited.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    #[track_caller]
    fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "exit code; output:\n{}", self.all());
        self
    }

    #[track_caller]
    fn expect_stdout(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.all()
        );
        self
    }

    #[track_caller]
    fn expect_stderr(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.all()
        );
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.all()))
    }
}

/// A child in flight: stdout read line by line (for readiness), stderr collected aside.
struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
    stderr: JoinHandle<String>,
}

impl Running {
    fn spawn(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().expect("spawn cursor-bridge");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s).await;
            s
        });
        Running {
            child,
            stdout,
            seen: Vec::new(),
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("the child is running")
    }

    /// Reads stdout until a line satisfies `pred`; panics on EOF or timeout.
    async fn line_where(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let read = async {
            while let Some(line) = self.stdout.next_line().await.expect("read stdout") {
                self.seen.push(line.clone());
                if pred(&line) {
                    return Some(line);
                }
            }
            None
        };
        match timeout(WAIT, read).await {
            Ok(Some(line)) => line,
            Ok(None) => panic!(
                "cursor-bridge exited before printing {what}; stdout: {:?}",
                self.seen
            ),
            Err(_) => panic!("no {what} within {WAIT:?}; stdout: {:?}", self.seen),
        }
    }

    /// Stops it with SIGINT (Ctrl-C) and expects a clean exit (code 0).
    async fn interrupt(self) -> Out {
        let kill = Command::new("kill")
            .args(["-INT", &self.pid().to_string()])
            .status()
            .await
            .expect("run kill");
        assert!(kill.success());
        let out = self.finish().await;
        out.expect_code(0);
        out
    }

    /// Reads the rest of stdout, waits for the exit and collects stderr.
    async fn finish(mut self) -> Out {
        let done = async {
            while let Some(line) = self.stdout.next_line().await.expect("read stdout") {
                self.seen.push(line);
            }
            let status = self.child.wait().await.expect("wait for cursor-bridge");
            let stderr = self.stderr.await.expect("stderr task");
            (status, stderr)
        };
        let (status, stderr) = timeout(WAIT, done)
            .await
            .unwrap_or_else(|_| panic!("cursor-bridge did not exit within {WAIT:?}"));
        let mut stdout = self.seen.join("\n");
        stdout.push('\n');
        assert!(
            !stderr.contains('\u{1b}'),
            "colour codes in piped stderr:\n{stderr}"
        );
        Out {
            code: status
                .code()
                .unwrap_or_else(|| panic!("cursor-bridge died by a signal: {status:?}")),
            stdout,
            stderr,
        }
    }
}

/// Runs to completion; `stdin` (if any) is written and then closed.
async fn run_with_stdin(mut cmd: Command, stdin: Option<&str>) -> Out {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut r = Running::spawn(cmd);
    if let Some(input) = stdin {
        let mut pipe = r.child.stdin.take().expect("piped stdin");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    r.finish().await
}

async fn run(cmd: Command) -> Out {
    run_with_stdin(cmd, None).await
}

/// Every secret the fake received: bearer tokens (access tokens, API keys, refresh tokens
/// sent to the exchange endpoint), login verifiers from `/auth/poll`, refresh tokens sent
/// to `/oauth/token`.
fn secrets_seen_by(fake: &FakeCursor) -> Vec<String> {
    let mut out = fake.bearer_tokens_seen();
    for call in fake.unary_calls() {
        if call.path == "/auth/poll" {
            let query = call.query.clone().unwrap_or_default();
            let url = url::Url::parse(&format!("http://x/?{query}")).expect("query parses");
            out.extend(
                url.query_pairs()
                    .filter(|(k, _)| k == "verifier")
                    .map(|(_, v)| v.into_owned()),
            );
        }
        if let Ok(body) = serde_json::from_slice::<Value>(&call.body)
            && let Some(rt) = body.get("refresh_token").and_then(Value::as_str)
        {
            out.push(rt.to_string());
        }
    }
    out
}

/// Every string value in a credentials JSON object.
fn secrets_in(creds: &Value) -> Vec<String> {
    creds
        .as_object()
        .map(|o| {
            o.values()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts no output of `outs` contains any secret the fake saw or any of `extra`.
#[track_caller]
fn assert_no_secrets(fake: &FakeCursor, outs: &[&Out], extra: &[String]) {
    let mut secrets = secrets_seen_by(fake);
    secrets.extend(extra.iter().cloned());
    secrets.retain(|s| s.len() >= 8);
    assert!(!secrets.is_empty(), "the test should know some secret");
    for out in outs {
        let text = out.all();
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret was printed:\n{text}");
        }
    }
}

/// The value of attribute `name` in one HTML tag (double-quoted), entities decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(
        tag[start..start + len]
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// The first form of a page: its action and its hidden inputs, as a browser submits them.
fn parse_form(html: &str) -> (String, Vec<(String, String)>) {
    let form = &html[html.find("<form").expect("the page has a form")..];
    let form = &form[..form.find("</form>").expect("the form is closed")];
    let open = &form[..form.find('>').expect("form tag ends")];
    let action = attr(open, "action").expect("the form has an action");
    let fields = form
        .split("<input")
        .skip(1)
        .map(|rest| &rest[..rest.find('>').expect("input tag ends")])
        .filter(|tag| attr(tag, "type").as_deref() == Some("hidden"))
        .map(|tag| {
            (
                attr(tag, "name").expect("input name"),
                attr(tag, "value").unwrap_or_default(),
            )
        })
        .collect();
    (action, fields)
}

// ---------------------------------------------------------------------------------------
// login
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn browser_login_as_a_user_does_it() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    sb.write_settings("login_poll_initial_ms = 20\nlogin_poll_max_ms = 100\n");

    let mut login = Running::spawn(sb.cmd(&["login", "--no-browser"]));
    let line = login
        .line_where("the sign-in URL", |l| l.trim_start().starts_with("http"))
        .await;
    let url = line.trim().to_string();
    assert!(
        url.starts_with(&format!("{}/loginDeepControl?", fake.url())),
        "{url}"
    );

    // The CLI polls while the user has not approved yet.
    let pending = fake
        .wait_until(WAIT, |f| !f.pending_logins().is_empty())
        .await;
    assert!(pending, "the CLI never polled for the pending sign-in");

    // Be the browser: open the page, submit its Approve form.
    let browser = http1(WAIT);
    let page = browser.get(&url).send().await.expect("GET sign-in page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("page body");
    let (action, fields) = parse_form(&html);
    let action = url::Url::parse(&url)
        .expect("URL")
        .join(&action)
        .expect("action URL");
    let approved = browser
        .post(action)
        .form(&fields)
        .send()
        .await
        .expect("POST approve");
    assert_eq!(approved.status(), 200);

    let out = login.finish().await;
    out.expect_code(0)
        .expect_stdout("To sign in, open this URL in a browser:")
        .expect_stdout(&format!("Signed in as {}.", FakeUser::default().email))
        .expect_stdout(&format!(
            "Credentials are stored in the file {}",
            sb.creds_path().display()
        ));

    #[cfg(unix)]
    assert_eq!(mode(&sb.creds_path()), 0o600);
    let creds = sb.read_creds();
    let access = creds["accessToken"].as_str().expect("accessToken");
    assert!(fake.is_valid_access_token(access));
    assert!(
        creds["refreshToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(fake.pkce_mismatches(), 0);
    assert!(fake.poll_count() >= 2, "polls: {}", fake.poll_count());

    let verifiers: Vec<_> = secrets_seen_by(&fake)
        .into_iter()
        .filter(|s| !s.contains('.') && !s.starts_with("rt_"))
        .collect();
    assert!(!verifiers.is_empty(), "the poll's verifier was recorded");
    assert_no_secrets(&fake, &[&out], &secrets_in(&creds));
}

#[tokio::test]
async fn login_with_an_api_key_from_stdin() {
    let key = "key_0123456789abcdef0123456789abcdef";
    let fake = FakeCursor::builder().api_key(key).start().await;
    let sb = Sandbox::new(&fake);

    let out = run_with_stdin(
        sb.cmd(&["login", "--api-key-stdin"]),
        Some(&format!("{key}\n")),
    )
    .await;
    out.expect_code(0)
        .expect_stdout("Signed in as dev@example.com.");
    let creds = sb.read_creds();
    assert_eq!(creds["apiKey"], key);
    assert!(fake.is_valid_access_token(creds["accessToken"].as_str().expect("token")));
    #[cfg(unix)]
    assert_eq!(mode(&sb.creds_path()), 0o600);

    // A key Cursor refuses is an auth problem (3), and nothing is stored.
    let sb2 = Sandbox::new(&fake);
    let wrong = "key_ffffffffffffffffffffffffffffffff";
    let bad = run_with_stdin(
        sb2.cmd(&["login", "--api-key-stdin"]),
        Some(&format!("{wrong}\n")),
    )
    .await;
    bad.expect_code(3).expect_stderr("refused");
    assert!(!sb2.creds_path().exists());

    // An empty stdin is a usage error.
    let sb3 = Sandbox::new(&fake);
    let empty = run_with_stdin(sb3.cmd(&["login", "--api-key-stdin"]), Some("")).await;
    empty.expect_code(2).expect_stderr("no API key");

    // Unreadable stored credentials do not block a new sign-in: it replaces them.
    let sb4 = Sandbox::new(&fake);
    std::fs::write(sb4.creds_path(), "{\"accessToken\": \"half").expect("write");
    let over = run_with_stdin(
        sb4.cmd(&["login", "--api-key-stdin"]),
        Some(&format!("{key}\n")),
    )
    .await;
    over.expect_code(0)
        .expect_stdout("Signed in as dev@example.com.");
    let replaced = sb4.read_creds();

    let mut extra = secrets_in(&creds);
    extra.extend(secrets_in(&replaced));
    extra.push(wrong.into());
    assert_no_secrets(&fake, &[&out, &bad, &empty, &over], &extra);
}

/// Typed at a terminal (a real pty, through `script(1)` from util-linux), the key is not
/// echoed: the terminal output holds the prompt and the result, never the key.
#[cfg(unix)]
#[tokio::test]
async fn an_api_key_typed_at_a_terminal_is_not_echoed() {
    let key = "key_0123456789abcdef0123456789abcdef";
    let fake = FakeCursor::builder().api_key(key).start().await;
    let sb = Sandbox::new(&fake);
    let login = sb.cmd(&["login", "--api-key-stdin"]);
    let mut cmd = Command::new("script");
    cmd.args([
        "-qec",
        &format!("{} login --api-key-stdin", common::BIN),
        "/dev/null",
    ])
    .env_clear()
    .envs(
        login
            .as_std()
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd.spawn().expect("script(1) from util-linux runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    // Type only once the prompt shows: echo is off by then, as for a person typing.
    let mut seen = Vec::new();
    timeout(WAIT, async {
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&seen).contains("not shown") {
            let n = stdout.read(&mut buf).await.expect("read");
            assert!(
                n > 0,
                "ended before the prompt: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the prompt shows");
    stdin
        .write_all(format!("{key}\n").as_bytes())
        .await
        .expect("type the key");
    timeout(WAIT, stdout.read_to_end(&mut seen))
        .await
        .expect("login ends")
        .expect("read");
    let status = child.wait().await.expect("wait");
    let screen = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{screen}");
    assert!(screen.contains("Signed in as dev@example.com."), "{screen}");
    assert!(!screen.contains(key), "the key was echoed: {screen}");
    assert_eq!(sb.read_creds()["apiKey"], key);
}

#[tokio::test]
async fn ctrl_c_cancels_a_browser_login() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    sb.write_settings("login_poll_initial_ms = 20\nlogin_poll_max_ms = 100\n");

    let mut login = Running::spawn(sb.cmd(&["login", "--no-browser"]));
    login
        .line_where("the waiting line", |l| l.contains("Ctrl-C to cancel"))
        .await;
    assert!(fake.wait_until(WAIT, |f| f.poll_count() >= 1).await);
    let pid = login.pid().to_string();
    let kill = Command::new("kill").args(["-INT", &pid]).status().await;
    assert!(kill.expect("run kill").success());
    let out = login.finish().await;
    out.expect_code(5).expect_stderr("sign-in cancelled");
    assert!(!sb.creds_path().exists());
    assert_no_secrets(&fake, &[&out], &[]);
}

// ---------------------------------------------------------------------------------------
// --version, status, logout
// ---------------------------------------------------------------------------------------

/// One version everywhere, and which build it is: the workspace's version and the commit
/// this checkout is at, as `git` itself names it.
#[tokio::test]
async fn version_names_the_workspace_version_and_the_git_commit() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=10", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs");
    let commit = String::from_utf8(head.stdout).expect("utf-8");
    let commit = commit.trim();
    assert!(
        head.status.success() && !commit.is_empty(),
        "a git checkout"
    );
    let out = run(sb.cmd(&["--version"])).await;
    out.expect_code(0).expect_stdout(&format!(
        "cursor-bridge {} ({commit})\n",
        env!("CARGO_PKG_VERSION")
    ));
}

#[tokio::test]
async fn status_not_signed_in_says_how_to_sign_in() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let out = run(sb.cmd(&["status"])).await;
    out.expect_code(3)
        .expect_stdout("cursor-bridge login")
        .expect_stdout("http://127.0.0.1:18741/v1");
    assert!(
        fake.unary_calls().is_empty(),
        "no Cursor call without credentials"
    );
}

#[tokio::test]
async fn status_signed_in_shows_account_expiry_and_proxy() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);
    let exp = jwt_exp(creds["accessToken"].as_str().expect("token")).expect("exp");

    let out = run(sb.cmd(&["status"])).await;
    out.expect_code(0)
        .expect_stdout("dev@example.com")
        .expect_stdout(&cursor_bridge_core::dates::iso8601(exp))
        .expect_stdout("http://127.0.0.1:18741/v1")
        .expect_stdout(&sb.creds_path().display().to_string());
    assert_eq!(fake.refresh_calls(), 0);
    assert_no_secrets(&fake, &[&out], &secrets_in(&creds));
}

/// `status` names the client version Cursor is sent and where it came from (§9.10): the
/// installer script the fake serves, then the newest installed CLI, then a pin.
#[tokio::test]
async fn status_shows_the_client_version_and_its_source() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    sb.write_creds(&session(&fake));
    let versions = sb.dir.path().join("cursor-agent-versions");
    std::fs::create_dir_all(&versions).expect("versions dir");
    let dir_setting = format!(
        "cursor_cli_versions_dir = {:?}\n",
        versions.display().to_string()
    );
    sb.write_settings(&dir_setting);
    run(sb.cmd(&["status"]))
        .await
        .expect_code(0)
        .expect_stdout("Client version:    cli-2026.07.23-e383d2b (Cursor's CLI installer)");

    std::fs::create_dir_all(versions.join("2026.08.02-abcdef1")).expect("a CLI build");
    run(sb.cmd(&["status"]))
        .await
        .expect_code(0)
        .expect_stdout("Client version:    cli-2026.08.02-abcdef1 (newest installed Cursor CLI)");

    sb.write_settings(&format!(
        "{dir_setting}client_version = \"cli-2026.09.09-9999999\"\n"
    ));
    run(sb.cmd(&["status"]))
        .await
        .expect_code(0)
        .expect_stdout("Client version:    cli-2026.09.09-9999999 (pinned in the settings)");
    assert_eq!(fake.installer_fetches(), 1, "the first answer was cached");
}

#[tokio::test]
async fn status_refreshes_an_expired_token_and_stores_the_new_one() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let old = serde_json::json!({
        "accessToken": fake.mint_expired_token(),
        "refreshToken": fake.mint_refresh_token(),
    });
    sb.write_creds(&old);

    let out = run(sb.cmd(&["status"])).await;
    out.expect_code(0).expect_stdout("dev@example.com");
    assert_eq!(fake.refresh_calls(), 1);

    let new = sb.read_creds();
    let access = new["accessToken"].as_str().expect("token");
    assert_ne!(new["accessToken"], old["accessToken"]);
    assert!(fake.is_valid_access_token(access));
    assert_eq!(new["refreshToken"], old["refreshToken"]);
    #[cfg(unix)]
    assert_eq!(mode(&sb.creds_path()), 0o600);
    // The expiry shown is the fresh token's, not the one that had just expired.
    let exp = jwt_exp(access).expect("exp");
    out.expect_stdout(&cursor_bridge_core::dates::iso8601(exp));
    assert!(!out.stdout.contains("expired"), "{}", out.all());

    let mut extra = secrets_in(&old);
    extra.extend(secrets_in(&new));
    assert_no_secrets(&fake, &[&out], &extra);
}

#[tokio::test]
async fn status_with_everything_revoked_says_session_expired() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);
    fake.revoke_access_tokens();
    fake.revoke_refresh_tokens();

    let out = run(sb.cmd(&["status"])).await;
    out.expect_code(3)
        .expect_stdout("session expired")
        .expect_stderr("session has expired")
        .expect_stderr("cursor-bridge login");
    // The stored credentials are kept (the user may want to inspect them).
    assert!(sb.creds_path().exists());
    assert_no_secrets(&fake, &[&out], &secrets_in(&creds));
}

#[tokio::test]
async fn logout_removes_the_credentials() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);

    let out = run(sb.cmd(&["logout"])).await;
    out.expect_code(0)
        .expect_stdout("Signed out")
        .expect_stdout(&sb.creds_path().display().to_string());
    assert!(!sb.creds_path().exists());
    assert!(!out.stdout.contains("CURSOR_ACCESS_TOKEN"));

    let after = run(sb.cmd(&["status"])).await;
    after.expect_code(3).expect_stdout("cursor-bridge login");

    // Logging out twice is fine.
    run(sb.cmd(&["logout"])).await.expect_code(0);
    assert_no_secrets(&fake, &[&out, &after], &secrets_in(&creds));
}

#[tokio::test]
async fn forget_deletes_the_kept_conversations() {
    use cursor_bridge_core::config::settings::{Paths, Settings};
    use cursor_bridge_core::cursor::blobs::BlobStore;
    use cursor_bridge_core::engine::conversations::{ConversationStore, Stored};
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let paths = Paths::in_dir(sb.home());
    let store = ConversationStore::open(
        &paths.data_dir,
        true,
        Settings::default().conversation_limits(),
    );
    let blobs = BlobStore::new();
    blobs.put_content(bytes::Bytes::from_static(b"{\"role\":\"user\"}"));
    store.put(
        [7; 32],
        &Stored {
            checkpoint: bytes::Bytes::from_static(b"\x0a\x20"),
            blobs,
            conversation_id: "c".into(),
        },
    );
    store.flush();
    let file = paths.conversations_file();
    assert!(file.exists());

    let out = run(sb.cmd(&["forget"])).await;
    out.expect_code(0)
        .expect_stdout("Forgot the kept conversations")
        .expect_stdout(&file.display().to_string());
    assert!(!file.exists());
    // Nothing left: still fine, and it says so.
    run(sb.cmd(&["forget"]))
        .await
        .expect_code(0)
        .expect_stdout("No kept conversations");
}

// ---------------------------------------------------------------------------------------
// models, usage, opencode-config
// ---------------------------------------------------------------------------------------

fn catalogue() -> Vec<FakeModel> {
    let mut models = FakeModel::default_catalogue();
    // Limits only AvailableModels knows (no family table has these numbers).
    models.push(
        FakeModel::new("mystery-1")
            .display("mystery-1", "Mystery One", "Mystery")
            .context(123_456),
    );
    for m in &mut models {
        if m.id == "gpt-5.1" {
            m.context_token_limit = 272_000;
        }
    }
    models
}

#[tokio::test]
async fn models_table_and_json() {
    let fake = FakeCursor::builder().models(catalogue()).start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);

    let table = run(sb.cmd(&["models"])).await;
    table.expect_code(0);
    let lines: Vec<&str> = table.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["ID", "CONTEXT", "OUTPUT", "REASONING", "NAME"]);
    let row = |id: &str| -> Vec<String> {
        lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row for {id}:\n{}", table.stdout))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        row("mystery-1")[..4],
        ["mystery-1", "123456", "16384", "no"]
    );
    assert_eq!(row("gpt-5.1")[..4], ["gpt-5.1", "272000", "128000", "no"]);
    assert_eq!(row("claude-4.5-sonnet-thinking")[3], "yes");
    assert_eq!(row("auto")[1], "200000");
    assert_eq!(lines.len(), 1 + catalogue().len());

    let json = run(sb.cmd(&["models", "--json"])).await;
    json.expect_code(0);
    let v = json.json();
    let list = v.as_array().expect("an array");
    assert_eq!(list.len(), catalogue().len());
    let get = |id: &str| {
        list.iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {v:#}"))
    };
    let mystery = get("mystery-1");
    assert_eq!(mystery["context_limit"], 123_456);
    assert_eq!(mystery["limit_source"], "cursor");
    assert_eq!(mystery["name"], "Mystery One");
    assert_eq!(get("claude-4.5-sonnet-thinking")["reasoning"], true);
    assert_eq!(get("claude-4.5-sonnet")["reasoning"], false);
    assert_eq!(get("auto")["wire_id"], "default");
    for m in list {
        assert!(m["output_limit"].as_u64().is_some_and(|o| o > 0), "{m}");
    }
    assert_no_secrets(&fake, &[&table, &json], &secrets_in(&creds));
}

#[tokio::test]
async fn usage_text_and_json() {
    let mut usage = FakeUsage::default();
    usage.plan.total_spend = Some(2_345);
    usage.plan.included_spend = Some(2_000);
    usage.plan.remaining = Some(-345);
    usage.plan.limit = Some(2_000);
    usage.spend_limit.total_spend = 345;
    usage.spend_limit.individual_limit = 5_005;
    usage.display_message = "You've used all of your included usage".into();
    let fake = FakeCursor::builder().usage(usage).start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);

    let text = run(sb.cmd(&["usage"])).await;
    text.expect_code(0)
        .expect_stdout("2026-01-01 00:00 UTC → 2026-02-01 00:00 UTC")
        .expect_stdout("$23.45 spent of $20.00 included, -$3.45 remaining (117.2% used)")
        .expect_stdout("$3.45 spent, limit $50.05")
        .expect_stdout("You've used all of your included usage");

    let json = run(sb.cmd(&["usage", "--json"])).await;
    json.expect_code(0);
    let v = json.json();
    assert_eq!(v["billingCycleStart"], 1_767_225_600_000_i64);
    assert_eq!(v["billingCycleEnd"], 1_769_904_000_000_i64);
    assert_eq!(v["planUsage"]["totalSpend"], 2_345);
    assert_eq!(v["planUsage"]["remaining"], -345);
    assert_eq!(v["spendLimitUsage"]["individualLimit"], 5_005);
    assert_no_secrets(&fake, &[&text, &json], &secrets_in(&creds));
}

/// Newer accounts report the plan as two pools in percent, with no cents (§9.11): the
/// text shows the total and both pools, and never a "$0.00 of $0.00".
#[tokio::test]
async fn usage_text_shows_both_pools_when_cursor_reports_percentages_only() {
    let fake = FakeCursor::builder()
        .usage(FakeUsage::percent_only(62.5, 40.0, 97.4))
        .start()
        .await;
    let sb = Sandbox::new(&fake);
    sb.write_creds(&session(&fake));
    let text = run(sb.cmd(&["usage"])).await;
    text.expect_code(0)
        .expect_stdout("Plan:           62.5% used")
        .expect_stdout("Auto + Composer: 40.0% used")
        .expect_stdout("API models:      97.4% used");
    assert!(
        !text.stdout.contains("of $0.00") && !text.stdout.contains("remaining"),
        "no zeros for figures Cursor did not send:\n{}",
        text.stdout
    );
    let json = run(sb.cmd(&["usage", "--json"])).await;
    let v = json.json();
    assert_eq!(v["planUsage"]["autoPercentUsed"], 40.0);
    assert_eq!(v["planUsage"]["apiPercentUsed"], 97.4);
    assert_eq!(v["planUsage"]["totalPercentUsed"], 62.5);
    assert!(v["planUsage"]["limit"].is_null());
}

/// Seeds the sandbox's ledger through the library, as the proxy would: two requests in
/// the last 24 h (one from OpenCode counted exactly by Cursor, with cache and reasoning
/// tokens; one a quota error for Claude Code over Anthropic Messages), one from OpenCode
/// three days ago with an estimated prompt count.
async fn seed_ledger(sb: &Sandbox) {
    use cursor_bridge_core::config::settings::Paths;
    use cursor_bridge_core::store::ledger::{Ledger, LedgerEntry, unix_now_ms};
    let now = unix_now_ms();
    let hour = 3_600_000;
    let ledger = Ledger::open(&Paths::in_dir(sb.home()).ledger_file()).expect("open ledger");
    let ok = LedgerEntry {
        started_at_ms: now - hour,
        model: "gpt-5.1".into(),
        stream: true,
        prompt_tokens: Some(100),
        completion_tokens: Some(10),
        cache_read_tokens: Some(80),
        cache_write_tokens: Some(5),
        reasoning_tokens: Some(3),
        tokens_exact: true,
        ttft_ms: Some(250),
        total_ms: 900,
        status: 200,
        dialect: "chat".into(),
        client: Some("opencode".into()),
        ..LedgerEntry::default()
    };
    ledger.record(ok.clone());
    ledger.record(LedgerEntry {
        started_at_ms: now - 2 * hour,
        model: "claude-4.5-sonnet".into(),
        prompt_tokens: None,
        completion_tokens: None,
        cache_read_tokens: None,
        cache_write_tokens: None,
        reasoning_tokens: None,
        ttft_ms: None,
        total_ms: 30,
        status: 429,
        error_kind: Some("quota".into()),
        dialect: "messages".into(),
        client: Some("claude-cli".into()),
        ..ok.clone()
    });
    ledger.record(LedgerEntry {
        started_at_ms: now - 72 * hour,
        prompt_tokens: Some(40),
        completion_tokens: Some(4),
        cache_read_tokens: None,
        cache_write_tokens: None,
        reasoning_tokens: None,
        tokens_exact: false,
        ..ok
    });
    ledger.flush().await;
    assert_eq!(ledger.written(), 3);
}

#[tokio::test]
async fn usage_shows_the_local_ledger_signed_in_and_signed_out() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    seed_ledger(&sb).await;

    // Signed out: the local part still prints; the plan part says how to sign in.
    let text = run(sb.cmd(&["usage"])).await;
    text.expect_code(3)
        .expect_stdout("Last 24 h:      2 requests, 1 error")
        .expect_stdout(
            "tokens:       100 prompt (80 cached, 5 written to cache), 10 completion (3 reasoning)",
        )
        .expect_stdout("counted:      exact (Cursor's own count)")
        .expect_stdout("first token:  p50 250 ms, p95 250 ms")
        .expect_stdout("Last 7 d:       3 requests, 1 error")
        .expect_stdout("140 prompt (80 cached, 5 written to cache), 14 completion (3 reasoning)")
        .expect_stdout("counted:      1 of 3 requests estimated (Cursor sent no count")
        .expect_stdout(
            "top models:   gpt-5.1            2 requests, 0 errors, 140 + 14 tokens (some estimated)",
        )
        .expect_stdout(
            "  by client:    opencode    2 requests, 0 errors, 140 + 14 tokens (some estimated)\n\
             \x20               claude-cli  1 request, 1 error, 0 + 0 tokens\n",
        )
        .expect_stdout(
            "  by dialect:   chat      2 requests, 0 errors, 140 + 14 tokens (some estimated)\n\
             \x20               messages  1 request, 1 error, 0 + 0 tokens\n",
        )
        .expect_stderr("cursor-bridge login");
    let signed_out = run(sb.cmd(&["usage", "--json"])).await;
    signed_out
        .expect_code(3)
        .expect_stderr("cursor-bridge login");
    let v = signed_out.json();
    assert_eq!(v["local"]["24h"]["totals"]["requests"], 2, "{v:#}");
    assert!(v.get("billingCycleStart").is_none(), "{v:#}");

    // Signed in: the plan usage object, with the ledger's reports under "local".
    let creds = session(&fake);
    sb.write_creds(&creds);
    let json = run(sb.cmd(&["usage", "--json"])).await;
    json.expect_code(0);
    let v = json.json();
    assert!(v["billingCycleStart"].is_i64(), "{v:#}");
    let day = &v["local"]["24h"];
    assert_eq!(
        day["totals"],
        serde_json::json!({"requests": 2, "errors": 1, "promptTokens": 100, "completionTokens": 10,
            "cacheReadTokens": 80, "cacheWriteTokens": 5, "reasoningTokens": 3,
            "estimatedRequests": 0})
    );
    assert_eq!(day["bucket"], "hour");
    assert_eq!(day["tokensExact"], true);
    assert_eq!(day["latency"]["ttftP50Ms"], 250);
    assert_eq!(
        day["errorsByKind"],
        serde_json::json!([{"kind": "quota", "count": 1}])
    );
    assert_eq!(
        day["byClient"],
        serde_json::json!([
            {"key": "claude-cli", "requests": 1, "errors": 1, "promptTokens": 0,
             "completionTokens": 0, "estimatedRequests": 0},
            {"key": "opencode", "requests": 1, "errors": 0, "promptTokens": 100,
             "completionTokens": 10, "estimatedRequests": 0},
        ])
    );
    assert_eq!(day["byDialect"][0]["key"], "chat", "{day:#}");
    assert_eq!(
        day["seriesByClient"].as_array().map(Vec::len),
        Some(2),
        "{day:#}"
    );
    let week = &v["local"]["7d"];
    assert_eq!(week["totals"]["requests"], 3);
    assert_eq!(week["totals"]["estimatedRequests"], 1);
    assert_eq!(week["bucket"], "day");
    assert_eq!(
        week["tokensExact"], false,
        "the 3-day-old prompt count was estimated"
    );
    assert_no_secrets(&fake, &[&text, &signed_out, &json], &secrets_in(&creds));
}

#[tokio::test]
async fn usage_reports_a_damaged_ledger_and_still_shows_the_plan() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    sb.write_creds(&session(&fake));
    let ledger = sb.home().join("ledger.sqlite3");
    std::fs::write(&ledger, b"not a database, just some bytes".repeat(300)).expect("garbage");

    let out = run(sb.cmd(&["usage"])).await;
    out.expect_code(1)
        .expect_stdout("Billing cycle:")
        .expect_stderr(&format!(
            "the usage database at {} is damaged",
            ledger.display()
        ))
        .expect_stderr("move it aside to start a new one");
}

#[tokio::test]
async fn opencode_config_lists_every_model_with_limits() {
    let fake = FakeCursor::builder().models(catalogue()).start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);

    let out = run(sb.cmd(&["opencode-config", "--port", "4242"])).await;
    out.expect_code(0);
    let v = out.json();
    let p = &v["provider"]["cursor-bridge"];
    assert_eq!(p["npm"], "@ai-sdk/openai-compatible");
    assert_eq!(p["options"]["baseURL"], "http://127.0.0.1:4242/v1");

    let key_file = sb.home().join("local-api-key");
    let key = std::fs::read_to_string(&key_file).expect("local-api-key created");
    assert_eq!(p["options"]["apiKey"], key.trim());
    #[cfg(unix)]
    assert_eq!(mode(&key_file), 0o600);

    let models = p["models"].as_object().expect("models map");
    assert!(models.contains_key("auto"), "{p:#}");
    assert_eq!(models.len(), catalogue().len());
    for (id, m) in models {
        assert!(
            m["limit"]["context"].as_u64().is_some_and(|c| c > 0),
            "{id}: {m}"
        );
        assert!(
            m["limit"]["output"].as_u64().is_some_and(|o| o > 0),
            "{id}: {m}"
        );
        assert_eq!(m["tool_call"], true, "{id}");
    }
    assert_eq!(models["mystery-1"]["limit"]["context"], 123_456);
    assert_eq!(models["claude-4.5-sonnet-thinking"]["reasoning"], true);

    // The same key next time; an explicit key wins and does not replace the stored one.
    let again = run(sb.cmd(&["opencode-config", "--port", "4242"])).await;
    assert_eq!(
        again.json()["provider"]["cursor-bridge"]["options"]["apiKey"],
        key.trim()
    );
    let mut explicit = sb.cmd(&["opencode-config"]);
    explicit.env("CURSOR_BRIDGE_API_KEY", "cb-explicit-key");
    let explicit = run(explicit).await;
    let e = explicit.json();
    assert_eq!(
        e["provider"]["cursor-bridge"]["options"]["apiKey"],
        "cb-explicit-key"
    );
    assert_eq!(
        e["provider"]["cursor-bridge"]["options"]["baseURL"],
        "http://127.0.0.1:18741/v1"
    );
    assert_eq!(std::fs::read_to_string(&key_file).expect("key file"), key);
    assert_no_secrets(&fake, &[&out, &again, &explicit], &secrets_in(&creds));
}

/// The user's own OpenCode config: comments, trailing commas, another provider.
const USER_OPENCODE_CONFIG: &str = r#"// my OpenCode config
{
  "$schema": "https://opencode.ai/config.json",
  /* the default model */
  "model": "ollama/llama3",
  "provider": {
    "ollama": {
      "npm": "@ai-sdk/openai-compatible",
      "options": { "baseURL": "http://localhost:11434/v1" }, // local
      "models": { "llama3": {} },
    },
  },
}
"#;

fn jsonc(text: &str) -> Value {
    jsonc_parser::parse_to_serde_value(text, &Default::default())
        .unwrap_or_else(|e| panic!("not JSONC ({e}):\n{text}"))
}

/// `opencode-config --write` on a symlink out of its directory is refused with nothing
/// written; `--follow-symlink` edits the target and prints where it went.
#[cfg(unix)]
#[tokio::test]
async fn opencode_config_write_follows_a_symlink_out_only_when_asked() {
    let fake = FakeCursor::builder().models(catalogue()).start().await;
    let sb = Sandbox::new(&fake);
    sb.write_creds(&session(&fake));
    let (link, target) = sb.link_out(&sb.dir.path().join("project"), "opencode.jsonc");
    let link_arg = link.to_str().expect("utf-8 path");
    let resolved = std::fs::canonicalize(&target).expect("canonical");

    let refused = run(sb.cmd(&["opencode-config", "--write", link_arg, "--port", "4242"])).await;
    refused.expect_code(2).expect_stderr("--follow-symlink");
    assert_eq!(std::fs::read_to_string(&target).expect("read"), "{}\n");

    let followed = run(sb.cmd(&[
        "opencode-config",
        "--write",
        link_arg,
        "--follow-symlink",
        "--port",
        "4242",
    ]))
    .await;
    followed.expect_code(0).expect_stdout(&format!(
        "{link_arg} is a symlink to {}",
        resolved.display()
    ));
    assert!(
        std::fs::read_to_string(&target)
            .expect("read")
            .contains("cursor-bridge")
    );
}

#[tokio::test]
async fn opencode_config_write_merges_into_a_commented_file_with_a_backup() {
    let fake = FakeCursor::builder().models(catalogue()).start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);
    let dir = sb.dir.path().join("project");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("opencode.jsonc");
    std::fs::write(&path, USER_OPENCODE_CONFIG).expect("write config");
    let path_arg = path.to_str().expect("utf-8 path");

    let out = run(sb.cmd(&["opencode-config", "--write", path_arg, "--port", "4242"])).await;
    out.expect_code(0)
        .expect_stdout(path_arg)
        .expect_stdout("Backup");

    let text = std::fs::read_to_string(&path).expect("read config");
    for kept in [
        "// my OpenCode config\n",
        "  /* the default model */\n",
        "\"options\": { \"baseURL\": \"http://localhost:11434/v1\" }, // local\n",
    ] {
        assert!(text.contains(kept), "lost {kept:?}:\n{text}");
    }
    let (before, after) = (jsonc(USER_OPENCODE_CONFIG), jsonc(&text));
    assert_eq!(after["model"], before["model"]);
    assert_eq!(after["provider"]["ollama"], before["provider"]["ollama"]);
    let ours = &after["provider"]["cursor-bridge"];
    assert_eq!(ours["options"]["baseURL"], "http://127.0.0.1:4242/v1");
    let key = std::fs::read_to_string(sb.home().join("local-api-key")).expect("local key");
    assert_eq!(ours["options"]["apiKey"], key.trim());
    assert_eq!(
        ours["models"].as_object().expect("models").len(),
        catalogue().len()
    );

    let backups: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p != &path)
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = &backups[0];
    let name = backup.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(name.starts_with("opencode.jsonc.bak-"), "{name}");
    out.expect_stdout(backup.to_str().expect("utf-8"));
    assert_eq!(
        std::fs::read(backup).expect("backup"),
        USER_OPENCODE_CONFIG.as_bytes()
    );

    // Again: nothing to change, so nothing written and no second backup.
    let again = run(sb.cmd(&["opencode-config", "--write", path_arg, "--port", "4242"])).await;
    again.expect_code(0).expect_stdout("nothing written");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
    assert_eq!(std::fs::read_dir(&dir).expect("read dir").count(), 2);

    // A file it cannot merge into: exit 2, the file named, untouched, no backup.
    let broken = dir.join("broken.json");
    std::fs::write(&broken, "{ \"provider\": \"nope\" }\n").expect("write");
    let refused = run(sb.cmd(&[
        "opencode-config",
        "--write",
        broken.to_str().expect("utf-8"),
    ]))
    .await;
    refused
        .expect_code(2)
        .expect_stderr(broken.to_str().expect("utf-8"))
        .expect_stderr("`provider` is a string");
    assert_eq!(
        std::fs::read(&broken).expect("read"),
        b"{ \"provider\": \"nope\" }\n"
    );
    assert_eq!(std::fs::read_dir(&dir).expect("read dir").count(), 3);

    // No path: OpenCode's global config under the (fake) home, created private.
    let global = run(sb.cmd(&["opencode-config", "--write"])).await;
    global.expect_code(0).expect_stdout("Created");
    let created = sb
        .dir
        .path()
        .join("user-home/.config/opencode/opencode.json");
    let v = jsonc(&std::fs::read_to_string(&created).expect("global config created"));
    assert_eq!(v["$schema"], "https://opencode.ai/config.json");
    assert_eq!(
        v["provider"]["cursor-bridge"]["options"]["apiKey"],
        key.trim()
    );
    #[cfg(unix)]
    assert_eq!(mode(&created), 0o600);

    assert_no_secrets(
        &fake,
        &[&out, &again, &refused, &global],
        &[secrets_in(&creds), vec![key.trim().to_string()]].concat(),
    );
}

// ---------------------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn serve_reports_its_port_serves_health_guards_host_and_stops_on_sigint() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);

    let mut serve = Running::spawn(sb.cmd(&["serve", "--port", "0"]));
    let line = serve
        .line_where("the listening address", |l| {
            l.contains("listening on http://")
        })
        .await;
    let base = listening_url(&line).expect("an address");
    let port: u16 = base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    assert_ne!(port, 0, "{line}");
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");

    let client = http1(WAIT);
    let health = client
        .get(format!("{base}/health"))
        .send()
        .await
        .expect("GET /health");
    assert_eq!(health.status(), 200);
    let h: Value = health.json().await.expect("health JSON");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["signed_in"], true);

    let evil = client
        .get(format!("{base}/health"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("GET /health with a foreign Host");
    assert_eq!(evil.status(), 403);
    let e: Value = evil.json().await.expect("error JSON");
    assert_eq!(e["error"]["code"], "invalid_host");

    let out = serve.interrupt().await;
    assert_no_secrets(&fake, &[&out], &secrets_in(&creds));
}

/// Issue 15: every refused request was one log line carrying its whole path, so a client
/// hammering with bad keys or junk paths filled the log. Now: the first 10 a minute are
/// logged (path cut to 80 characters, never the key), then one line says the rest are
/// only counted.
#[tokio::test]
async fn serve_logs_refused_requests_in_summary_with_short_paths_and_never_the_key() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    sb.write_creds(&session(&fake));
    let (serve, base) = serve_on_a_free_port(&sb).await;
    let key = sb.local_key();
    let wrong = "cb-wrong-key-4f1d9c2e7a";
    let long = format!("/v1/{}", "p".repeat(300));
    let client = http1(WAIT);
    for i in 0..40 {
        let req = if i % 2 == 0 {
            client.get(format!("{base}{long}")).bearer_auth(wrong)
        } else {
            client
                .get(format!("{base}{long}?key={key}"))
                .bearer_auth(&key)
        };
        let res = req.send().await.expect("the proxy answers");
        assert_eq!(res.status(), if i % 2 == 0 { 401 } else { 404 });
    }
    let out = serve.interrupt().await;
    let refused: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("refused a request"))
        .collect();
    assert_eq!(refused.len(), 10, "{}", out.stderr);
    assert!(
        refused.iter().any(|l| l.contains("invalid_api_key"))
            && refused.iter().any(|l| l.contains("unknown_url")),
        "{}",
        out.stderr
    );
    let counted = out
        .stderr
        .lines()
        .filter(|l| l.contains("further ones are counted"))
        .count();
    assert_eq!(counted, 1, "{}", out.stderr);
    assert!(
        !out.stderr.contains(&"p".repeat(81)),
        "paths are cut: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(wrong) && !out.stderr.contains(&key),
        "no key in the log: {}",
        out.stderr
    );
}

#[tokio::test]
async fn serve_sigint_right_after_readiness_is_still_graceful() {
    // Regression: the Ctrl-C handler was installed only when the server first polled its
    // shutdown future, after the "listening" line, so a supervisor that signalled as soon
    // as it saw the line killed the process instead of stopping it. SIGTERM (what service
    // managers send) stops it gracefully too.
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    for signal in ["-INT", "-TERM", "-INT", "-TERM", "-INT"] {
        let mut serve = Running::spawn(sb.cmd(&["serve", "--port", "0"]));
        serve
            .line_where("the listening address", |l| l.contains("listening on"))
            .await;
        let pid = serve.pid().to_string();
        let kill = Command::new("kill").args([signal, &pid]).status().await;
        assert!(kill.expect("run kill").success());
        serve.finish().await.expect_code(0);
    }
}

#[tokio::test]
async fn serve_port_in_use_and_non_loopback_host_are_refused() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);

    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let busy = run(sb.cmd(&["serve", "--port", &port])).await;
    busy.expect_code(1)
        .expect_stderr(&format!("port {port} is already in use"))
        .expect_stderr("--port");

    let open = run(sb.cmd(&["serve", "--host", "0.0.0.0", "--port", "0"])).await;
    open.expect_code(2).expect_stderr("loopback");
    drop(taken);

    // Exposed to the network without the key: refused before anything is bound.
    sb.write_settings("allow_non_loopback = true\nrequire_api_key = false\n");
    let unprotected = run(sb.cmd(&["serve", "--port", "0"])).await;
    unprotected
        .expect_code(1)
        .expect_stderr("require_api_key")
        .expect_stderr("allow_non_loopback");
}

// ---------------------------------------------------------------------------------------
// Keychain, environment token
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn no_keychain_is_a_clear_error_and_nothing_is_written_in_plaintext() {
    let key = "key_0123456789abcdef0123456789abcdef";
    let fake = FakeCursor::builder().api_key(key).start().await;
    let sb = Sandbox::new(&fake);

    let status = run(sb.keychain_cmd(&["status"])).await;
    status
        .expect_code(1)
        .expect_stderr("keychain")
        .expect_stderr("CURSOR_BRIDGE_CREDENTIALS_FILE");

    let login = run_with_stdin(
        sb.keychain_cmd(&["login", "--api-key-stdin"]),
        Some(&format!("{key}\n")),
    )
    .await;
    login
        .expect_code(1)
        .expect_stderr("keychain")
        .expect_stderr("CURSOR_BRIDGE_CREDENTIALS_FILE");
    assert!(!login.stdout.contains("Signed in as"), "{}", login.all());
    // The store is checked before the key is exchanged: no session is minted for nothing.
    assert_eq!(fake.exchange_calls(), 0);

    let files = sb.files();
    assert!(files.is_empty(), "files were written: {files:?}");
    assert_no_secrets(&fake, &[&status, &login], &[key.into()]);
}

#[tokio::test]
async fn access_token_from_the_environment_needs_no_store() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let token = fake.mint_access_token(Duration::from_secs(3600));

    // No credential store at all (the keychain is unreachable here): the env token is enough.
    let mut models = sb.keychain_cmd(&["models", "--json"]);
    models.env("CURSOR_ACCESS_TOKEN", &token);
    let models = run(models).await;
    models.expect_code(0);
    assert!(models.json().as_array().is_some_and(|a| a.len() >= 3));
    assert_eq!(fake.bearer_tokens_seen(), std::slice::from_ref(&token));

    let mut status = sb.keychain_cmd(&["status"]);
    status.env("CURSOR_ACCESS_TOKEN", &token);
    let status = run(status).await;
    status
        .expect_code(0)
        .expect_stdout("dev@example.com")
        .expect_stdout("CURSOR_ACCESS_TOKEN");

    // logout removes what is stored, and says the env token still applies.
    let creds = session(&fake);
    sb.write_creds(&creds);
    let mut logout = sb.cmd(&["logout"]);
    logout.env("CURSOR_ACCESS_TOKEN", &token);
    let logout = run(logout).await;
    logout
        .expect_code(0)
        .expect_stdout("Signed out")
        .expect_stdout("CURSOR_ACCESS_TOKEN is set in the environment and is still used");
    assert!(!sb.creds_path().exists());

    let mut extra = vec![token];
    extra.extend(secrets_in(&creds));
    assert_no_secrets(&fake, &[&models, &status, &logout], &extra);
}

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn help_everywhere_and_unknown_commands_are_usage_errors() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let cases: [(&[&str], &str); 8] = [
        (&["--help"], "OpenAI-compatible"),
        (&["login", "--help"], "Sign in to Cursor"),
        (&["logout", "--help"], "Sign out"),
        (&["status", "--help"], "who is signed in"),
        (&["models", "--help"], "models your Cursor plan can use"),
        (&["usage", "--help"], "plan usage"),
        (&["serve", "--help"], "local proxy"),
        (&["opencode-config", "--help"], "OpenCode provider block"),
    ];
    for (args, purpose) in cases {
        let out = run(sb.cmd(args)).await;
        out.expect_code(0)
            .expect_stdout(purpose)
            .expect_stdout("Usage:");
    }
    let out = run(sb.cmd(&["--help"])).await;
    for cmd in [
        "login",
        "logout",
        "status",
        "models",
        "usage",
        "serve",
        "opencode-config",
    ] {
        out.expect_stdout(cmd);
    }

    let unknown = run(sb.cmd(&["frobnicate"])).await;
    unknown.expect_code(2).expect_stderr("frobnicate");
    let bad_flag = run(sb.cmd(&["models", "--jsn"])).await;
    bad_flag.expect_code(2);
    let none = run(sb.cmd(&[])).await;
    none.expect_code(2);
    assert!(fake.unary_calls().is_empty());
}

/// `serve --port 0` running, and the base URL it printed.
async fn serve_on_a_free_port(sb: &Sandbox) -> (Running, String) {
    let mut serve = Running::spawn(sb.cmd(&["serve", "--port", "0"]));
    let line = serve
        .line_where("the listening address", |l| {
            l.contains("listening on http://")
        })
        .await;
    (serve, listening_url(&line).expect("an address"))
}

/// One chat through `serve` at `base`; the HTTP status and the error code, if any.
async fn guarded_chat(base: &str, key: &str) -> (u16, String) {
    let res = http1(WAIT)
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .json(
            &serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .expect("the proxy answers");
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("JSON body");
    (
        status,
        body["error"]["code"].as_str().unwrap_or_default().into(),
    )
}

#[tokio::test]
async fn guard_status_pause_and_resume_act_on_the_running_serve() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    let creds = session(&fake);
    sb.write_creds(&creds);
    sb.write_settings("guard_requests_per_minute = 1\n");

    let (serve, base) = serve_on_a_free_port(&sb).await;
    let base = base.trim_end_matches("/v1").to_string();
    let port = base.rsplit(':').next().expect("a port").to_string();
    let key = sb.local_key();
    let guard = |cmd: &'static str| {
        let port = port.clone();
        let sb = &sb;
        async move { run(sb.cmd(&["guard", cmd, "--port", &port])).await }
    };

    let calm = guard("status").await;
    calm.expect_code(0)
        .expect_stdout("Guard: on")
        .expect_stdout("guard_requests_per_minute")
        .expect_stdout("0 of 1");
    assert_eq!(guarded_chat(&base, &key).await.0, 200);
    assert_eq!(
        guarded_chat(&base, &key).await,
        (400, "guard_tripped".into())
    );
    let tripped = guard("status").await;
    tripped
        .expect_code(0)
        .expect_stdout("Guard: tripped")
        .expect_stdout("guard_requests_per_minute: 1 of 1, 1 refused")
        .expect_stdout("(guard_requests_per_minute = 1)")
        .expect_stdout("cursor-bridge guard resume");

    guard("pause").await.expect_code(0).expect_stdout("Paused");
    assert_eq!(
        guarded_chat(&base, &key).await,
        (403, "guard_paused".into())
    );
    let resumed = guard("resume").await;
    resumed.expect_code(0).expect_stdout("Guard: on");
    assert!(!resumed.all().contains("Tripped"), "{}", resumed.all());
    assert_eq!(guarded_chat(&base, &key).await.0, 200, "resumed");

    serve.interrupt().await;

    // No proxy: the rules and today's counts from the ledger; nothing to resume or pause.
    // Asked on a port this test holds bound but not listening (connections are refused),
    // not on the freed one, which any other process on the machine may bind meanwhile.
    let held = tokio::net::TcpSocket::new_v4().expect("socket");
    held.bind(([127, 0, 0, 1], 0).into()).expect("bind");
    let port = held.local_addr().expect("addr").port().to_string();
    let guard = |cmd: &'static str| {
        let port = port.clone();
        let sb = &sb;
        async move { run(sb.cmd(&["guard", cmd, "--port", &port])).await }
    };
    let offline = guard("status").await;
    offline
        .expect_code(0)
        .expect_stdout("The proxy is not running")
        .expect_stdout("guard_daily_requests");
    let json = run(sb.cmd(&["guard", "status", "--json", "--port", &port])).await;
    json.expect_code(0);
    let status = json.json();
    assert!(status["requestsToday"].as_u64() >= Some(2), "{status}");
    assert_eq!(status["rules"]["requestsPerMinute"], 1);
    for cmd in ["resume", "pause"] {
        guard(cmd)
            .await
            .expect_code(1)
            .expect_stderr("no Cursor Bridge proxy is running");
    }
}

// ---------------------------------------------------------------------------------------
// process hardening (cursor-bridge-harden)
// ---------------------------------------------------------------------------------------

/// The secrets the CLI reads from its environment do not reach the processes it starts:
/// the browser it opens for the sign-in (a script named by `BROWSER`, as a user sets one)
/// sees the rest of the environment but neither `CURSOR_ACCESS_TOKEN` nor
/// `CURSOR_BRIDGE_API_KEY`; nor does the kernel's copy of the CLI's own environment
/// (`/proc/<pid>/environ`, what another process of the user could read), since the CLI
/// execs itself without them.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn secrets_in_the_environment_do_not_reach_the_browser() {
    use std::os::unix::fs::PermissionsExt as _;
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    // The browser writes its environment into a FIFO: the read below ends when it has.
    let fifo = sb.dir.path().join("browser-env");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let browser = sb.dir.path().join("browser.sh");
    std::fs::write(&browser, format!("#!/bin/sh\nenv > '{}'\n", fifo.display()))
        .expect("write the browser");
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let (token, key) = ("secret-access-token-42", "cb-secret-local-key-42");
    let mut cmd = sb.cmd(&["login"]);
    cmd.env("BROWSER", &browser)
        .env("CURSOR_ACCESS_TOKEN", token)
        .env("CURSOR_BRIDGE_API_KEY", key);
    let login = Running::spawn(cmd);
    let read = tokio::task::spawn_blocking(move || std::fs::read_to_string(&fifo));
    let seen = timeout(WAIT, read)
        .await
        .expect("the browser ran")
        .expect("join")
        .expect("read the browser's environment");
    let own = std::fs::read(format!("/proc/{}/environ", login.pid())).expect("read environ");
    let own = String::from_utf8_lossy(&own).replace('\0', "\n");
    drop(login);
    assert!(own.contains("BROWSER="), "the CLI's environment: {own}");
    for secret in [token, key] {
        assert!(
            !own.contains(secret),
            "{secret} in the CLI's /proc environ: {own}"
        );
    }

    assert!(
        seen.contains(&format!("CURSOR_BRIDGE_HOME={}", sb.home().display())),
        "the browser got the rest of the environment: {seen}"
    );
    for secret in [token, key, "CURSOR_ACCESS_TOKEN", "CURSOR_BRIDGE_API_KEY"] {
        assert!(
            !seen.contains(secret),
            "{secret} reached the browser: {seen}"
        );
    }
}

/// A running `serve` cannot dump core: its core-file limit is 0, soft and hard (a child it
/// starts inherits that). It is also not dumpable (`PR_SET_DUMPABLE` 0), which shows from
/// outside only as its `/proc/<pid>` files belonging to root — invisible when the tests
/// run as root, so `harden`'s own unit test checks that flag.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn serve_runs_with_core_dumps_off() {
    let fake = FakeCursor::builder().start().await;
    let sb = Sandbox::new(&fake);
    sb.write_creds(&session(&fake));
    let mut serve = Running::spawn(sb.cmd(&["serve", "--port", "0"]));
    serve
        .line_where("the listening address", |l| {
            l.contains("listening on http://")
        })
        .await;
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", serve.pid()))
        .expect("read /proc/<pid>/limits");
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core file size line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");
}

/// The descriptor number that hands the secrets over a re-exec is trusted only when it is
/// our own memfd: a stale `CURSOR_BRIDGE_SECRETS_FD` (inherited from some process we
/// started) naming stdin leaves stdin alone, and a key typed there still signs in; the
/// secrets set in the environment are still taken over and used.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_stale_secrets_descriptor_is_ignored() {
    let key = "key_0123456789abcdef0123456789abcdef";
    let fake = FakeCursor::builder().api_key(key).start().await;
    let sb = Sandbox::new(&fake);
    let mut cmd = sb.cmd(&["login", "--api-key-stdin"]);
    cmd.env("CURSOR_BRIDGE_SECRETS_FD", "0")
        .env("CURSOR_BRIDGE_API_KEY", "cb-local-key-from-env");
    let out = run_with_stdin(cmd, Some(&format!("{key}\n"))).await;
    out.expect_code(0)
        .expect_stdout("Signed in as dev@example.com.");
    assert_eq!(sb.read_creds()["apiKey"], key);

    let mut key_cmd = sb.cmd(&["key"]);
    key_cmd
        .env("CURSOR_BRIDGE_SECRETS_FD", "0")
        .env("CURSOR_BRIDGE_API_KEY", "cb-local-key-from-env");
    run(key_cmd)
        .await
        .expect_code(0)
        .expect_stdout("cb-local-key-from-env");
}
