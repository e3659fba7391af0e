//! The IPC commands as the web UI calls them, on Tauri's mock runtime (no display), wired
//! by the same `cursor_bridge_app::build` the real app uses, against the fake Cursor
//! server. Requests carry `tauri://localhost` as their origin (Linux's scheme). The app
//! is built with its real context (`tauri.conf.json` and its capabilities), so every call
//! passes the same ACL check the real window's does.
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
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder};
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
    dir: tempfile::TempDir,
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
        // The clients' own configs live under this HOME (the window names no paths).
        let home = dir.path().join("home");
        let env = Env::from_pairs([("HOME", home.to_str().expect("utf-8"))]);
        let core = App::builder(Paths::in_dir(dir.path()), env, settings)
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
            .build(cursor_bridge_app::context())
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
            dir,
        }
    }

    /// The user's home directory the clients' configs are found in.
    fn home(&self) -> std::path::PathBuf {
        self.dir.path().join("home")
    }

    /// `invoke(cmd, args)` as `ipc.ts` sends it; `Err` is the rejection value.
    fn invoke(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        invoke_in(&self.window, APP_ORIGIN, cmd, args)
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

/// The app's own pages on Linux.
const APP_ORIGIN: &str = "tauri://localhost";

/// `invoke(cmd, args)` from `window`'s page at `url`.
fn invoke_in(
    window: &WebviewWindow<MockRuntime>,
    url: &str,
    cmd: &str,
    args: Value,
) -> Result<Value, Value> {
    let request = InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: url.parse().expect("url"),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    };
    get_ipc_response(window, request).map(|b| b.deserialize::<Value>().expect("JSON"))
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
    // Claude Code's own config under the user's HOME: the window names no file.
    let file = h.home().join(".claude").join("settings.json");
    std::fs::create_dir_all(file.parent().expect("dir")).expect("mkdir");
    let original = "{\n  \"theme\": \"dark\"\n}\n";
    std::fs::write(&file, original).expect("write");
    let path = file.to_str().expect("utf-8");

    let dry = h.ok(
        "connect_client",
        json!({"client": "claude-code", "options": {"dryRun": true}}),
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
        json!({"client": "claude-code", "options": {}}),
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
        json!({"client": "claude-code", "options": {}}),
    );
    assert_eq!(e["kind"], "invalid_input", "{e}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "[1]");
}

/// The commands of `ui/src/ipc.ts`'s `Commands` table: everything the UI calls.
fn ui_commands() -> Vec<String> {
    let ipc_ts = include_str!("../../ui/src/ipc.ts");
    let table = ipc_ts
        .split_once("export interface Commands {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .expect("ipc.ts declares `export interface Commands { … }`")
        .0;
    let names: Vec<String> = table
        .lines()
        .filter_map(|l| l.trim().split_once(": { args:"))
        .map(|(name, _)| name.to_string())
        .collect();
    assert!(names.len() > 20, "the table parsed: {names:?}");
    names
}

/// Tauri's refusal of a call no capability grants: debug builds explain it ("… not
/// allowed …"), release builds say "Command … not allowed by ACL". It comes before the
/// command runs.
fn refused_by_acl(r: &Result<Value, Value>) -> bool {
    matches!(r, Err(Value::String(m)) if m.contains("not allowed"))
}

/// The capability grants the main window every command the UI calls (a command left out
/// of `build.rs`'s manifest or of `capabilities/default.json` would fail here, not in a
/// user's window) and the events it listens to.
#[test]
fn the_main_window_may_call_every_command_the_ui_uses() {
    let (listener, port) = own_port();
    let h = Harness::new(port, vec![listener]);
    for cmd in ui_commands() {
        // Without its arguments a command is rejected by its own argument check, after
        // the ACL let it through; a command without arguments runs (on the fake).
        let r = h.invoke(&cmd, json!({}));
        assert!(!refused_by_acl(&r), "{cmd} refused: {r:?}");
    }
    let listen = json!({"event": "status-changed", "target": {"kind": "Any"}, "handler": 7});
    let r = h.invoke("plugin:event|listen", listen);
    assert!(r.is_ok(), "listen: {r:?}");
}

/// The window may call exactly the listed commands: a command outside the list, a plugin
/// command, another window and a remote page are all refused before anything runs.
#[test]
fn calls_outside_the_capability_are_refused() {
    let (listener, port) = own_port();
    let h = Harness::new(port, vec![listener]);

    // Not ours at all: the ACL refuses it (the handler would answer "not found").
    let r = h.invoke("read_file", json!({"path": "/etc/passwd"}));
    assert!(refused_by_acl(&r), "{r:?}");
    // Plugins' commands the UI has no use for: launch at login goes through
    // `set_launch_at_login` only, windows are the shell's, events flow backend → UI.
    for cmd in [
        "plugin:autostart|enable",
        "plugin:window|close",
        "plugin:webview|create_webview_window",
        "plugin:event|emit",
        "plugin:clipboard-manager|read_text",
    ] {
        let r = h.invoke(cmd, json!({}));
        assert!(refused_by_acl(&r), "{cmd}: {r:?}");
    }

    // Any other window (one a bug or a plugin opens) gets nothing, not even the status.
    let other = WebviewWindowBuilder::new(&h.app, "other", Default::default())
        .build()
        .expect("a second window");
    for cmd in ["get_status", "get_api_key", "regenerate_api_key"] {
        let r = invoke_in(&other, APP_ORIGIN, cmd, json!({}));
        assert!(refused_by_acl(&r), "{cmd} from another window: {r:?}");
    }
    // A remote page loaded in the main window, likewise.
    let r = invoke_in(&h.window, "https://example.com/", "get_api_key", json!({}));
    assert!(refused_by_acl(&r), "a remote page: {r:?}");

    // The key was never handed out or changed by the refused calls.
    let key = h.ok("get_api_key", json!({}));
    assert_eq!(h.ok("get_api_key", json!({})), key);
}

/// No command takes a filesystem path: `connect_client` refuses one (and a program to
/// run for the key) and writes nothing; `opencode_install` writes OpenCode's own config
/// whatever the page sends.
#[test]
fn no_command_takes_a_path_from_the_window() {
    let (listener, port) = own_port();
    let h = Harness::new(port, vec![listener]);
    h.ok("sign_in", json!({}));
    let elsewhere = h.dir.path().join("elsewhere.json");
    let target = elsewhere.to_str().expect("utf-8");

    for options in [json!({"path": target}), json!({"keyCommand": "/bin/sh"})] {
        let r = h.invoke(
            "connect_client",
            json!({"client": "claude-code", "options": options}),
        );
        assert!(
            matches!(&r, Err(Value::String(m)) if m.contains("unknown field")),
            "{options}: {r:?}"
        );
    }
    assert!(!h.home().join(".claude").exists(), "nothing written");

    let done = h.ok("opencode_install", json!({"path": target}));
    let written = done["path"].as_str().expect("path");
    assert!(
        written.starts_with(
            h.home()
                .join(".config")
                .join("opencode")
                .to_str()
                .expect("utf-8")
        ),
        "{done}"
    );
    assert!(!elsewhere.exists(), "the page's path was not used");
}

/// The CSP of `tauri.conf.json` (Tauri sends it with every page it serves): scripts and
/// everything else from the app only, and no plugins, `<base>`, form posts or framing.
#[test]
fn the_csp_allows_only_the_apps_own_content() {
    let context = cursor_bridge_app::context::<MockRuntime>();
    let csp = context
        .config()
        .app
        .security
        .csp
        .as_ref()
        .expect("a CSP")
        .to_string();
    let directives: std::collections::BTreeMap<&str, Vec<&str>> = csp
        .split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            Some((words.next()?, words.collect()))
        })
        .collect();
    for (name, want) in [
        ("default-src", vec!["'self'"]),
        ("object-src", vec!["'none'"]),
        ("base-uri", vec!["'none'"]),
        ("form-action", vec!["'none'"]),
        ("frame-ancestors", vec!["'none'"]),
    ] {
        assert_eq!(directives.get(name), Some(&want), "{name} in {csp}");
    }
    // Scripts fall back to default-src 'self': no inline or eval'd script anywhere.
    assert!(!directives.contains_key("script-src"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
}
