//! Desktop notifications. What to say and when (deduplication, next steps) is the core's
//! policy (`cursor_bridge_core::app::alerts`); this module only shows them, with
//! `notify-rust` because it reports a missing notification server as an error instead of
//! pretending it worked.

use cursor_bridge_core::app::App;
use tokio::sync::broadcast::error::RecvError;

/// The app name notifications carry.
const APP_NAME: &str = "Cursor Bridge";

/// Shows one notification, off the async threads (the D-Bus call blocks).
pub fn show(title: String, body: String) {
    tauri::async_runtime::spawn_blocking(move || {
        let shown = notify_rust::Notification::new()
            .appname(APP_NAME)
            .summary(&title)
            .body(&body)
            .show();
        if let Err(e) = shown {
            // Logged, not retried: the status and the tray icon still show the problem.
            tracing::warn!(error = %e, %title, "cannot show a notification");
        }
    });
}

/// Shows every alert the core raises, for as long as the app lives.
pub fn forward_alerts(app: &App) {
    let mut alerts = app.subscribe_alerts();
    tauri::async_runtime::spawn(async move {
        loop {
            match alerts.recv().await {
                Ok(alert) => show(alert.title, alert.body),
                Err(RecvError::Lagged(n)) => tracing::warn!(n, "alerts dropped"),
                Err(RecvError::Closed) => break,
            }
        }
    });
}
