//! The IPC commands of `docs/IPC.md`, each a one-line call into the core's [`App`]. Names
//! are the contract's; arguments arrive camelCase (Tauri's default), failures reject with
//! the core's `CommandError` (`{kind, message}`).
//!
//! No command takes a filesystem path or a program: the window names a target (a client,
//! OpenCode's own config) and the core finds the file, so a page that went wrong can reach
//! only what these commands already do.

use cursor_bridge_core::app::App;
// Every type crossing IPC comes from the one contract module (docs/IPC.md).
use cursor_bridge_core::app::ipc::{
    Client, ClientSnippet, CommandError, ConnectChoice, ConnectReport, ConnectionStatus,
    DisconnectReport, GuardStatus, Model, OpencodeSnippet, PlanUsage, Range, RecentError,
    SettingsView, Status, UsageReport, WriteOutcome,
};
use tauri::State;

type Res<T> = Result<T, CommandError>;

#[tauri::command]
pub async fn get_status(app: State<'_, App>) -> Res<Status> {
    Ok(app.status().await)
}

#[tauri::command]
pub async fn sign_in(app: State<'_, App>) -> Res<Status> {
    app.sign_in().await
}

#[tauri::command]
pub fn cancel_sign_in(app: State<'_, App>) {
    app.cancel_sign_in()
}

#[tauri::command]
pub async fn sign_out(app: State<'_, App>) -> Res<Status> {
    app.sign_out().await
}

#[tauri::command]
pub async fn list_models(app: State<'_, App>, refresh: bool) -> Res<Vec<Model>> {
    app.list_models(refresh).await
}

#[tauri::command]
pub fn get_settings(app: State<'_, App>) -> SettingsView {
    app.get_settings()
}

#[tauri::command]
pub async fn update_settings(app: State<'_, App>, settings: SettingsView) -> Res<SettingsView> {
    app.update_settings(settings).await
}

#[tauri::command]
pub async fn start_proxy(app: State<'_, App>) -> Res<Status> {
    app.start_proxy().await
}

#[tauri::command]
pub async fn stop_proxy(app: State<'_, App>) -> Res<Status> {
    app.stop_proxy().await
}

#[tauri::command]
pub fn get_api_key(app: State<'_, App>) -> Res<String> {
    app.api_key()
}

#[tauri::command]
pub async fn regenerate_api_key(app: State<'_, App>) -> Res<String> {
    app.regenerate_api_key().await
}

#[tauri::command]
pub async fn forget_conversations(app: State<'_, App>) -> Res<u32> {
    app.forget_conversations().await
}

#[tauri::command]
pub fn guard_status(app: State<'_, App>) -> GuardStatus {
    app.guard_status()
}

#[tauri::command]
pub async fn guard_pause(app: State<'_, App>) -> Res<GuardStatus> {
    Ok(app.guard_pause().await)
}

#[tauri::command]
pub async fn guard_resume(app: State<'_, App>) -> Res<GuardStatus> {
    Ok(app.guard_resume().await)
}

#[tauri::command]
pub async fn plan_usage(app: State<'_, App>) -> Res<PlanUsage> {
    app.plan_usage().await
}

#[tauri::command]
pub async fn opencode_snippet(app: State<'_, App>) -> Res<OpencodeSnippet> {
    app.opencode_snippet().await
}

#[tauri::command]
pub async fn set_launch_at_login(app: State<'_, App>, enabled: bool) -> Res<bool> {
    app.set_launch_at_login(enabled).await
}

#[tauri::command]
pub fn open_log_folder(app: State<'_, App>) -> Res<()> {
    app.open_log_folder()
}

#[tauri::command]
pub async fn usage_report(app: State<'_, App>, range: Range) -> Res<UsageReport> {
    app.usage_report(range).await
}

#[tauri::command]
pub async fn recent_errors(app: State<'_, App>) -> Res<Vec<RecentError>> {
    app.recent_errors().await
}

/// OpenCode's own global config (as OpenCode finds it), never a path from the window.
#[tauri::command]
pub async fn opencode_install(app: State<'_, App>) -> Res<WriteOutcome> {
    app.opencode_install(None).await
}

#[tauri::command]
pub async fn connect_client(
    app: State<'_, App>,
    client: Client,
    options: ConnectChoice,
) -> Res<ConnectReport> {
    app.connect(client, options.into()).await
}

#[tauri::command]
pub async fn disconnect_client(app: State<'_, App>, client: Client) -> Res<DisconnectReport> {
    app.disconnect(client).await
}

#[tauri::command]
pub async fn connection_status(app: State<'_, App>) -> Res<Vec<ConnectionStatus>> {
    app.connection_status().await
}

#[tauri::command]
pub async fn client_snippet(app: State<'_, App>, client: Client) -> Res<ClientSnippet> {
    app.client_snippet(client).await
}
