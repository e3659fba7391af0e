//! Backend → UI events: one enum, so the names the UI listens for are declared once
//! (`docs/IPC.md`, "Events").

use cursor_bridge_core::app::ipc::Status;
use tauri::{AppHandle, Emitter, Runtime};

/// Every event the shell sends to the web UI.
#[derive(Debug, Clone)]
pub enum UiEvent {
    /// After every change of the status (proxy start/stop, sign-in/out, errors).
    StatusChanged(Status),
}

impl UiEvent {
    /// The event name the UI listens to.
    pub fn name(&self) -> &'static str {
        match self {
            UiEvent::StatusChanged(_) => "status-changed",
        }
    }

    /// Sends it to every webview.
    pub fn emit<R: Runtime>(self, handle: &AppHandle<R>) {
        let name = self.name();
        let sent = match self {
            UiEvent::StatusChanged(status) => handle.emit(name, status),
        };
        if let Err(e) = sent {
            tracing::warn!(event = name, error = %e, "cannot emit an event to the UI");
        }
    }
}
