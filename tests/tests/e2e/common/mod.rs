//! Shared set-up for the end-to-end tests: a `CursorClient` built from settings exactly as
//! the CLI builds it, pointed at a fake Cursor, with a file credential store in a temp dir.

#![allow(dead_code)]

use std::time::Duration;

use cursor_bridge_core::config::settings::{
    AgentTransport, ENV_AGENT_TRANSPORT, Env, Paths, Settings,
};
use cursor_bridge_core::cursor::CursorClient;
use cursor_bridge_core::cursor::chat::ChatOptions;
use cursor_bridge_core::store::credentials::Credentials;
use cursor_bridge_tests::FakeCursor;

/// A client wired to `fake`, plus the temp dir that holds its settings and credentials.
pub struct Harness {
    pub fake: FakeCursor,
    pub client: CursorClient,
    pub dir: tempfile::TempDir,
    pub env: Env,
}

/// The environment a user would set to point Cursor Bridge at `url`.
pub fn env_for(url: &str, dir: &std::path::Path) -> Env {
    Env::from_pairs(cursor_bridge_tests::client_env(url, dir))
}

/// A client built from `env` exactly as the CLI builds it (settings loaded from the paths
/// `env` names), with the production chat timings.
pub fn client_from(env: &Env) -> CursorClient {
    let paths = Paths::resolve(env).expect("paths");
    let settings = Settings::load(&paths, env).expect("settings");
    cursor_bridge_core::wiring::cursor_client(&settings, &paths, env).expect("client")
}

/// Signs `client` in with a fresh token pair minted by `fake`.
pub async fn sign_in(client: &CursorClient, fake: &FakeCursor) {
    let creds = Credentials {
        access_token: fake.mint_access_token(Duration::from_secs(3600)),
        refresh_token: Some(fake.mint_refresh_token()),
        api_key: None,
    };
    client.tokens().sign_in(creds).await.expect("sign in");
}

/// Runs each scenario `fn name(AgentTransport)` as `http2::name` and `http1::name` (the
/// using module imports `AgentTransport`; `main.rs` has `#[macro_use] mod common;`).
#[allow(unused_macros)]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod http2 {
            $(#[tokio::test] async fn $name() { super::$name(super::AgentTransport::Http2).await })*
        }
        mod http1 {
            $(#[tokio::test] async fn $name() { super::$name(super::AgentTransport::Http1).await })*
        }
    };
}

/// The variable that tells a child test process which test it was started to run.
const OWN_PROCESS_TEST: &str = "CURSOR_BRIDGE_E2E_OWN_PROCESS";

/// Whether the caller, the test named `name` (its path in this binary, e.g.
/// `load::a_test`), should run its body here: yes in the child process this starts for it;
/// in the parent the test runs in that child (this binary again, `--exact name`) and must
/// pass there, and the caller returns. For a test that measures the whole process (its
/// memory), which other tests of this binary share.
pub async fn in_own_process(name: &str) -> bool {
    if std::env::var(OWN_PROCESS_TEST).is_ok_and(|n| n == name) {
        return true;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = tokio::process::Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(OWN_PROCESS_TEST, name)
        .output()
        .await
        .expect("start the test in its own process");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    eprintln!("{stdout}{stderr}");
    assert!(out.status.success(), "{name} failed in its own process");
    // A name that matches no test would pass by running nothing.
    assert!(
        stdout.contains(&format!("test {name} ... ok")),
        "{name} did not run in its own process"
    );
    false
}

/// Fast chat timings so failure tests finish in well under a second.
pub fn fast_chat() -> ChatOptions {
    ChatOptions {
        heartbeat_interval: Duration::from_millis(100),
        first_activity_timeout: Duration::from_secs(5),
        idle_timeout: Duration::from_secs(5),
        heartbeat_only_timeout: Duration::from_secs(5),
        turn_end_grace: Duration::from_millis(500),
    }
}

impl Harness {
    /// A signed-out client against `fake`.
    pub async fn new(fake: FakeCursor) -> Harness {
        Harness::new_with_env(fake, []).await
    }

    /// A signed-out client against `fake` with extra environment variables (e.g.
    /// `CURSOR_BRIDGE_AGENT_TRANSPORT`), which the proxy's settings see too.
    pub async fn new_with_env<const N: usize>(
        fake: FakeCursor,
        extra: [(&str, &str); N],
    ) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut pairs = cursor_bridge_tests::client_env(&fake.url(), dir.path());
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env = Env::from_pairs(pairs);
        let client = client_from(&env).with_chat_options(fast_chat());
        Harness {
            fake,
            client,
            dir,
            env,
        }
    }

    /// A client signed in with a fresh token pair minted by the fake.
    pub async fn signed_in(fake: FakeCursor) -> Harness {
        Harness::signed_in_with_env(fake, []).await
    }

    /// [`Harness::signed_in`] with extra environment variables, as [`Harness::new_with_env`].
    /// Signed in, built from settings with `agent_transport = transport` (through its
    /// environment variable, as a user would set it).
    pub async fn signed_in_over(fake: FakeCursor, transport: AgentTransport) -> Harness {
        Harness::signed_in_with_env(fake, [(ENV_AGENT_TRANSPORT, transport.as_str())]).await
    }

    pub async fn signed_in_with_env<const N: usize>(
        fake: FakeCursor,
        extra: [(&str, &str); N],
    ) -> Harness {
        let h = Harness::new_with_env(fake, extra).await;
        sign_in(&h.client, &h.fake).await;
        h
    }

    /// A client whose stored access token has expired but whose refresh token is good.
    pub async fn with_expired_token(fake: FakeCursor) -> Harness {
        let h = Harness::new(fake).await;
        let creds = Credentials {
            access_token: h.fake.mint_expired_token(),
            refresh_token: Some(h.fake.mint_refresh_token()),
            api_key: None,
        };
        h.client.tokens().sign_in(creds).await.expect("sign in");
        h
    }
}
pub mod chat;
pub mod proxy;
pub mod wire;
