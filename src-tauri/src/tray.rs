//! The tray icon and its menu: a second front end over the same core actions as the UI.
//!
//! Menu ids are declared once ([`MenuId`]). The icon, tooltip and items are re-rendered
//! from the core's [`Status`] on every change, never patched by the click handlers, so the
//! tray cannot drift from what the UI shows. Linux delivers no tray click events, so the
//! menu carries the proxy toggle too; elsewhere a left click toggles it.

use cursor_bridge_core::app::App;
use cursor_bridge_core::app::ipc::{Client, ErrorKind, ProxyRunState, Status};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::{MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Runtime};
use tauri_plugin_clipboard_manager::ClipboardExt as _;

use crate::notify;

/// The tray icon's id.
pub const TRAY_ID: &str = "main";

/// Every menu item, declared once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuId {
    /// "Running on 127.0.0.1:18741" (disabled; information only).
    Status,
    /// Start proxy / Stop proxy.
    ToggleProxy,
    /// Pause all / Resume: the spend guard's panic button, or its resume once it stopped
    /// requests (`App::guard_pause` / `App::guard_resume`, the UI's Guard panel's actions).
    Guard,
    /// Sign in… / Sign out (email).
    Account,
    /// "Copy setup for…" → OpenCode / Claude Code / Codex CLI: the client's snippet
    /// (`App::client_snippet`, the same action as Settings' "Copy snippet").
    CopySetup(Client),
    OpenWindow,
    LaunchAtLogin,
    Quit,
}

impl MenuId {
    pub const ALL: [MenuId; 10] = [
        MenuId::Status,
        MenuId::ToggleProxy,
        MenuId::Guard,
        MenuId::Account,
        MenuId::CopySetup(Client::Opencode),
        MenuId::CopySetup(Client::ClaudeCode),
        MenuId::CopySetup(Client::Codex),
        MenuId::OpenWindow,
        MenuId::LaunchAtLogin,
        MenuId::Quit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MenuId::Status => "status",
            MenuId::ToggleProxy => "toggle-proxy",
            MenuId::Guard => "guard",
            MenuId::Account => "account",
            // The OpenCode item keeps the id it had as the menu's one copy item.
            MenuId::CopySetup(Client::Opencode) => "copy-opencode-config",
            MenuId::CopySetup(Client::ClaudeCode) => "copy-claude-code-setup",
            MenuId::CopySetup(Client::Codex) => "copy-codex-setup",
            MenuId::OpenWindow => "open-window",
            MenuId::LaunchAtLogin => "launch-at-login",
            MenuId::Quit => "quit",
        }
    }

    pub fn parse(id: &str) -> Option<MenuId> {
        MenuId::ALL.into_iter().find(|m| m.as_str() == id)
    }
}

/// Which icon the tray shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrayState {
    Running,
    Stopped,
    SignedOut,
    Error,
}

impl TrayState {
    /// A proxy error wins (it needs action), then being signed out, then running/stopped.
    pub fn of(s: &Status) -> TrayState {
        match s.proxy.state {
            ProxyRunState::Error => TrayState::Error,
            _ if !s.signed_in => TrayState::SignedOut,
            ProxyRunState::Running => TrayState::Running,
            ProxyRunState::Stopped => TrayState::Stopped,
        }
    }

    fn icon_bytes(self) -> &'static [u8] {
        match self {
            TrayState::Running => include_bytes!("../../icons/tray-running.png"),
            TrayState::Stopped => include_bytes!("../../icons/tray-stopped.png"),
            TrayState::SignedOut => include_bytes!("../../icons/tray-signed-out.png"),
            TrayState::Error => include_bytes!("../../icons/tray-error.png"),
        }
    }

    fn icon(self) -> tauri::Result<Image<'static>> {
        Image::from_bytes(self.icon_bytes())
    }
}

/// The one-line description shared by the status item and the tooltip.
pub fn describe(s: &Status) -> String {
    match s.proxy.state {
        _ if s.guard.stopped() => "Paused by guard".to_string(),
        ProxyRunState::Running => format!("Running on {}:{}", s.proxy.host, s.proxy.port),
        ProxyRunState::Stopped => "Stopped".to_string(),
        ProxyRunState::Error => format!(
            "Error: {}",
            s.proxy.error.as_deref().unwrap_or("the proxy failed")
        ),
    }
}

/// The tooltip: `Cursor Bridge — running on 127.0.0.1:18741`.
pub fn tooltip(s: &Status) -> String {
    let what = match (s.signed_in, s.proxy.state) {
        (false, ProxyRunState::Running | ProxyRunState::Stopped) => "not signed in".to_string(),
        _ if s.guard.stopped() => "paused by guard".to_string(),
        (_, ProxyRunState::Running) => {
            format!("running on {}:{}", s.proxy.host, s.proxy.port)
        }
        (_, ProxyRunState::Stopped) => "stopped".to_string(),
        (_, ProxyRunState::Error) => "error".to_string(),
    };
    format!("Cursor Bridge — {what}")
}

/// The guard item: Resume once the guard stopped requests, else the panic button.
pub fn guard_label(s: &Status) -> &'static str {
    if s.guard.stopped() {
        "Resume"
    } else {
        "Pause all"
    }
}

/// The menu items whose text or state follow the status.
struct Items<R: Runtime> {
    status: MenuItem<R>,
    toggle: MenuItem<R>,
    guard: MenuItem<R>,
    account: MenuItem<R>,
    launch: CheckMenuItem<R>,
}

impl<R: Runtime> Items<R> {
    fn render(&self, tray: &TrayIcon<R>, s: &Status) -> tauri::Result<()> {
        self.status.set_text(describe(s))?;
        self.toggle.set_text(match s.proxy.state {
            ProxyRunState::Running => "Stop proxy",
            ProxyRunState::Stopped | ProxyRunState::Error => "Start proxy",
        })?;
        self.guard.set_text(guard_label(s))?;
        self.account.set_text(if s.signed_in {
            match s.account.as_ref().and_then(|a| a.email.as_deref()) {
                Some(email) => format!("Sign out ({email})"),
                None => "Sign out".to_string(),
            }
        } else {
            "Sign in…".to_string()
        })?;
        self.launch.set_checked(s.launch_at_login)?;
        tray.set_icon(Some(TrayState::of(s).icon()?))?;
        tray.set_tooltip(Some(tooltip(s)))?;
        Ok(())
    }
}

/// Creates the tray and keeps it in step with the core's status.
pub fn install<R: Runtime>(handle: &AppHandle<R>, core: &App) -> tauri::Result<()> {
    let items = Items {
        status: MenuItem::with_id(
            handle,
            MenuId::Status.as_str(),
            "Starting…",
            false,
            None::<&str>,
        )?,
        toggle: MenuItem::with_id(
            handle,
            MenuId::ToggleProxy.as_str(),
            "Start proxy",
            true,
            None::<&str>,
        )?,
        guard: MenuItem::with_id(
            handle,
            MenuId::Guard.as_str(),
            "Pause all",
            true,
            None::<&str>,
        )?,
        account: MenuItem::with_id(
            handle,
            MenuId::Account.as_str(),
            "Sign in…",
            true,
            None::<&str>,
        )?,
        launch: CheckMenuItem::with_id(
            handle,
            MenuId::LaunchAtLogin.as_str(),
            "Launch at login",
            true,
            false,
            None::<&str>,
        )?,
    };
    let copy_items = Client::ALL
        .into_iter()
        .map(|c| {
            MenuItem::with_id(
                handle,
                MenuId::CopySetup(c).as_str(),
                c.name(),
                true,
                None::<&str>,
            )
        })
        .collect::<tauri::Result<Vec<_>>>()?;
    let copy_refs: Vec<&dyn tauri::menu::IsMenuItem<R>> = copy_items
        .iter()
        .map(|i| i as &dyn tauri::menu::IsMenuItem<R>)
        .collect();
    let copy = Submenu::with_items(handle, "Copy setup for…", true, &copy_refs)?;
    let open = MenuItem::with_id(
        handle,
        MenuId::OpenWindow.as_str(),
        "Open Cursor Bridge…",
        true,
        None::<&str>,
    )?;
    let quit = MenuItem::with_id(handle, MenuId::Quit.as_str(), "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(
        handle,
        &[
            &items.status,
            &PredefinedMenuItem::separator(handle)?,
            &items.toggle,
            &items.guard,
            &items.account,
            &copy,
            &open,
            &PredefinedMenuItem::separator(handle)?,
            &items.launch,
            &PredefinedMenuItem::separator(handle)?,
            &quit,
        ],
    )?;
    let initial = core.subscribe().borrow().clone();
    let tray = TrayIconBuilder::with_id(TRAY_ID)
        .icon(TrayState::of(&initial).icon()?)
        .tooltip(tooltip(&initial))
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event({
            let core = core.clone();
            move |handle, event| on_menu(handle, &core, event)
        })
        .on_tray_icon_event({
            let core = core.clone();
            move |_tray, event| {
                if let TrayIconEvent::Click {
                    button: MouseButton::Left,
                    button_state: MouseButtonState::Up,
                    ..
                } = event
                {
                    spawn_action(
                        core.clone(),
                        |c| async move { c.toggle_proxy().await.map(drop) },
                    );
                }
            }
        })
        .build(handle)?;
    items.render(&tray, &initial)?;

    let mut changes = core.subscribe();
    tauri::async_runtime::spawn(async move {
        while changes.changed().await.is_ok() {
            let status = changes.borrow_and_update().clone();
            if let Err(e) = items.render(&tray, &status) {
                tracing::warn!(error = %e, "cannot update the tray");
            }
        }
    });
    Ok(())
}

fn on_menu<R: Runtime>(handle: &AppHandle<R>, core: &App, event: MenuEvent) {
    let Some(id) = MenuId::parse(event.id().as_ref()) else {
        return;
    };
    match id {
        MenuId::Status => {}
        MenuId::ToggleProxy => {
            spawn_action(
                core.clone(),
                |c| async move { c.toggle_proxy().await.map(drop) },
            )
        }
        MenuId::Guard => spawn_action(core.clone(), |c| async move {
            if c.status().await.guard.stopped() {
                c.guard_resume().await;
            } else {
                c.guard_pause().await;
            }
            Ok(())
        }),
        MenuId::Account => spawn_action(core.clone(), |c| async move {
            if c.status().await.signed_in {
                c.sign_out().await.map(drop)
            } else {
                c.sign_in().await.map(drop)
            }
        }),
        MenuId::CopySetup(client) => {
            let handle = handle.clone();
            spawn_action(core.clone(), move |c| async move {
                let snippet = c.client_snippet(client).await?;
                handle.clipboard().write_text(snippet.text).map_err(|e| {
                    cursor_bridge_core::app::CommandError::io(format!(
                        "Cannot copy to the clipboard: {e}"
                    ))
                })?;
                let file = snippet
                    .path
                    .map_or_else(|| "its config".to_string(), |p| p.display().to_string());
                notify::show(
                    format!("{} setup copied", client.name()),
                    format!(
                        "Paste it into {file}, or run `cursor-bridge connect {}`.",
                        client.id()
                    ),
                );
                Ok(())
            })
        }
        MenuId::OpenWindow => crate::show_main_window(handle),
        MenuId::LaunchAtLogin => spawn_action(core.clone(), |c| async move {
            let wanted = !c.status().await.launch_at_login;
            // The check mark is re-rendered from the state read back from the OS.
            c.set_launch_at_login(wanted).await.map(drop)
        }),
        MenuId::Quit => {
            let handle = handle.clone();
            let core = core.clone();
            tauri::async_runtime::spawn(async move {
                core.shutdown().await;
                handle.exit(0);
            });
        }
    }
}

/// Runs a menu action in the background; a failure is shown as a notification unless the
/// core's alerts already speak for it (a port clash, an expired session, a quota, Cursor
/// unreachable: one popup per problem, not one per click) or it is a cancelled sign-in.
fn spawn_action<F, Fut>(core: App, action: F)
where
    F: FnOnce(App) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), cursor_bridge_core::app::CommandError>> + Send,
{
    tauri::async_runtime::spawn(async move {
        if let Err(e) = action(core).await {
            let alerted = matches!(
                e.kind,
                ErrorKind::PortInUse
                    | ErrorKind::SessionExpired
                    | ErrorKind::Quota
                    | ErrorKind::Network
            );
            if !alerted && e.kind != ErrorKind::LoginCancelled {
                notify::show("Cursor Bridge".into(), e.message);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use cursor_bridge_core::app::ipc::{
        Account, ClientVersionInfo, GuardSummary, ProxyStatus, VersionSource,
    };

    fn status(signed_in: bool, state: ProxyRunState) -> Status {
        Status {
            signed_in,
            account: signed_in.then(|| Account {
                email: Some("dev@example.com".into()),
                plan: None,
            }),
            proxy: ProxyStatus {
                state,
                host: "127.0.0.1".into(),
                port: 18741,
                base_url: "http://127.0.0.1:18741/v1".into(),
                error: (state == ProxyRunState::Error).then(|| "Port 18741 is in use".into()),
            },
            launch_at_login: false,
            version: "0.1.0".into(),
            commit: "6a334c3a1b".into(),
            client_version: ClientVersionInfo {
                version: "cli-2026.01.09-231024f".into(),
                source: VersionSource::BuiltIn,
                source_label: VersionSource::BuiltIn.describe().into(),
            },
            sign_in: None,
            guard: GuardSummary::default(),
        }
    }

    #[test]
    fn menu_ids_round_trip_and_are_unique() {
        for id in MenuId::ALL {
            assert_eq!(MenuId::parse(id.as_str()), Some(id));
        }
        let mut names: Vec<_> = MenuId::ALL.iter().map(|m| m.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), MenuId::ALL.len());
    }

    #[test]
    fn icon_tooltip_and_status_line_follow_the_status() {
        let running = status(true, ProxyRunState::Running);
        assert_eq!(TrayState::of(&running), TrayState::Running);
        assert_eq!(
            tooltip(&running),
            "Cursor Bridge — running on 127.0.0.1:18741"
        );
        assert_eq!(describe(&running), "Running on 127.0.0.1:18741");
        assert_eq!(
            TrayState::of(&status(true, ProxyRunState::Stopped)),
            TrayState::Stopped
        );
        let signed_out = status(false, ProxyRunState::Running);
        assert_eq!(TrayState::of(&signed_out), TrayState::SignedOut);
        assert_eq!(tooltip(&signed_out), "Cursor Bridge — not signed in");
        let error = status(false, ProxyRunState::Error);
        assert_eq!(TrayState::of(&error), TrayState::Error);
        assert_eq!(describe(&error), "Error: Port 18741 is in use");
        assert_eq!(guard_label(&running), "Pause all");
        let mut tripped = status(true, ProxyRunState::Running);
        tripped.guard.tripped = vec!["guard_repeat_limit".into()];
        assert_eq!(describe(&tripped), "Paused by guard");
        assert_eq!(tooltip(&tripped), "Cursor Bridge — paused by guard");
        assert_eq!(guard_label(&tripped), "Resume");
        let mut paused = status(true, ProxyRunState::Running);
        paused.guard.paused = true;
        assert_eq!(guard_label(&paused), "Resume");
        for s in [
            TrayState::Running,
            TrayState::Stopped,
            TrayState::SignedOut,
            TrayState::Error,
        ] {
            let icon = s.icon().expect("icon decodes");
            assert_eq!((icon.width(), icon.height()), (32, 32));
        }
    }
}
