//! Placeholder for the Tauri v2 tray shell (a later issue). It only proves the shell
//! links against the headless core, which is where every decision lives.

fn main() {
    println!(
        "cursor-bridge-app {}: the tray app is not built yet; use the `cursor-bridge` CLI.",
        cursor_bridge_core::VERSION
    );
}
