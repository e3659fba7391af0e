//! The headless CLI: parses arguments, sets up logging, hands over to
//! `cursor_bridge_core::cli`. Nothing else lives here.

use clap::Parser;
use cursor_bridge_core::cli::{self, Cli};
use cursor_bridge_core::config::settings::Env;

#[tokio::main]
async fn main() -> std::process::ExitCode {
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
    cli::run(args, Env::from_process(), &mut stdout).await
}
