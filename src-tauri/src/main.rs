//! The tray app's entry point; everything is wired in the library (`cursor_bridge_app::run`).
// No console window on Windows release builds (the tray is the interface).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use cursor_bridge_core::config::settings::{Env, SECRET_ENV_VARS};

fn main() {
    // First, while this is the only thread: what the settings need from the environment,
    // then the secrets out of it (WebKit's helper processes and the browser inherit the
    // rest) and core dumps off.
    let env = Env::from_process();
    for problem in cursor_bridge_harden::start(&SECRET_ENV_VARS) {
        eprintln!("Cursor Bridge: warning: {problem}");
    }
    cursor_bridge_app::run(env)
}
