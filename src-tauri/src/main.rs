//! The tray app's entry point; everything is wired in the library (`cursor_bridge_app::run`).
// No console window on Windows release builds (the tray is the interface).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use cursor_bridge_core::config::settings::{Env, SECRET_ENV_VARS};

fn main() {
    // First: the secrets out of the environment (WebKit's helper processes and the
    // browser inherit the rest; on Linux this execs the binary once more) and core dumps
    // off; then the settings' snapshot of the environment, the secrets included.
    let started = cursor_bridge_harden::start(&SECRET_ENV_VARS);
    for problem in &started.problems {
        eprintln!("Cursor Bridge: warning: {problem}");
    }
    let env = Env::from_process().with(started.secrets);
    cursor_bridge_app::run(env)
}
