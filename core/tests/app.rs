//! The actions façade (`cursor_bridge_core::app::App`) with real parts: the fake Cursor
//! server, the real proxy on a real port, the file credential store in a temp dir.
//!
//! The browser is the only thing replaced: the injected opener approves the login on the
//! fake, as a user clicking "Approve" would. No test touches a keychain, the process
//! environment or a real browser.

use std::sync::Arc;
use std::time::Duration;

use cursor_bridge_core::app::{
    AlertKind, App, AppBuilder, CommandError, ErrorKind, ProxyRunState, SettingsView,
    SignInProgress, Status,
};
use cursor_bridge_core::config::settings::{
    AgentTransport, CredentialStoreKind, Env, Paths, Settings,
};
use cursor_bridge_tests::{FakeCursor, FakeUsage, RunEnd, RunTransport};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

/// A port of the test's own: a listener bound on port 0, handed to the app
/// (`AppBuilder::listener`), which serves it the first time its proxy starts there. The
/// port is never released in between, so no other process can take it.
struct OwnPort {
    listener: std::net::TcpListener,
    number: u16,
}

fn own_port() -> OwnPort {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let number = listener.local_addr().expect("local addr").port();
    OwnPort { listener, number }
}

struct Machine {
    dir: tempfile::TempDir,
    fake: Arc<FakeCursor>,
}

impl Machine {
    async fn new() -> Machine {
        Machine::with(FakeCursor::builder().start().await).await
    }

    async fn with(fake: FakeCursor) -> Machine {
        Machine {
            dir: tempfile::tempdir().expect("temp dir"),
            fake: Arc::new(fake),
        }
    }

    fn paths(&self) -> Paths {
        Paths::in_dir(self.dir.path().join("home"))
    }

    fn settings(&self, port: u16) -> Settings {
        Settings {
            port,
            api_url: self.fake.url().parse().expect("fake url"),
            login_url: self.fake.url().parse().expect("fake url"),
            credential_store: CredentialStoreKind::File,
            login_poll_initial_ms: 10,
            login_poll_max_ms: 50,
            drain_grace_secs: 1,
            ..Settings::default()
        }
    }

    /// An app whose "browser" approves every login on the fake at once, serving `port`.
    fn app(&self, port: OwnPort) -> App {
        self.app_with(Env::default(), port)
    }

    fn app_with(&self, env: Env, port: OwnPort) -> App {
        self.builder(env, self.settings(port.number))
            .listener(port.listener)
            .build()
            .expect("app builds")
    }

    /// The builder of [`Machine::app`] with these settings and no listener.
    fn builder(&self, env: Env, settings: Settings) -> AppBuilder {
        let fake = self.fake.clone();
        App::builder(self.paths(), env, settings).opener(move |url| {
            fake.approve_login_url(url)
                .then_some(())
                .ok_or_else(|| format!("not a login URL: {url}"))
        })
    }

    async fn signed_in_app(&self, port: OwnPort) -> App {
        let app = self.app(port);
        sign_in(&app).await;
        app
    }

    /// A signed-in app with its proxy running on a port of its own: the app, that port and
    /// the proxy's key.
    async fn serving_app(&self) -> (App, u16, String) {
        let own = own_port();
        let port = own.number;
        let app = self.signed_in_app(own).await;
        app.start_proxy().await.expect("start");
        let key = app.api_key().expect("key");
        (app, port, key)
    }
}

async fn sign_in(app: &App) {
    timeout(WAIT, app.sign_in())
        .await
        .expect("sign-in finishes")
        .expect("sign-in succeeds");
}

/// `GET /v1/models` through the proxy with this Bearer key; the HTTP status.
async fn models_status(port: u16, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/models"))
        .bearer_auth(key)
        .send()
        .await
        .expect("the proxy answers")
        .status()
        .as_u16()
}

async fn listening(port: u16) -> bool {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
}

fn kind(r: Result<impl std::fmt::Debug, CommandError>) -> ErrorKind {
    r.expect_err("the action fails").kind
}

#[tokio::test]
async fn browser_sign_in_through_the_injected_opener_shows_the_account() {
    let m = Machine::new().await;
    let app = m.app(own_port());
    let mut changes = app.subscribe();
    let before = app.status().await;
    assert!(!before.signed_in && before.account.is_none());
    assert_eq!(before.proxy.state, ProxyRunState::Stopped);

    let status = timeout(WAIT, app.sign_in())
        .await
        .expect("finishes")
        .expect("ok");
    assert!(status.signed_in);
    assert_eq!(
        status.account.as_ref().and_then(|a| a.email.as_deref()),
        Some("dev@example.com")
    );
    assert!(!app.signing_in());
    assert_eq!(
        m.fake.pkce_mismatches(),
        0,
        "the poll proved the PKCE verifier"
    );
    // Subscribers saw the change.
    changes.changed().await.expect("status sender alive");
    assert!(changes.borrow().signed_in);
    // The tokens went to the (file) credential store, not anywhere else.
    assert!(m.paths().default_credentials_file().exists());

    let status = app.sign_out().await.expect("sign out");
    assert!(!status.signed_in && status.account.is_none());
    assert!(!m.paths().default_credentials_file().exists());
}

#[tokio::test]
async fn a_waiting_sign_in_is_cancelled() {
    let m = Machine::new().await;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let tx = std::sync::Mutex::new(Some(tx));
    // This browser never approves; it only tells the test the page was opened.
    let app = App::builder(m.paths(), Env::default(), m.settings(0))
        .opener(move |_| {
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(());
            }
            Ok(())
        })
        .build()
        .expect("app");
    let signing_in = tokio::spawn({
        let app = app.clone();
        async move { app.sign_in().await }
    });
    timeout(WAIT, rx)
        .await
        .expect("opener called")
        .expect("sent");
    assert!(app.signing_in());
    app.cancel_sign_in();
    let r = timeout(WAIT, signing_in)
        .await
        .expect("ends")
        .expect("joins");
    let e = r.expect_err("cancelled");
    assert_eq!(e.kind, ErrorKind::LoginCancelled);
    assert!(!app.status().await.signed_in);
}

/// The waiting sign-in is part of the status (not a front end's memory): a window
/// opened while it waits shows it, and it goes away however the attempt ends.
#[tokio::test]
async fn a_waiting_sign_in_is_in_the_status_until_it_ends() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, OnceLock};
    let m = Machine::new().await;
    // The browser tells the test what subscribers were shown when the page opened, and
    // approves only once told to.
    let (tx, mut opened) = tokio::sync::mpsc::unbounded_channel::<Option<SignInProgress>>();
    let watcher = Arc::new(OnceLock::<tokio::sync::watch::Receiver<Status>>::new());
    let approve = Arc::new(AtomicBool::new(false));
    let (fake, approving, watching) = (m.fake.clone(), approve.clone(), watcher.clone());
    let app = App::builder(m.paths(), Env::default(), m.settings(0))
        .opener(move |url| {
            let shown = watching.get().and_then(|rx| rx.borrow().sign_in.clone());
            let _ = tx.send(shown);
            if approving.load(Ordering::SeqCst) {
                assert!(fake.approve_login_url(url), "a login URL: {url}");
            }
            Ok(())
        })
        .build()
        .expect("app");
    watcher.set(app.subscribe()).expect("set once");
    assert_eq!(app.status().await.sign_in, None);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis();

    // Cancelled: published before the page opens, shown while it waits, gone after.
    let first = tokio::spawn({
        let app = app.clone();
        async move { app.sign_in().await }
    });
    let shown = timeout(WAIT, opened.recv())
        .await
        .expect("opened")
        .expect("sent");
    let waiting = shown.expect("subscribers saw the waiting sign-in");
    assert!(u128::from(waiting.started_unix_ms) >= before, "{waiting:?}");
    let status = app.status().await;
    assert_eq!(status.sign_in.as_ref(), Some(&waiting));
    let json = serde_json::to_value(&status).expect("json");
    assert_eq!(json["signIn"]["attempt"], waiting.attempt);
    assert_eq!(json["signIn"]["startedUnixMs"], waiting.started_unix_ms);
    app.cancel_sign_in();
    let e = timeout(WAIT, first).await.expect("ends").expect("joins");
    assert_eq!(e.expect_err("cancelled").kind, ErrorKind::LoginCancelled);
    let mut changes = app.subscribe();
    assert_eq!(
        changes.borrow_and_update().sign_in,
        None,
        "published when it ended"
    );
    assert_eq!(app.status().await.sign_in, None);

    // Approved: a new attempt, and nothing waiting once signed in.
    approve.store(true, Ordering::SeqCst);
    let status = timeout(WAIT, app.sign_in())
        .await
        .expect("ends")
        .expect("signed in");
    let second = timeout(WAIT, opened.recv())
        .await
        .expect("opened")
        .expect("sent");
    assert!(
        second.is_some_and(|p| p.attempt > waiting.attempt),
        "a new attempt number"
    );
    assert!(status.signed_in);
    assert_eq!(status.sign_in, None);
    assert_eq!(app.subscribe().borrow().sign_in, None);

    // Failed (the browser cannot open): gone too.
    let app = App::builder(m.paths(), Env::default(), m.settings(0))
        .opener(|_| Err("no browser installed".into()))
        .build()
        .expect("app");
    assert_eq!(kind(app.sign_in().await), ErrorKind::Io);
    assert_eq!(app.subscribe().borrow().sign_in, None);
    assert_eq!(app.status().await.sign_in, None);
}

#[tokio::test]
async fn a_browser_that_cannot_open_is_an_io_error() {
    let m = Machine::new().await;
    let app = App::builder(m.paths(), Env::default(), m.settings(0))
        .opener(|_| Err("no browser installed".into()))
        .build()
        .expect("app");
    let e = app.sign_in().await.expect_err("fails");
    assert_eq!(e.kind, ErrorKind::Io);
    assert!(e.message.contains("no browser installed"), "{e}");
    assert!(!app.signing_in());
}

/// Sends `method path` with `key` (as Bearer) to the app's port; the status and the JSON.
async fn ask(method: &str, path: &str, port: u16, key: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = reqwest::Client::new().request(
        method.parse().expect("method"),
        format!("http://127.0.0.1:{port}{path}"),
    );
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if method == "POST" {
        req = req.json(&serde_json::json!({"model": "auto", "max_tokens": 8,
            "messages": [{"role": "user", "content": "hi"}]}));
    }
    let res = req.send().await.expect("the app's port answers");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

/// True when nobody could bind `port` on 127.0.0.1 right now (the app holds it).
fn port_held(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
}

/// Issue 15: a stopped proxy keeps its port, so no other local user can bind it and
/// receive the key and the prompts; it answers a 503 in each dialect's error shape, behind
/// the same checks as a running one. Only quitting releases the port.
#[tokio::test]
async fn a_stopped_proxy_keeps_its_port_and_answers_503_that_it_is_stopped() {
    let m = Machine::new().await;
    let own = own_port();
    let port = own.number;
    let app = m.signed_in_app(own).await;

    let s = app.start_proxy().await.expect("start");
    assert_eq!(s.proxy.state, ProxyRunState::Running);
    assert_eq!(s.proxy.port, port);
    assert_eq!(s.proxy.base_url, format!("http://127.0.0.1:{port}/v1"));
    let key = app.api_key().expect("key");
    assert_eq!(models_status(port, &key).await, 200);
    // Starting twice is harmless.
    app.start_proxy().await.expect("start again while running");

    let s = app.stop_proxy().await.expect("stop");
    assert_eq!(s.proxy.state, ProxyRunState::Stopped);
    assert!(port_held(port), "the port stays the app's while stopped");
    let (status, body) = ask("POST", "/v1/chat/completions", port, Some(&key)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "proxy_stopped", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Start proxy")),
        "{body}"
    );
    let (status, body) = ask("POST", "/v1/messages", port, Some(&key)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["type"], "error", "Anthropic's shape: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("stopped")),
        "{body}"
    );
    assert_eq!(ask("GET", "/health", port, None).await.0, 503);
    // The checks come first: without the key a stranger learns nothing more than a 401.
    let (status, body) = ask("GET", "/v1/models", port, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(
        ask("GET", "/v1/models", port, Some("cb-wrong")).await.0,
        401
    );
    // Its IPv6 loopback twin too (a client saying `localhost` may try [::1] first).
    assert!(
        std::net::TcpListener::bind(("::1", port)).is_err(),
        "[::1]:{port} is held too"
    );
    let v6 = reqwest::Client::new()
        .get(format!("http://[::1]:{port}/v1/models"))
        .bearer_auth(&key)
        .send()
        .await
        .expect("[::1] answers");
    assert_eq!(v6.status(), 503);

    let s = app.start_proxy().await.expect("start on the same port");
    assert_eq!(s.proxy.state, ProxyRunState::Running);
    assert_eq!(models_status(port, &key).await, 200);
    let s = app.toggle_proxy().await.expect("toggle stops");
    assert_eq!(s.proxy.state, ProxyRunState::Stopped);
    assert!(port_held(port));
    app.shutdown().await;
    assert!(!port_held(port), "quitting releases the port");
}

/// Issue 15: a restart for new settings or a new key swaps the server on the socket it
/// holds, and a stopped proxy keeps it too: a binder racing on the port all along never
/// gets it.
#[tokio::test]
async fn settings_changes_and_key_rotation_never_free_the_port() {
    let m = Machine::new().await;
    let own = own_port();
    let port = own.number;
    let app = m.signed_in_app(own).await;
    app.start_proxy().await.expect("start");

    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (mut tries, mut won) = (0u64, 0u64);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                tries += 1;
                if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                    won += 1;
                }
            }
            (tries, won)
        })
    };
    let mut view = app.get_settings();
    for model in ["gpt-5", "auto"] {
        view.default_model = model.into();
        app.update_settings(view.clone()).await.expect("restart");
        let key = app.regenerate_api_key().await.expect("new key");
        assert_eq!(
            models_status(port, &key).await,
            200,
            "served with the new key"
        );
    }
    app.stop_proxy().await.expect("stop");
    let key = app
        .regenerate_api_key()
        .await
        .expect("a new key while stopped");
    view.default_model = "gpt-5".into();
    app.update_settings(view)
        .await
        .expect("settings while stopped");
    let (status, body) = ask("GET", "/v1/models", port, Some(&key)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &serde_json::json!("proxy_stopped"))
    );
    app.start_proxy().await.expect("start");
    assert_eq!(models_status(port, &key).await, 200);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let (tries, won) = racer.join().expect("racer");
    assert!(tries > 100, "the racer ran ({tries} tries)");
    assert_eq!(won, 0, "the port was free {won} times in {tries} tries");
    app.shutdown().await;
}

/// Issue 15: when another user squats the port first, the start fails saying who holds it
/// (command, pid, user) and that it may be an impersonation attempt, with one loud alert.
/// Needs root to run the squatter as `nobody` (CI runs as root).
#[tokio::test]
async fn a_port_squatted_by_another_user_names_them_and_warns_of_impersonation() {
    if !std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .any(|l| l.split_whitespace().take(2).eq(["Uid:", "0"]))
    }) {
        eprintln!("SKIPPED: running a squatter as another user needs root (CI runs as root)");
        return;
    }
    use tokio::io::AsyncBufReadExt as _;
    let mut squatter = tokio::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .args([
            "/usr/bin/python3",
            "-u",
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "0",
        ])
        .current_dir("/tmp")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("setpriv runs python3 as nobody");
    let pid = squatter.id().expect("pid");
    let mut lines = tokio::io::BufReader::new(squatter.stdout.take().expect("stdout")).lines();
    // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
    let line = timeout(WAIT, lines.next_line())
        .await
        .expect("the squatter listens")
        .expect("read")
        .expect("a line");
    let port: u16 = line
        .split(" port ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));

    let m = Machine::new().await;
    let app = m
        .builder(Env::default(), m.settings(port))
        .build()
        .expect("app builds");
    let mut alerts = app.subscribe_alerts();
    let e = app.start_proxy().await.expect_err("the port is squatted");
    assert_eq!(e.kind, ErrorKind::PortInUse);
    for part in [
        format!("port {port}"),
        "python3".to_string(),
        format!("pid {pid}"),
        "user nobody".to_string(),
        "impersonation".to_string(),
    ] {
        assert!(
            e.message.to_lowercase().contains(&part),
            "{part:?} missing from: {e}"
        );
    }
    let alert = alerts.try_recv().expect("an alert");
    assert_eq!(alert.kind, AlertKind::PortInUse);
    assert!(
        alert.title.contains("another user") && alert.title.contains("impersonation"),
        "{alert:?}"
    );
    assert!(
        alert.body.contains(&format!("pid {pid}")) && alert.body.contains("nobody"),
        "{alert:?}"
    );
    assert_eq!(kind(app.start_proxy().await), ErrorKind::PortInUse);
    assert!(alerts.try_recv().is_err(), "alerted once");
    squatter.kill().await.expect("kill the squatter");
}

#[tokio::test]
async fn port_in_use_is_a_typed_error_and_one_alert() {
    let m = Machine::new().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let app = m
        .builder(Env::default(), m.settings(port))
        .build()
        .expect("app builds");
    let mut alerts = app.subscribe_alerts();

    let e = app.start_proxy().await.expect_err("port taken");
    assert_eq!(e.kind, ErrorKind::PortInUse);
    assert_eq!(
        serde_json::to_value(&e).expect("json")["kind"],
        "port_in_use"
    );
    assert!(e.message.contains(&port.to_string()), "{e}");
    let s = app.status().await;
    assert_eq!(s.proxy.state, ProxyRunState::Error);
    assert!(
        s.proxy
            .error
            .as_deref()
            .is_some_and(|m| m.contains("in use"))
    );

    // Trying again (a user clicking twice) fails the same way but notifies once.
    assert_eq!(kind(app.start_proxy().await), ErrorKind::PortInUse);
    let first = alerts.try_recv().expect("one alert");
    assert_eq!(first.kind, AlertKind::PortInUse);
    assert!(first.body.contains("settings"), "a next step: {first:?}");
    assert!(
        alerts.try_recv().is_err(),
        "no second alert for the same problem"
    );

    // Once the port is free the proxy starts, and the problem is resolved.
    drop(taken);
    app.start_proxy()
        .await
        .expect("starts once the port is free");
    assert!(!app.alerts().is_active(AlertKind::PortInUse));
    app.shutdown().await;
}

#[tokio::test]
async fn models_snippet_and_plan_usage_come_from_cursor() {
    let m = Machine::new().await;
    let app = m.app(own_port());
    assert_eq!(kind(app.list_models(false).await), ErrorKind::NotSignedIn);
    let own = own_port();
    let port = own.number;
    let app = m.signed_in_app(own).await;

    let models = app.list_models(false).await.expect("models");
    assert!(!models.is_empty());
    assert!(
        models
            .iter()
            .all(|m| m.context_limit > 0 && m.output_limit > 0)
    );
    let v = serde_json::to_value(&models[0]).expect("json");
    for key in [
        "id",
        "name",
        "aliases",
        "reasoning",
        "supportsImages",
        "contextLimit",
        "outputLimit",
        "limitSource",
    ] {
        assert!(v.get(key).is_some(), "{key} missing from {v}");
    }
    assert_eq!(
        app.list_models(true).await.expect("refetch").len(),
        models.len()
    );

    let snippet = app.opencode_snippet().await.expect("snippet");
    assert_eq!(snippet.base_url, format!("http://127.0.0.1:{port}/v1"));
    let parsed: serde_json::Value = serde_json::from_str(&snippet.text).expect("pretty JSON");
    let provider = &parsed["provider"]["cursor-bridge"];
    assert_eq!(provider["options"]["baseURL"], snippet.base_url);
    assert_eq!(provider["options"]["apiKey"], app.api_key().expect("key"));
    for mdl in &models {
        assert!(
            provider["models"].get(&mdl.id).is_some(),
            "{} missing",
            mdl.id
        );
    }

    let usage = app.plan_usage().await.expect("usage");
    assert_eq!(
        (
            usage.spent_cents,
            usage.included_cents,
            usage.remaining_cents
        ),
        (Some(600), Some(2000), Some(1400))
    );
    assert_eq!(usage.cycle_start, Some(1_767_225_600_000));
    assert!(usage.fetched_at > 1_767_225_600_000);
}

#[tokio::test]
async fn settings_are_validated_saved_and_restart_a_running_proxy() {
    let m = Machine::new().await;
    let (own, next) = (own_port(), own_port());
    let (port, new_port) = (own.number, next.number);
    // Both ports are the app's from the start: the restart serves the second.
    let app = m
        .builder(Env::default(), m.settings(port))
        .listener(own.listener)
        .listener(next.listener)
        .build()
        .expect("app builds");
    sign_in(&app).await;
    let view = app.get_settings();
    assert_eq!((view.host.as_str(), view.port), ("127.0.0.1", port));

    let bad = |f: fn(&mut SettingsView)| {
        let mut v = view.clone();
        f(&mut v);
        v
    };
    // Each invalid edit is refused with the field it names; none of them is saved.
    type Edit = fn(&mut SettingsView);
    let invalid: [(&str, Edit, &str); 4] = [
        ("port 0", |v| v.port = 0, "port:"),
        ("host", |v| v.host = "localhost:1".into(), "host:"),
        ("bind-all", |v| v.host = "0.0.0.0".into(), "host:"),
        ("model", |v| v.default_model = " ".into(), "defaultModel:"),
    ];
    for (case, edit, field) in invalid {
        let e = app.update_settings(bad(edit)).await.expect_err(case);
        assert_eq!(e.kind, ErrorKind::InvalidInput, "{case}: {e}");
        assert!(e.message.starts_with(field), "{case}: {e}");
    }
    assert!(
        !m.paths().settings_file().exists(),
        "nothing saved from invalid input"
    );

    app.start_proxy().await.expect("start");
    let mut v = view.clone();
    v.port = new_port;
    v.start_proxy_on_launch = false;
    let saved = app.update_settings(v.clone()).await.expect("update");
    assert_eq!(saved, v);
    assert_eq!(app.get_settings(), v);
    let s = app.status().await;
    assert_eq!(
        (s.proxy.state, s.proxy.port),
        (ProxyRunState::Running, new_port)
    );
    assert!(listening(new_port).await, "restarted on the new port");
    assert!(!listening(port).await, "the old port is released");
    // Saved: only what the UI edits, not the test's fake URLs from memory… but loadable.
    let text = std::fs::read_to_string(m.paths().settings_file()).expect("saved");
    assert!(text.contains(&format!("port = {new_port}")), "{text}");
    assert!(
        !text.contains(&m.fake.url()),
        "in-memory overrides stay out of the file"
    );
    let reloaded = Settings::load(&m.paths(), &Env::default()).expect("loads");
    assert!(!reloaded.start_proxy_on_launch);
    app.shutdown().await;
}

/// One non-streaming chat through the app's proxy: the HTTP status and the JSON body.
async fn chat(port: u16, key: &str) -> (u16, serde_json::Value) {
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .bearer_auth(key)
        .json(
            &serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .send()
        .await
        .expect("the proxy answers");
    let status = res.status().as_u16();
    (status, res.json().await.expect("JSON body"))
}

/// One non-streaming chat through the app's proxy: the HTTP status and the reply text.
async fn chat_reply(port: u16, key: &str) -> (u16, String) {
    let (status, body) = chat(port, key).await;
    let text = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (status, text)
}

#[tokio::test]
async fn the_agent_transport_setting_switches_the_next_run_and_back() {
    let m = Machine::new().await;
    let (app, port, key) = m.serving_app().await;
    let view = app.get_settings();
    assert_eq!(view.agent_transport, "http2", "the default");

    let mut bad = view.clone();
    bad.agent_transport = "http3".into();
    let e = app.update_settings(bad).await.expect_err("http3");
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(e.message.starts_with("agentTransport: expected"), "{e}");
    assert!(!m.paths().settings_file().exists(), "nothing saved");

    let hello = (200, "Hello from the fake Cursor.".to_string());
    assert_eq!(chat_reply(port, &key).await, hello);

    let mut http1 = view.clone();
    http1.agent_transport = "http1".into();
    assert_eq!(
        app.update_settings(http1.clone()).await.expect("update"),
        http1
    );
    assert_eq!(app.get_settings(), http1);
    let text = std::fs::read_to_string(m.paths().settings_file()).expect("saved");
    assert!(text.contains("agent_transport = \"http1\""), "{text}");
    let s = app.status().await;
    assert_eq!(
        (s.proxy.state, s.proxy.port),
        (ProxyRunState::Running, port)
    );
    assert_eq!(
        chat_reply(port, &key).await,
        hello,
        "the same answer over HTTP/1.1"
    );

    assert_eq!(app.update_settings(view.clone()).await.expect("back"), view);
    assert_eq!(chat_reply(port, &key).await, hello);

    let runs = m.fake.runs();
    let seen: Vec<_> = runs.iter().map(|r| (r.transport, r.version)).collect();
    assert_eq!(
        seen,
        [
            (RunTransport::Http2, reqwest::Version::HTTP_2),
            (RunTransport::Http1, reqwest::Version::HTTP_11),
            (RunTransport::Http2, reqwest::Version::HTTP_2),
        ]
    );
    assert!(
        runs[1].appends >= 1,
        "the HTTP/1.1 run sent its request as appends"
    );
    assert!(
        runs.iter()
            .all(|r| r.authorized && r.end == Some(RunEnd::Ok)),
        "{runs:?}"
    );
    // Signing in is not needed again: the tokens were kept across the switch.
    assert_eq!(m.fake.refresh_calls(), 0);
    app.shutdown().await;
}

#[tokio::test]
async fn a_transport_set_by_the_environment_is_not_changed_from_the_ui() {
    let m = Machine::new().await;
    let own = own_port();
    let port = own.number;
    // As `Settings::load` would leave it with CURSOR_BRIDGE_AGENT_TRANSPORT=http1.
    let env = Env::from_pairs([("CURSOR_BRIDGE_AGENT_TRANSPORT", "http1")]);
    let mut settings = m.settings(port);
    settings.agent_transport = AgentTransport::Http1;
    let app = m
        .builder(env, settings)
        .listener(own.listener)
        .build()
        .expect("app builds");
    sign_in(&app).await;
    app.start_proxy().await.expect("start");
    let view = app.get_settings();
    assert_eq!(view.agent_transport, "http1");

    let mut v = view.clone();
    v.agent_transport = "http2".into();
    let e = app
        .update_settings(v)
        .await
        .expect_err("the environment decides");
    assert_eq!(e.kind, ErrorKind::InvalidInput);
    assert!(
        e.message.starts_with("agentTransport:")
            && e.message.contains("CURSOR_BRIDGE_AGENT_TRANSPORT"),
        "{e}"
    );
    assert!(!m.paths().settings_file().exists(), "nothing saved");
    // Other fields still save.
    let mut v = view.clone();
    v.start_proxy_on_launch = false;
    assert_eq!(app.update_settings(v.clone()).await.expect("update"), v);
    let key = app.api_key().expect("key");
    assert_eq!(chat_reply(port, &key).await.0, 200);
    assert_eq!(
        m.fake
            .runs()
            .iter()
            .map(|r| r.transport)
            .collect::<Vec<_>>(),
        [RunTransport::Http1]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn regenerating_the_key_restarts_a_running_proxy_with_it() {
    let m = Machine::new().await;
    let own = own_port();
    let port = own.number;
    let app = m.signed_in_app(own).await;
    let old = app.api_key().expect("key");
    assert_eq!(app.api_key().expect("same key"), old);
    app.start_proxy().await.expect("start");
    assert_eq!(models_status(port, &old).await, 200);
    let new = app.regenerate_api_key().await.expect("regenerate");
    assert_ne!(new, old);
    assert_eq!(app.api_key().expect("key"), new);
    let s = app.status().await;
    assert_eq!(s.proxy.state, ProxyRunState::Running);
    assert_eq!(
        models_status(port, &new).await,
        200,
        "the new key works at once"
    );
    assert_eq!(
        models_status(port, &old).await,
        401,
        "the old key no longer does"
    );
    app.shutdown().await;

    let pinned = m.app_with(
        Env::from_pairs([("CURSOR_BRIDGE_API_KEY", "cb-pinned")]),
        own_port(),
    );
    assert_eq!(pinned.api_key().expect("key"), "cb-pinned");
    assert_eq!(
        kind(pinned.regenerate_api_key().await),
        ErrorKind::InvalidInput
    );
}

#[tokio::test]
async fn an_expired_session_alerts_once_and_reads_as_signed_out() {
    let m = Machine::new().await;
    let app = m.signed_in_app(own_port()).await;
    let mut alerts = app.subscribe_alerts();
    m.fake.revoke_access_tokens();
    m.fake.revoke_refresh_tokens();

    assert_eq!(kind(app.list_models(true).await), ErrorKind::SessionExpired);
    assert_eq!(kind(app.plan_usage().await), ErrorKind::SessionExpired);
    let alert = alerts.try_recv().expect("alert");
    assert_eq!(alert.kind, AlertKind::SessionExpired);
    assert!(alert.body.contains("Sign in"), "{alert:?}");
    assert!(alerts.try_recv().is_err(), "deduplicated");
    let s: Status = app.status().await;
    assert!(!s.signed_in, "a refused session reads as signed out");

    // Signing in again resolves it; a later expiry notifies again.
    timeout(WAIT, app.sign_in())
        .await
        .expect("ends")
        .expect("sign in again");
    assert!(app.status().await.signed_in);
    assert!(!app.alerts().is_active(AlertKind::SessionExpired));
}

#[tokio::test]
async fn a_session_expiring_under_a_proxy_request_alerts_and_reads_as_signed_out() {
    let m = Machine::new().await;
    let (app, port, key) = m.serving_app().await;
    let mut alerts = app.subscribe_alerts();
    let mut changes = app.subscribe();
    m.fake.revoke_access_tokens();
    m.fake.revoke_refresh_tokens();

    // OpenCode sends a chat request; nobody has the UI open.
    let chat = |key: String| async move {
        let res = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
            .await
            .expect("the proxy answers");
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.expect("OpenAI error JSON");
        (
            status,
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let (status, message) = chat(key.clone()).await;
    assert_eq!(status, 503);
    assert!(
        message.contains("Sign in") && message.contains("cursor-bridge login"),
        "the client's user learns how to sign in, in the app or the CLI: {message}"
    );
    let alert = timeout(WAIT, alerts.recv())
        .await
        .expect("alerted")
        .expect("alert");
    assert_eq!(alert.kind, AlertKind::SessionExpired);
    timeout(WAIT, changes.wait_for(|s| !s.signed_in))
        .await
        .expect("the status follows without anyone asking")
        .expect("sender alive");
    // More failing requests: still one notification.
    assert_eq!(chat(key).await.0, 503);
    assert!(alerts.try_recv().is_err(), "deduplicated");
    app.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_cursor_alerts_once() {
    let m = Machine::new().await;
    // Cursor at an address where nothing can listen (port 0); a token from the
    // environment, so the calls get as far as the network.
    let mut settings = m.settings(0);
    settings.api_url = "http://127.0.0.1:0".parse().expect("url");
    let env = Env::from_pairs([("CURSOR_ACCESS_TOKEN", "a-token")]);
    let app = App::builder(m.paths(), env, settings).build().expect("app");
    let mut alerts = app.subscribe_alerts();
    assert_eq!(kind(app.list_models(true).await), ErrorKind::Network);
    assert_eq!(kind(app.plan_usage().await), ErrorKind::Network);
    let alert = alerts.try_recv().expect("alert");
    assert_eq!(alert.kind, AlertKind::UpstreamUnreachable);
    assert!(alert.body.contains("internet connection"), "{alert:?}");
    assert!(alerts.try_recv().is_err(), "one alert for one outage");
}

#[tokio::test]
async fn the_last_proxy_state_is_restored_on_launch() {
    let m = Machine::new().await;
    let first = m.signed_in_app(own_port()).await;
    first.start_proxy().await.expect("start");
    first.shutdown().await;
    drop(first);

    let second = m.app(own_port());
    let s = second.launch().await;
    assert_eq!(
        s.proxy.state,
        ProxyRunState::Running,
        "was running when the app quit"
    );
    assert!(s.signed_in);
    assert_eq!(
        s.account.and_then(|a| a.email).as_deref(),
        Some("dev@example.com")
    );
    second.stop_proxy().await.expect("stop");
    second.shutdown().await;

    let own = own_port();
    let port = own.number;
    let third = m.app(own);
    assert_eq!(
        third.launch().await.proxy.state,
        ProxyRunState::Stopped,
        "the user stopped it last"
    );
    // Left stopped, the port is still the app's from launch on (issue 15): it answers
    // that the proxy is stopped.
    let key = third.api_key().expect("key");
    let (status, body) = timeout(WAIT, ask("GET", "/v1/models", port, Some(&key)))
        .await
        .expect("the port is served from launch on");
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &serde_json::json!("proxy_stopped"))
    );
    third.shutdown().await;
}

#[tokio::test]
async fn usage_report_and_recent_errors_come_from_the_proxys_ledger() {
    let m = Machine::new().await;
    let (app, port, key) = m.serving_app().await;
    let chat = |model: &'static str| {
        let key = key.clone();
        async move {
            reqwest::Client::new()
                .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
                .bearer_auth(key)
                .json(&serde_json::json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}))
                .send()
                .await
                .expect("the proxy answers")
                .status()
                .as_u16()
        }
    };
    assert_eq!(chat("auto").await, 200);
    assert_eq!(chat("no-such-model").await, 404);
    // Stopping flushes the proxy's ledger writer.
    app.stop_proxy().await.expect("stop");
    let report = app
        .usage_report(cursor_bridge_core::store::ledger::Range::Day)
        .await
        .expect("report");
    assert_eq!((report.totals.requests, report.totals.errors), (2, 1));
    // The fake's default reply ends its turn with Cursor's count, as the live service
    // does; the refused request has no tokens, so nothing in the range is estimated.
    assert!(report.tokens_exact, "{report:?}");
    assert_eq!(
        (
            report.totals.cache_read_tokens,
            report.totals.estimated_requests
        ),
        (1_000, 0)
    );
    let v = serde_json::to_value(&report).expect("json");
    for key in [
        "range",
        "bucket",
        "generatedAt",
        "totals",
        "series",
        "latency",
        "errorsByKind",
        "tokensExact",
    ] {
        assert!(v.get(key).is_some(), "{key} missing from {v}");
    }
    let errors = app.recent_errors().await.expect("errors");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.contains("no-such-model"),
        "{:?}",
        errors[0]
    );
    app.shutdown().await;
}

#[tokio::test]
async fn opencode_install_merges_into_a_commented_config_with_a_backup() {
    let m = Machine::new().await;
    let app = m.signed_in_app(own_port()).await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("opencode.jsonc");
    let original = "{\n  // mine\n  \"provider\": {\"other\": {\"npm\": \"x\"},},\n}\n";
    std::fs::write(&path, original).expect("write");
    let out = app
        .opencode_install(Some(path.clone()))
        .await
        .expect("installed");
    assert!(!out.created);
    let backup = out.backup.expect("a backup");
    assert_eq!(std::fs::read_to_string(backup).expect("backup"), original);
    let text = std::fs::read_to_string(&path).expect("merged");
    assert!(
        text.contains("// mine") && text.contains("\"other\""),
        "{text}"
    );
    assert!(text.contains(&app.api_key().expect("key")), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "it holds the key: owner only");
    }
    // A file it cannot merge is refused as invalid input and left alone.
    std::fs::write(&path, "{ not json").expect("write");
    assert_eq!(
        kind(app.opencode_install(Some(path.clone())).await),
        ErrorKind::InvalidInput
    );
    assert_eq!(std::fs::read_to_string(&path).expect("kept"), "{ not json");
}

/// Cursor refusing the client version even after it was re-resolved (and the call
/// retried once) raises one notification saying exactly what to do; it is deduplicated
/// until a call succeeds.
#[tokio::test]
async fn an_outdated_client_version_alerts_once_with_what_to_do() {
    let m = Machine::with(
        FakeCursor::builder()
            .min_client_version("2099.01.01")
            .start()
            .await,
    )
    .await;
    let own = own_port();
    let no_cli = m.dir.path().join("no-cli");
    std::fs::create_dir_all(&no_cli).expect("dir");
    let app = m
        .builder(
            Env::default(),
            Settings {
                cursor_cli_versions_dir: Some(no_cli),
                ..m.settings(own.number)
            },
        )
        .listener(own.listener)
        .build()
        .expect("app builds");
    sign_in(&app).await;
    // The sign-in's own account lookup has met the refusal already (and alerted).
    assert!(app.alerts().is_active(AlertKind::OutdatedClient));
    let mut alerts = app.subscribe_alerts();
    app.alerts().resolve(AlertKind::OutdatedClient);

    // By now the version has been re-resolved to the newest one anywhere (the fake's
    // installer script): Cursor refusing that too leaves nothing newer to retry with.
    let before = m.fake.outdated_rejections();
    assert!((1..=2).contains(&before), "{before}");
    assert_eq!(kind(app.plan_usage().await), ErrorKind::Upstream);
    assert_eq!(
        m.fake.outdated_rejections() - before,
        1,
        "no retry with a version that is not newer"
    );
    let alert = alerts.try_recv().expect("alert");
    assert_eq!(alert.kind, AlertKind::OutdatedClient);
    for needle in [
        "cursor-agent update",
        "client_version",
        "CURSOR_BRIDGE_CLIENT_VERSION",
        "cli-2026.07.23-e383d2b",
    ] {
        assert!(alert.body.contains(needle), "{needle:?} missing: {alert:?}");
    }
    assert_eq!(kind(app.list_models(true).await), ErrorKind::Upstream);
    assert!(alerts.try_recv().is_err(), "deduplicated");
    let s = app.status().await;
    assert_eq!(s.client_version.version, "cli-2026.07.23-e383d2b");
    assert_eq!(s.client_version.source_label, "Cursor's CLI installer");
}

/// A chat through the proxy with these messages; the answer's text.
async fn chat_messages(port: u16, key: &str, messages: serde_json::Value) -> String {
    let res = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .bearer_auth(key)
        .json(&serde_json::json!({"model": "auto", "messages": messages}))
        .send()
        .await
        .expect("the proxy answers");
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.expect("JSON body");
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn forget_conversations_clears_the_running_proxy_and_the_file() {
    use cursor_bridge_tests::HistoryKind;
    let m = Machine::new().await;
    let (app, port, key) = m.serving_app().await;
    let hello = "Hello from the fake Cursor.";
    let first = serde_json::json!([{"role": "user", "content": "hi"}]);
    assert_eq!(chat_messages(port, &key, first).await, hello);
    let file = m.paths().conversations_file();
    let deadline = std::time::Instant::now() + WAIT;
    while !file.exists() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(file.exists(), "the finished conversation was kept on disk");

    assert_eq!(app.forget_conversations().await.expect("forget"), 1);
    assert!(!file.exists());
    let next = serde_json::json!([
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": hello},
        {"role": "user", "content": "again"}
    ]);
    assert_eq!(chat_messages(port, &key, next).await, hello);
    let runs = m.fake.wait_for_runs(2, WAIT).await;
    assert_eq!(
        runs[1].history,
        HistoryKind::Structured,
        "the running proxy forgot it too"
    );
    assert_eq!(app.forget_conversations().await.expect("again"), 1);
    app.shutdown().await;
}

#[tokio::test]
async fn api_key_sign_in_exchanges_the_key_and_a_refused_key_changes_nothing() {
    let key = "key_0123456789abcdef0123456789abcdef";
    let m = Machine::with(FakeCursor::builder().api_key(key).start().await).await;
    let app = m.app(own_port());

    let e = timeout(WAIT, app.sign_in_with_api_key("key_not_the_one"))
        .await
        .expect("finishes")
        .expect_err("refused");
    assert_eq!(e.kind, ErrorKind::SessionExpired, "{e}");
    assert!(e.message.contains("refused"), "{e}");
    assert!(!m.paths().default_credentials_file().exists());
    assert!(!app.status().await.signed_in);

    let status = timeout(WAIT, app.sign_in_with_api_key(key))
        .await
        .expect("finishes")
        .expect("signed in");
    assert!(status.signed_in);
    assert_eq!(
        status.account.as_ref().and_then(|a| a.email.as_deref()),
        Some("dev@example.com")
    );
    assert_eq!(m.fake.exchange_calls(), 2);
    assert!(m.paths().default_credentials_file().exists());
}

/// The error code of a refused chat through the app's proxy (with its HTTP status).
async fn refused_code(port: u16, key: &str) -> (u16, String) {
    let (status, body) = chat(port, key).await;
    let code = body["error"]["code"].as_str().unwrap_or_default();
    (status, code.into())
}

#[tokio::test]
async fn a_guard_trip_shows_in_the_status_alerts_once_and_resume_clears_it() {
    let m = Machine::new().await;
    let own = own_port();
    let port = own.number;
    let settings = Settings {
        guard_requests_per_minute: 1,
        ..m.settings(port)
    };
    let app = m
        .builder(Env::default(), settings)
        .listener(own.listener)
        .build()
        .expect("app builds");
    sign_in(&app).await;
    app.start_proxy().await.expect("start");
    let key = app.api_key().expect("key");
    let mut alerts = app.subscribe_alerts();
    let mut status = app.subscribe();
    assert!(!app.status().await.guard.stopped());

    assert_eq!(chat_reply(port, &key).await.0, 200);
    let refused = refused_code(port, &key).await;
    assert_eq!(refused, (400, "guard_tripped".into()));
    let shown = timeout(WAIT, status.wait_for(|s| s.guard.stopped()))
        .await
        .expect("the trip is published")
        .expect("status channel")
        .clone();
    assert_eq!(shown.guard.tripped, ["guard_requests_per_minute"]);
    let alert = timeout(WAIT, alerts.recv())
        .await
        .expect("an alert")
        .expect("alert channel");
    assert_eq!(alert.kind, AlertKind::GuardTripped);
    assert!(
        alert.body.contains("guard_requests_per_minute = 1") && alert.body.contains("resume"),
        "{alert:?}"
    );
    // Refused again: the same trip, counted, not notified twice.
    assert_eq!(refused_code(port, &key).await.0, 400);
    let guard = app.guard_status();
    assert_eq!(guard.trips.len(), 1);
    assert_eq!(guard.trips[0].refused, 2);
    assert_eq!(guard.requests_today, 1);

    let resumed = app.guard_resume().await;
    assert!(resumed.trips.is_empty() && !resumed.paused);
    assert!(!app.status().await.guard.stopped());
    assert_eq!(
        chat_reply(port, &key).await.0,
        200,
        "the rest of the minute"
    );

    // Pause all refuses everything with a 403 until resumed; it is not a trip.
    assert!(app.guard_pause().await.paused);
    assert!(app.status().await.guard.paused);
    assert_eq!(refused_code(port, &key).await, (403, "guard_paused".into()));
    app.guard_resume().await;

    // Tripping again after a resume is a new trip: a new notification.
    assert_eq!(refused_code(port, &key).await.0, 400);
    let again = timeout(WAIT, alerts.recv())
        .await
        .expect("a second alert")
        .expect("alert channel");
    assert_eq!(again.kind, AlertKind::GuardTripped);
    assert!(alerts.try_recv().is_err(), "one alert per trip");
    app.shutdown().await;
}

#[tokio::test]
async fn a_used_up_plan_found_while_requests_flow_notifies_once_and_blocks_with_block() {
    // The plan in percentages, all of it used: requests are billed on demand now.
    let used_up = FakeUsage::percent_only(100.0, 100.0, 100.0);
    let m = Machine::with(FakeCursor::builder().usage(used_up).start().await).await;
    let (app, port, key) = m.serving_app().await;
    let mut alerts = app.subscribe_alerts();
    assert!(
        !app.guard_status().on_demand,
        "nothing asked before a request"
    );
    assert_eq!(chat_reply(port, &key).await.0, 200, "warn serves");
    let alert = timeout(WAIT, alerts.recv())
        .await
        .expect("the refresh finds it")
        .expect("alert channel");
    assert_eq!(alert.kind, AlertKind::OnDemand);
    assert!(app.guard_status().on_demand);
    // More requests within the refresh period: no second refresh, no second alert.
    assert_eq!(chat_reply(port, &key).await.0, 200);
    assert!(alerts.try_recv().is_err(), "one notification");

    // With block, the same knowledge refuses requests (the guard outlives the restart
    // the settings change makes).
    let mut view = app.get_settings();
    view.guard_on_demand = cursor_bridge_core::config::settings::OnDemand::Block;
    app.update_settings(view).await.expect("saved");
    assert_eq!(
        refused_code(port, &key).await,
        (400, "guard_tripped".into())
    );
    assert_eq!(app.status().await.guard.tripped, ["guard_on_demand"]);
    app.shutdown().await;
}

/// After a chat and a stop, every file the app left in its data directory (ledger,
/// credentials, key, conversations, `app-state.json`) is the owner's alone, and so are the
/// data and log directories.
#[cfg(unix)]
#[tokio::test]
async fn the_apps_files_are_private_after_a_chat_and_a_stop() {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let m = Machine::new().await;
    let (app, port, key) = m.serving_app().await;
    assert_eq!(chat_reply(port, &key).await.0, 200);
    app.stop_proxy().await.expect("stop");
    // Opening the log folder creates it (the opener then refuses: not a login URL).
    let _ = app.open_log_folder();
    app.shutdown().await;
    drop(app);

    let paths = m.paths();
    assert_eq!(mode(&paths.data_dir), 0o700, "the data directory");
    assert_eq!(mode(&paths.log_dir), 0o700, "the log directory");
    let state = paths.data_dir.join("app-state.json");
    assert!(state.exists(), "the stop was remembered");
    for entry in std::fs::read_dir(&paths.data_dir).expect("list") {
        let path = entry.expect("entry").path();
        // A public Cursor version number, nothing private (the 0700 directory covers it).
        let public = path.ends_with("client-version.json");
        if path.is_file() && !public {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
}
