//! Secrets never leak: the real `cursor-bridge` binary runs with `RUST_LOG=trace` against
//! the fake Cursor through a user's whole day — API-key login from stdin, status, models,
//! `serve` with chats (plain, streamed, a wrong local key, an expired session refreshed,
//! a refresh that fails, Cursor errors with details) — and then every byte it produced is
//! searched for every secret and its distinctive pieces: stdout and stderr of every
//! command, every file under the home (settings, ledger database and its WAL, logs, app
//! state), every HTTP status line, header and body the client got, `/health`. The two
//! files whose job is to hold a secret (the opted-in credentials file and the local API
//! key) are skipped and must be mode 0600.
//!
//! The `Debug` output of every type that holds a secret (what a panic or a `{:?}` log
//! prints) is checked in-process the same way.

mod common;

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

use cursor_bridge_core::config::settings::{Env, Paths, Settings};
use cursor_bridge_core::proxy::ProxyState;
use cursor_bridge_core::store::credentials::Credentials;
use cursor_bridge_tests::{EndError, ErrorKind, FakeCursor, Turn};

#[cfg(unix)]
use common::mode;
use common::{Sandbox, http1, session, wait_for_listening};

const WAIT: Duration = Duration::from_secs(15);

/// `cursor-bridge <args>`, file credential store, everything logged.
fn traced(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = sb.cmd(args);
    c.env("RUST_LOG", "trace");
    c
}

/// Runs a command to the end (stdin written, then closed); "<cmd> exit=… stdout stderr".
async fn run(sb: &Sandbox, args: &[&str], stdin: Option<&str>) -> (i32, String) {
    let mut c = traced(sb, args);
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c.spawn().expect("spawn cursor-bridge");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(input.as_bytes()).await.expect("write stdin");
        drop(pipe);
    }
    let out = timeout(WAIT, child.wait_with_output())
        .await
        .expect("cursor-bridge finishes")
        .expect("wait");
    let code = out.status.code().expect("exit code");
    let text = format!(
        "$ cursor-bridge {}\nexit {code}\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (code, text)
}

/// `serve` in the background: its address, and its whole output once stopped.
struct Serve {
    child: tokio::process::Child,
    base: String,
    out: tokio::task::JoinHandle<String>,
    err: tokio::task::JoinHandle<String>,
}

impl Serve {
    async fn start(sb: &Sandbox) -> Serve {
        let mut child = traced(sb, &["serve", "--port", "0"])
            .spawn()
            .expect("spawn serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut stderr = child.stderr.take().expect("stderr");
        // Trace logging is verbose: drain stderr all along so the child never blocks.
        let err = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        });
        let mut seen = String::new();
        let base = wait_for_listening(&mut stdout, &mut seen, WAIT).await;
        let out = tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                seen.push_str(&line);
                seen.push('\n');
            }
            seen
        });
        Serve {
            child,
            base,
            out,
            err,
        }
    }

    /// SIGINT, wait, and everything it printed.
    async fn stop(mut self) -> String {
        let pid = self.child.id().expect("running").to_string();
        let kill = Command::new("kill").args(["-INT", &pid]).status().await;
        assert!(kill.expect("kill").success());
        let status = timeout(WAIT, self.child.wait())
            .await
            .expect("serve stops")
            .expect("wait");
        assert_eq!(status.code(), Some(0));
        format!(
            "$ cursor-bridge serve\n{}\n{}",
            self.out.await.expect("stdout"),
            self.err.await.expect("stderr")
        )
    }
}

/// What the client got: status line, every header, the body.
async fn transcript(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let mut t = format!("HTTP {status}\n");
    for (n, v) in res.headers() {
        t.push_str(&format!("{n}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    t.push_str(&res.text().await.expect("body"));
    (status, t)
}

/// A secret and the pieces of it that would give it away on their own: a JWT's payload
/// and signature, the random middle of a key.
fn pieces(secret: &str) -> Vec<String> {
    let mut out = vec![secret.to_string()];
    let parts: Vec<&str> = secret.split('.').collect();
    if parts.len() == 3 {
        // The header (`{"alg":"HS256",…}`) is the same for every token: not distinctive.
        out.extend(parts[1..].iter().map(|p| p.to_string()));
    } else if secret.len() >= 24 {
        let mid = secret.len() / 2;
        out.push(secret[mid - 8..mid + 8].to_string());
    }
    out.retain(|p| p.len() >= 12);
    out
}

/// Every secret the fake issued or received, plus `extra`.
fn all_secrets(fake: &FakeCursor, extra: &[String]) -> Vec<String> {
    let mut s: Vec<String> = fake.bearer_tokens_seen();
    for call in fake.unary_calls() {
        if let Ok(body) = serde_json::from_slice::<Value>(&call.body)
            && let Some(rt) = body.get("refresh_token").and_then(Value::as_str)
        {
            s.push(rt.to_string());
        }
    }
    s.extend(extra.iter().cloned());
    s.sort();
    s.dedup();
    s
}

#[track_caller]
fn assert_clean(what: &str, text: &[u8], secrets: &[String]) {
    for secret in secrets {
        for piece in pieces(secret) {
            let found = text.windows(piece.len()).any(|w| w == piece.as_bytes());
            assert!(
                !found,
                "{what} contains a secret (piece {piece:?} of a {}-char secret):\n{}",
                secret.len(),
                String::from_utf8_lossy(text)
                    .lines()
                    .filter(|l| l.contains(piece.as_str()))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}

fn chat(stream: bool) -> Value {
    json!({"model": "auto", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn no_secret_reaches_any_output_file_or_response() {
    let api_key = format!("key_{}", "5eC7e7a1b2c3d4e5f60718293a4b5c6d");
    let fake = FakeCursor::builder().api_key(&api_key).start().await;
    let sb = Sandbox::new(&fake);
    let mut outputs: Vec<(String, String)> = Vec::new();
    let mut responses: Vec<String> = Vec::new();

    // Login with the API key from stdin, then status and models.
    let (code, out) = run(
        &sb,
        &["login", "--api-key-stdin"],
        Some(&format!("{api_key}\n")),
    )
    .await;
    assert_eq!(code, 0, "{out}");
    outputs.push(("login".into(), out));
    let first_creds = sb.read_creds();
    for args in [&["status"][..], &["models"], &["models", "--json"]] {
        let (code, out) = run(&sb, args, None).await;
        assert_eq!(code, 0, "{out}");
        outputs.push((args.join(" "), out));
    }

    // serve, with every kind of exchange a client can have.
    let serve = Serve::start(&sb).await;
    let key = sb.local_key();
    let http = http1(WAIT);
    let post = |body: Value, key: &str| {
        http.post(format!("{}/v1/chat/completions", serve.base))
            .bearer_auth(key)
            .json(&body)
            .send()
    };
    let mut expect = |(status, t): (u16, String), want: u16| {
        assert_eq!(status, want, "{t}");
        responses.push(t);
    };
    expect(
        transcript(post(chat(false), &key).await.expect("chat")).await,
        200,
    );
    expect(
        transcript(post(chat(true), &key).await.expect("stream")).await,
        200,
    );
    expect(
        transcript(
            post(chat(false), "cb-wrong-key-0123456789abcdef")
                .await
                .expect("wrong key"),
        )
        .await,
        401,
    );
    // Cursor stops accepting the access token: the client refreshes (re-exchanging the
    // stored API key) and retries.
    fake.revoke_access_tokens();
    let exchanges = fake.exchange_calls();
    expect(
        transcript(post(chat(false), &key).await.expect("refreshed")).await,
        200,
    );
    assert!(
        fake.exchange_calls() > exchanges,
        "the session was refreshed"
    );
    // Cursor errors with details, one of them repeating the caller's own token back.
    let token = sb.read_creds()["accessToken"]
        .as_str()
        .expect("token")
        .to_string();
    fake.push_turn(Turn::new().end_with(
        EndError::new("resource_exhausted", "You have hit your usage limit").detail(
            ErrorKind::FreeUserUsageLimit,
            "Usage limit",
            "Upgrade to continue",
        ),
    ));
    expect(
        transcript(post(chat(false), &key).await.expect("quota")).await,
        429,
    );
    fake.push_turn(Turn::new().end_with(
        EndError::new("internal", format!("bad token {token}")).detail(
            ErrorKind::Unspecified,
            format!("token {token}"),
            format!("Bearer {token}"),
        ),
    ));
    let (s, t) = transcript(post(chat(true), &key).await.expect("echo")).await;
    expect((s, t), 502);
    for path in ["/health", "/v1/models"] {
        let res = http
            .get(format!("{}{path}", serve.base))
            .bearer_auth(&key)
            .send()
            .await
            .expect("get");
        expect(transcript(res).await, 200);
    }
    outputs.push(("serve (API key)".into(), serve.stop().await));

    // A browser-login user's session (access + refresh token): a refresh through
    // /oauth/token, then one that fails because Cursor revoked the session.
    let oauth = session(&fake);
    std::fs::write(sb.creds_path(), oauth.to_string()).expect("write creds");
    let serve = Serve::start(&sb).await;
    let post = |body: Value| {
        http.post(format!("{}/v1/chat/completions", serve.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    fake.revoke_access_tokens();
    let refreshes = fake.refresh_calls();
    let (s, t) = transcript(post(chat(false)).await.expect("refreshed")).await;
    assert_eq!(s, 200, "{t}");
    assert!(
        fake.refresh_calls() > refreshes,
        "refreshed through /oauth/token"
    );
    responses.push(t);
    fake.revoke_access_tokens();
    fake.revoke_refresh_tokens();
    let (s, t) = transcript(post(chat(true)).await.expect("expired")).await;
    assert_eq!(s, 503, "{t}");
    assert!(t.contains("session_expired"), "{t}");
    responses.push(t);
    let (_, t) = transcript(
        http.get(format!("{}/health", serve.base))
            .send()
            .await
            .expect("health"),
    )
    .await;
    responses.push(t);
    outputs.push(("serve (OAuth)".into(), serve.stop().await));
    let (_, out) = run(&sb, &["status"], None).await;
    outputs.push(("status (expired)".into(), out));

    // Now look everywhere.
    let mut extra: Vec<String> = vec![api_key.clone(), key.clone(), token];
    for creds in [&first_creds, &oauth] {
        extra.extend(
            creds
                .as_object()
                .expect("object")
                .values()
                .filter_map(Value::as_str)
                .map(str::to_string),
        );
    }
    let secrets = all_secrets(&fake, &extra);
    assert!(
        secrets.len() >= 6,
        "the test knows its secrets: {}",
        secrets.len()
    );
    for (what, text) in &outputs {
        assert_clean(what, text.as_bytes(), &secrets);
    }
    for t in &responses {
        assert_clean("an HTTP response", t.as_bytes(), &secrets);
    }
    let mut checked = Vec::new();
    for f in sb.files() {
        if f == sb.creds_path() || f == sb.key_path() {
            #[cfg(unix)]
            assert_eq!(mode(&f), 0o600, "{} holds a secret", f.display());
            continue;
        }
        let bytes = std::fs::read(&f).expect("read file");
        assert_clean(&f.display().to_string(), &bytes, &secrets);
        checked.push(f.file_name().expect("name").to_string_lossy().to_string());
    }
    assert!(
        checked.iter().any(|n| n.starts_with("ledger.sqlite3")),
        "the ledger was searched: {checked:?}"
    );
    // The logs really were at trace level (so the search meant something).
    assert!(
        outputs.iter().any(|(_, t)| t.contains("TRACE")),
        "RUST_LOG=trace produced trace lines"
    );
}

/// What a panic message or a `{:?}` log would print of every type holding a secret.
#[tokio::test]
async fn debug_output_of_secret_holders_is_redacted() {
    let fake = FakeCursor::builder().start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let local_key = "cb-LocalProxyKeyAbcdefghijklmnop0123456789";
    let env_token = fake.mint_access_token(Duration::from_secs(3600));
    let mut pairs = cursor_bridge_tests::client_env(&fake.url(), dir.path());
    pairs.push(("CURSOR_BRIDGE_API_KEY".to_string(), local_key.to_string()));
    let env = Env::from_pairs(pairs);
    let paths = Paths::resolve(&env).expect("paths");
    let settings = Settings::load(&paths, &env).expect("settings");
    let client =
        cursor_bridge_core::wiring::cursor_client(&settings, &paths, &env).expect("client");
    let creds = Credentials {
        access_token: fake.mint_access_token(Duration::from_secs(3600)),
        refresh_token: Some(fake.mint_refresh_token()),
        api_key: Some("key_DebugApiKey0123456789abcdef0123".into()),
    };
    client
        .tokens()
        .sign_in(creds.clone())
        .await
        .expect("sign in");
    let stored = client
        .tokens()
        .current()
        .await
        .expect("credentials")
        .expect("signed in");
    let token = stored.access_token.clone();
    let headers = client.http().headers(Some(&token), "request-1");
    let state =
        ProxyState::from_settings(client.clone(), settings.clone(), &paths, &env).expect("state");
    assert_eq!(
        state.api_key.as_deref().map(String::as_str),
        Some(local_key)
    );
    let state = Arc::new(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let running = cursor_bridge_core::proxy::start_on(listener, state.clone()).expect("start");
    let env_with_token = Env::from_pairs([("CURSOR_ACCESS_TOKEN", env_token.as_str())]);

    let printed = [
        ("Credentials", format!("{creds:?} {creds:#?} {stored:?}")),
        ("CursorClient", format!("{client:?}")),
        ("TokenManager", format!("{:?}", client.tokens())),
        ("request headers", format!("{headers:?}")),
        ("ProxyState", format!("{state:?} {state:#?}")),
        ("RunningProxy", format!("{running:?}")),
        ("Settings", format!("{settings:?}")),
        ("Env", format!("{env:?} {env_with_token:?}")),
    ];
    let mut secrets = vec![
        local_key.to_string(),
        env_token.clone(),
        token,
        creds.access_token.clone(),
    ];
    secrets.extend(creds.refresh_token.clone());
    secrets.extend(creds.api_key.clone());
    for (what, text) in &printed {
        assert!(!text.is_empty(), "{what}");
        assert_clean(what, text.as_bytes(), &secrets);
    }
    assert!(
        printed[3].1.contains("Sensitive"),
        "the bearer header is marked sensitive: {}",
        printed[3].1
    );
    running.stop().await.expect("stop");
}
