//! # cursor-bridge-app: the tray app, a thin Tauri v2 shell over `cursor-bridge-core`
//!
//! Every decision lives in the core's [`App`] (actions, status, notification policy); this
//! crate only connects it to the desktop: IPC commands for the web UI, the tray, desktop
//! notifications, launch at login, a single instance, and a window that exists only while
//! it is open (closing it does not quit). It never speaks HTTP or protobuf itself.
//!
//! ## Layout
//! - [`build`]: what every run needs (state, commands, events, window behaviour, the
//!   autostart plugin); `tauri::test::mock_builder()` builds it in tests, no display.
//! - [`run`]: the real app — loads settings, adds the desktop-only parts (single
//!   instance, clipboard, tray, notifications, restoring the proxy) and runs.
//! - [`commands`]: the IPC commands of `docs/IPC.md`, one line each.
//! - [`events`]: backend → UI events (`status-changed`).
//! - [`tray`]: icon per state, tooltip, menu (ids declared once).
//! - [`notify`]: shows the core's alerts with `notify-rust`.

pub mod commands;
pub mod events;
pub mod notify;
pub mod tray;

use std::sync::Arc;

use cursor_bridge_core::app::ipc::CommandError;
use cursor_bridge_core::app::{App, LaunchAtLogin};
use cursor_bridge_core::config::logfile::RotatingFile;
use cursor_bridge_core::config::settings::{Env, Paths, Settings};
use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Manager, RunEvent, Runtime, WebviewWindow};
use tauri_plugin_autostart::ManagerExt as _;

use events::UiEvent;

/// The label of the one window (`tauri.conf.json`).
pub const MAIN_WINDOW: &str = "main";
/// Passed by the login item: start in the tray without showing the window.
pub const HIDDEN_ARG: &str = "--hidden";

/// The app's context from `tauri.conf.json`: the window, the CSP and the ACL (the manifest
/// of `build.rs` and `capabilities/`). The real app and the mock-runtime tests build with
/// this same one, so the tests meet the same refusals the window does.
pub fn context<R: Runtime>() -> tauri::Context<R> {
    tauri::generate_context!("../tauri.conf.json")
}

/// Everything the app needs on any runtime: the core as managed state, the IPC commands,
/// `status-changed` events and launch at login read back from the OS.
pub fn build<R: Runtime>(builder: tauri::Builder<R>, app: App) -> tauri::Builder<R> {
    builder
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(HIDDEN_ARG)
                .build(),
        )
        .manage(app)
        .invoke_handler(tauri::generate_handler![
            commands::get_status,
            commands::guard_status,
            commands::guard_pause,
            commands::guard_resume,
            commands::sign_in,
            commands::cancel_sign_in,
            commands::sign_out,
            commands::list_models,
            commands::get_settings,
            commands::update_settings,
            commands::start_proxy,
            commands::stop_proxy,
            commands::get_api_key,
            commands::regenerate_api_key,
            commands::plan_usage,
            commands::opencode_snippet,
            commands::set_launch_at_login,
            commands::open_log_folder,
            commands::usage_report,
            commands::recent_errors,
            commands::opencode_install,
            commands::connect_client,
            commands::disconnect_client,
            commands::connection_status,
            commands::client_snippet,
            commands::forget_conversations,
        ])
        // A plugin rather than `Builder::setup`: plugins are set up when the app is built,
        // `setup` only once the event loop runs, which the mock runtime in tests never does.
        .plugin(wiring())
}

/// Connects the core to this app: launch at login through the autostart plugin, and every
/// status change sent to the UI.
fn wiring<R: Runtime>() -> TauriPlugin<R> {
    tauri::plugin::Builder::new("cursor-bridge-wiring")
        .setup(|handle, _api| {
            let core = handle.state::<App>().inner().clone();
            core.set_launch_at_login_backend(Arc::new(PluginLaunchAtLogin(handle.clone())));
            forward_status(handle, &core);
            Ok(())
        })
        .build()
}

/// Sends every status change to the UI.
fn forward_status<R: Runtime>(handle: &AppHandle<R>, core: &App) {
    let mut changes = core.subscribe();
    let handle = handle.clone();
    tauri::async_runtime::spawn(async move {
        while changes.changed().await.is_ok() {
            let status = changes.borrow_and_update().clone();
            UiEvent::StatusChanged(status).emit(&handle);
        }
    });
}

/// Launch at login through the autostart plugin; on Linux it writes
/// `$HOME/.config/autostart/<productName>.desktop`.
struct PluginLaunchAtLogin<R: Runtime>(AppHandle<R>);

impl<R: Runtime> LaunchAtLogin for PluginLaunchAtLogin<R> {
    fn is_enabled(&self) -> Result<bool, String> {
        self.0.autolaunch().is_enabled().map_err(|e| e.to_string())
    }

    fn set_enabled(&self, enabled: bool) -> Result<(), String> {
        let manager = self.0.autolaunch();
        if enabled == manager.is_enabled().map_err(|e| e.to_string())? {
            return Ok(());
        }
        if enabled {
            ensure_autostart_dir()?;
            manager.enable()
        } else {
            manager.disable()
        }
        .map_err(|e| e.to_string())
    }
}

/// The autostart plugin (auto-launch) writes `$HOME/.config/autostart/<name>.desktop` but
/// does not create the directory, which a fresh account does not have: enabling failed
/// with "No such file or directory" (found by scripts/app-e2e.sh).
fn ensure_autostart_dir() -> Result<(), String> {
    #[cfg(target_os = "linux")]
    if let Some(home) = std::env::var_os("HOME") {
        let dir = std::path::Path::new(&home)
            .join(".config")
            .join("autostart");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// When launch at login is on, its entry starts the binary running now. One written by
/// another copy of the app (`scripts/run.sh`'s build tree, before the package was
/// installed) would go on starting that copy at login, or nothing once it is deleted;
/// it is written again for this one. Only the real app does this (from `run`): the mock
/// runtime of the tests must never touch the user's entry.
fn login_item_starts_this_binary<R: Runtime>(handle: &AppHandle<R>) {
    #[cfg(target_os = "linux")]
    {
        let manager = handle.autolaunch();
        let (Ok(true), Ok(exe), Some(home)) = (
            manager.is_enabled(),
            std::env::current_exe(),
            std::env::var_os("HOME"),
        ) else {
            return;
        };
        // Where and how auto-launch writes it (`Exec=<path> <args>`).
        let entry = std::path::Path::new(&home)
            .join(".config/autostart")
            .join(format!("{}.desktop", handle.package_info().name));
        let ours = format!("Exec={} {HIDDEN_ARG}", exe.display());
        let text = std::fs::read_to_string(&entry).unwrap_or_default();
        if text.lines().any(|line| line == ours) {
            return;
        }
        match manager.disable().and_then(|()| manager.enable()) {
            Ok(()) => tracing::info!(entry = %entry.display(), exe = %exe.display(),
                "launch at login now starts this binary"),
            Err(e) => tracing::warn!(error = %e, "cannot update the launch-at-login entry"),
        }
    }
}

/// Shows, unminimizes and focuses the main window, creating it if it is closed.
pub fn show_main_window<R: Runtime>(handle: &AppHandle<R>) {
    let window = match handle.get_webview_window(MAIN_WINDOW) {
        Some(w) => Ok(w),
        None => create_main_window(handle),
    };
    let shown = window.and_then(|w| {
        w.unminimize()
            .and_then(|()| w.show())
            .and_then(|()| w.set_focus())
    });
    if let Err(e) = shown {
        tracing::warn!(error = %e, "cannot show the window");
    }
}

/// The main window from its entry in `tauri.conf.json`. The entry says `"create": false`:
/// the window (and its web view, with WebKit's web and network processes) exists only
/// while it is open. Closing it destroys it — the tray keeps the app alive — so a tray
/// app left in the background holds no browser engine (~300 MB of it, measured by
/// scripts/bench-app.sh; docs/PERFORMANCE.md).
fn create_main_window<R: Runtime>(handle: &AppHandle<R>) -> tauri::Result<WebviewWindow<R>> {
    let config = handle
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .cloned()
        .unwrap_or_default();
    tauri::WebviewWindowBuilder::from_config(handle, &config)?.build()
}

/// The parts only a real desktop has: the tray, notifications, and restoring the proxy.
fn desktop<R: Runtime>() -> TauriPlugin<R> {
    tauri::plugin::Builder::new("cursor-bridge-desktop")
        .setup(|handle, _api| {
            let core = handle.state::<App>().inner().clone();
            if let Err(e) = tray::install(handle, &core) {
                // The window and the notifications still work without a tray host.
                tracing::warn!(error = %e, "no tray icon");
            }
            notify::forward_alerts(&core);
            tauri::async_runtime::spawn(async move {
                core.launch().await;
            });
            Ok(())
        })
        .build()
}

/// The core from the process environment and `settings.toml`.
fn load_core(env: Env, paths: Paths) -> Result<App, CommandError> {
    let settings = Settings::load(&paths, &env)?;
    App::builder(paths, env, settings).build()
}

/// `app.log` is rotated beyond this size while the app runs, so logs stay bounded.
const LOG_ROTATE_BYTES: u64 = 5 * 1024 * 1024;

/// Rotated logs kept besides `app.log` (`app.log.1` … `app.log.3`): at most 20 MiB.
const LOG_KEEP: usize = 3;

/// `<log_dir>/app.log` (what "Open log folder" shows), or `None` when it cannot be opened.
/// Logs name models, clients and errors: 0700/0600 like the rest of our data.
fn open_log_file(paths: Option<&Paths>) -> Option<RotatingFile> {
    RotatingFile::open(&paths?.log_dir, "app.log", LOG_ROTATE_BYTES, LOG_KEEP).ok()
}

/// Logs to stderr and to the log file (no colours there).
fn init_logging(paths: Option<&Paths>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let file = open_log_file(paths).map(|f| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
    });
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(file)
        .init();
}

/// Runs the tray app until the user chooses Quit, with `env` the process environment as
/// it was at start (`main` has since removed the secrets from it).
pub fn run(env: Env) {
    let paths = Paths::resolve(&env);
    init_logging(paths.as_ref().ok());
    let core = match paths
        .map_err(CommandError::from)
        .and_then(|paths| load_core(env, paths))
    {
        Ok(core) => core,
        Err(e) => {
            // Before any window exists: say it where the user looks, then stop.
            eprintln!("Cursor Bridge cannot start: {}", e.message);
            let _ = notify_rust::Notification::new()
                .appname("Cursor Bridge")
                .summary("Cursor Bridge cannot start")
                .body(&e.message)
                .show();
            std::process::exit(1);
        }
    };
    let builder = tauri::Builder::default()
        // First, so a second launch exits before anything else starts.
        .plugin(tauri_plugin_single_instance::init(|handle, _args, _cwd| {
            show_main_window(handle)
        }))
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(desktop());
    let app = build(builder, core).build(context()).unwrap_or_else(|e| {
        eprintln!("Cursor Bridge cannot start: {e}");
        std::process::exit(1);
    });
    app.run(|handle, event| match event {
        RunEvent::Ready => {
            login_item_starts_this_binary(handle);
            // Open the window unless the login item started us (then the tray is enough).
            if !std::env::args().any(|a| a == HIDDEN_ARG) {
                show_main_window(handle)
            }
        }
        // Closing the last window must not quit a tray app; Quit exits with a code.
        RunEvent::ExitRequested {
            api, code: None, ..
        } => api.prevent_exit(),
        _ => {}
    });
}
