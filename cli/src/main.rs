//! `cursor-bridge`, the headless CLI: parses arguments, sets up logging and hands over to
//! [`commands::run`]. Every command runs over `cursor-bridge-core`, the same core the tray
//! app uses; this crate only parses, prints and picks the exit code.
//!
//! Layout: [`args`] (the clap definitions), [`commands`] (one file per command group),
//! [`exit`] (the exit codes and the errors that map to them), [`format`] (printing helpers).

mod args;
mod commands;
mod exit;
mod format;
mod secret;

use clap::Parser;
use cursor_bridge_core::config::settings::{Env, SECRET_ENV_VARS};

use args::Cli;

fn main() -> std::process::ExitCode {
    // First: the secrets out of the environment (no child inherits them; on Linux this
    // execs the binary once more) and core dumps off; then the settings' snapshot of the
    // environment, the secrets included.
    let started = cursor_bridge_harden::start(&SECRET_ENV_VARS);
    for problem in &started.problems {
        eprintln!("cursor-bridge: warning: {problem}");
    }
    let env = Env::from_process().with(started.secrets);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run(env)),
        Err(e) => {
            eprintln!("cursor-bridge: cannot start the async runtime: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(env: Env) -> std::process::ExitCode {
    let args = Cli::parse();
    let level = match args.verbose {
        0 => "warn",
        1 => "info,cursor_bridge_core=debug",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Colours only on a terminal: piped into a log file or a test, escape codes are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
    let mut stdout = std::io::stdout();
    commands::run(args, env, &mut stdout).await
}
