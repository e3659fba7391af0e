//! The IPC commands as the web UI calls them, on Tauri's mock runtime (no display), wired
//! by the same `cursor_bridge_app::build` the real app uses, against the fake Cursor
//! server. Requests carry `tauri://localhost` as their origin (Linux's scheme).
//!
//! `get_ipc_response` blocks the calling thread until the command answers, so the fake
//! runs on its own multi-threaded runtime; the commands run on Tauri's.

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use cursor_bridge_core::app::App;
use cursor_bridge_core::config::settings::{CredentialStoreKind, Env, Paths, Settings};
use cursor_bridge_tests::FakeCursor;
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{
    INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
};
use tauri::webview::InvokeRequest;
use tauri::{Listener as _, WebviewWindow, WebviewWindowBuilder};

/// A listener on port 0 and its port: handed to the app, which serves it the first time
/// its proxy starts on that port, so the port is never released and hoped for in between.
fn own_port() -> (std::net::TcpListener, u16) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    let port = l.local_addr().expect("addr").port();
    (l, port)
}

struct Harness {
    app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    _fake: Arc<FakeCursor>,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// The app configured for `port`, holding `listeners` for its proxy.
    fn new(port: u16, listeners: Vec<std::net::TcpListener>) -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime for the fake");
        let fake = Arc::new(rt.block_on(FakeCursor::builder().start()));
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = Settings {
            port,
            api_url: fake.url().parse().expect("url"),
            login_url: fake.url().parse().expect("url"),
            credential_store: CredentialStoreKind::File,
            login_poll_initial_ms: 10,
            login_poll_max_ms: 50,
            drain_grace_secs: 1,
            ..Settings::default()
        };
        let browser = fake.clone();
        let core = App::builder(Paths::in_dir(dir.path()), Env::default(), settings)
            // The user's browser: approves the login on the fake.
            .opener(move |url| {
                browser
                    .approve_login_url(url)
                    .then_some(())
                    .ok_or_else(|| format!("not a login URL: {url}"))
            });
        let core = listeners
            .into_iter()
            .fold(core, |core, l| core.listener(l))
            .build()
            .expect("core");
        let app = cursor_bridge_app::build(mock_builder(), core)
            .build(mock_context(noop_assets()))
            .expect("the app builds on the mock runtime");
        let window =
            WebviewWindowBuilder::new(&app, cursor_bridge_app::MAIN_WINDOW, Default::default())
                .build()
                .expect("window");
        Harness {
            app,
            window,
            _fake: fake,
            _rt: rt,
            _dir: dir,
        }
    }

    /// `invoke(cmd, args)` as `ipc.ts` sends it; `Err` is the rejection value.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        let request = InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().expect("url"),
            body: InvokeBody::Json(args),
            headers: Default::default(),
            invoke_key: INVOKE_KEY.to_string(),
        };
        get_ipc_response(&self.window, request).map(|b| b.deserialize::<Value>().expect("JSON"))
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.invoke(cmd, args)
            .unwrap_or_else(|e| panic!("{cmd} rejected: {e}"))
    }

    fn err(&self, cmd: &str, args: Value) -> Value {
        let e = self
            .invoke(cmd, args)
            .expect_err(&format!("{cmd} should reject"));
        let obj = e
            .as_object()
            .unwrap_or_else(|| panic!("{cmd}: not an object: {e}"));
        assert_eq!(obj.len(), 2, "exactly kind and message: {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
        e
    }
}

#[test]
fn sign_in_models_and_the_proxy_through_ipc() {
    let (listener, port) = own_port();
    let h = Harness::new(port, vec![listener]);
    let (tx, rx) = mpsc::channel::<Value>();
    h.app.listen("status-changed", move |event| {
        let _ = tx.send(serde_json::from_str(event.payload()).expect("payload is a Status"));
    });

    let s = h.ok("get_status", json!({}));
    assert_eq!(s["signedIn"], false);
    assert_eq!(s["account"], Value::Null);
    assert_eq!(s["proxy"]["state"], "stopped");
    assert_eq!(s["proxy"]["port"], port);
    assert_eq!(s["launchAtLogin"], false);
    assert!(s["version"].is_string());

    let e = h.err("list_models", json!({"refresh": false}));
    assert_eq!(e["kind"], "not_signed_in");

    let s = h.ok("sign_in", json!({}));
    assert_eq!(s["signedIn"], true);
    assert_eq!(s["account"]["email"], "dev@example.com");
    // The events carry the sign-in as it happens: the waiting attempt (unless the next
    // status replaced it before the shell sent it), then the new status.
    let pushed = loop {
        let pushed = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("status-changed");
        if pushed["signedIn"] == true {
            break pushed;
        }
        assert!(
            pushed["signIn"]["attempt"].is_u64(),
            "only the waiting sign-in comes before: {pushed}"
        );
    };
    assert_eq!(
        pushed["signIn"],
        Value::Null,
        "the event carries the new status"
    );

    let models = h.ok("list_models", json!({"refresh": true}));
    let first = &models.as_array().expect("array")[0];
    assert!(
        first["contextLimit"].as_u64().is_some_and(|n| n > 0),
        "{first}"
    );
    assert!(first["limitSource"].is_string());

    let s = h.ok("start_proxy", json!({}));
    assert_eq!(s["proxy"]["state"], "running");
    assert_eq!(s["proxy"]["baseUrl"], format!("http://127.0.0.1:{port}/v1"));
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    let snippet = h.ok("opencode_snippet", json!({}));
    assert!(
        snippet["text"]
            .as_str()
            .is_some_and(|t| t.contains("baseURL"))
    );
    let key = h.ok("get_api_key", json!({}));
    assert!(key.as_str().is_some_and(|k| k.starts_with("cb-")));

    // Nothing kept yet: forgetting is fine and says so.
    assert_eq!(h.ok("forget_conversations", json!({})), json!(0));

    let s = h.ok("stop_proxy", json!({}));
    assert_eq!(s["proxy"]["state"], "stopped");
    assert!(
        std::net::TcpListener::bind(("127.0.0.1", port)).is_err(),
        "a stopped proxy keeps its port (issue 15)"
    );

    let usage = h.ok("plan_usage", json!({}));
    assert_eq!(usage["includedCents"], 2000);

    let s = h.ok("sign_out", json!({}));
    assert_eq!(s["signedIn"], false);
}

#[test]
fn settings_and_failures_come_back_as_kind_and_message() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    // The port the settings move to is the app's from the start.
    let (next, new_port) = own_port();
    let h = Harness::new(port, vec![next]);

    let settings = h.ok("get_settings", json!({}));
    assert_eq!(
        settings,
        json!({"host": "127.0.0.1", "port": port, "defaultModel": "auto",
               "startProxyOnLaunch": true, "requireApiKey": true, "agentTransport": "http2",
               "guardEnabled": true, "guardRepeatLimit": 5, "guardMaxToolSteps": 100,
               "guardRequestsPerMinute": 120, "guardDailyRequests": 0, "guardDailyTokens": 0,
               "guardOnDemand": "warn"})
    );

    let e = h.err("start_proxy", json!({}));
    assert_eq!(e["kind"], "port_in_use");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains(&port.to_string()))
    );
    assert_eq!(h.ok("get_status", json!({}))["proxy"]["state"], "error");

    let mut bad = settings.clone();
    bad["port"] = json!(0);
    let e = h.err("update_settings", json!({"settings": bad}));
    assert_eq!(e["kind"], "invalid_input");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("port:")),
        "{e}"
    );
    let mut bad = settings.clone();
    bad["host"] = json!("my laptop");
    let e = h.err("update_settings", json!({"settings": bad}));
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("host:")),
        "{e}"
    );

    let mut bad = settings.clone();
    bad["agentTransport"] = json!("h2");
    let e = h.err("update_settings", json!({"settings": bad}));
    assert_eq!(e["kind"], "invalid_input");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("agentTransport:")),
        "{e}"
    );

    let mut good = settings.clone();
    good["port"] = json!(new_port);
    good["requireApiKey"] = json!(false);
    good["agentTransport"] = json!("http1");
    assert_eq!(h.ok("update_settings", json!({"settings": good})), good);
    assert_eq!(h.ok("get_settings", json!({})), good);
    let s = h.ok("start_proxy", json!({}));
    assert_eq!(
        (s["proxy"]["state"].clone(), s["proxy"]["port"].clone()),
        (json!("running"), json!(new_port))
    );
    h.ok("stop_proxy", json!({}));
    drop(taken);

    // Nothing to cancel is fine; the answer is null.
    assert_eq!(h.ok("cancel_sign_in", json!({})), Value::Null);
}

/// Settings → "Connect your tools" as the UI drives it: a dry run changes nothing, connect
/// writes the file and shows in the status, the snippet copies, disconnect puts the file
/// back, and a file that cannot take the merge is refused as `invalid_input`.
#[test]
fn connect_preview_status_snippet_and_disconnect_through_ipc() {
    let (listener, port) = own_port();
    let h = Harness::new(port, vec![listener]);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("settings.json");
    let original = "{\n  \"theme\": \"dark\"\n}\n";
    std::fs::write(&file, original).expect("write");
    let path = file.to_str().expect("utf-8");

    let dry = h.ok(
        "connect_client",
        json!({"client": "claude-code", "options": {"path": path, "dryRun": true}}),
    );
    assert_eq!(dry["dryRun"], true);
    let diff = dry["diff"].as_str().expect("diff");
    assert!(
        diff.contains(&format!(
            "+    \"ANTHROPIC_BASE_URL\": \"http://127.0.0.1:{port}\""
        )),
        "{diff}"
    );
    assert!(
        diff.contains("<local API key>"),
        "the key is masked: {diff}"
    );
    assert_eq!(std::fs::read_to_string(&file).expect("read"), original);

    // Options left out take their defaults (the UI sends `{}` for a plain connect).
    let done = h.ok(
        "connect_client",
        json!({"client": "claude-code", "options": {"path": path}}),
    );
    assert!(done["backup"].is_string(), "{done}");
    let rows = h.ok("connection_status", json!({}));
    let claude = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["client"] == "claude-code")
        .expect("a Claude Code row");
    assert_eq!(
        (&claude["connected"], &claude["stale"], &claude["path"]),
        (&json!(true), &json!(false), &json!(path))
    );
    assert_eq!(rows.as_array().expect("rows").len(), 3);

    let snippet = h.ok("client_snippet", json!({"client": "codex"}));
    assert!(
        snippet["text"]
            .as_str()
            .is_some_and(|t| t.contains("wire_api = \"responses\"")),
        "{snippet}"
    );

    let undone = h.ok("disconnect_client", json!({"client": "claude-code"}));
    assert_eq!(undone["restoredExactly"], true, "{undone}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), original);

    std::fs::write(&file, "[1]").expect("write");
    let e = h.err(
        "connect_client",
        json!({"client": "claude-code", "options": {"path": path}}),
    );
    assert_eq!(e["kind"], "invalid_input", "{e}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "[1]");
}
