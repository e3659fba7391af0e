//! The tray app's entry point; everything is wired in the library (`cursor_bridge_app::run`).
// No console window on Windows release builds (the tray is the interface).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    cursor_bridge_app::run()
}
