//! The command line's shape: commands, their options and their `--help` texts.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Cursor Bridge: use your Cursor subscription's models from any OpenAI-compatible client.
#[derive(Debug, Parser)]
// No bare `about`: it would replace the doc comment above with the crate's Cargo
// description (about the crate, not the tool), which tells a user nothing.
#[command(name = "cursor-bridge", version = cursor_bridge_core::VERSION_WITH_COMMIT, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// More log output on stderr (repeat for more). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Sign in to Cursor in your browser (or with a Cursor user API key).
    Login(LoginArgs),
    /// Sign out and remove the stored credentials.
    Logout,
    /// Show who is signed in, token expiry and proxy settings.
    Status,
    /// List the models your Cursor plan can use, with their limits.
    Models(JsonArg),
    /// Show this machine's usage through the proxy (last 24 h and 7 d) and Cursor's
    /// plan usage for the current billing cycle.
    Usage(JsonArg),
    /// Run the local proxy in the foreground until Ctrl-C: the OpenAI-compatible API
    /// (/v1/chat/completions, /v1/models) and /health, on 127.0.0.1.
    Serve(ProxyArgs),
    /// Print the OpenCode provider block for the live model list, or merge it into
    /// OpenCode's config with --write.
    OpencodeConfig(OpencodeConfigArgs),
    /// Point a coding tool at this proxy by writing its own config: OpenCode
    /// (opencode.json), Claude Code (~/.claude/settings.json), Codex CLI
    /// (~/.codex/config.toml). Everything else in the file stays; the old file is backed
    /// up first; --dry-run shows the diff instead.
    Connect(ConnectArgs),
    /// Undo `connect`: remove what it added and put back what it replaced, leaving what
    /// you changed since alone.
    Disconnect(DisconnectArgs),
    /// Print the local API key clients send (Claude Code's apiKeyHelper and Codex's auth
    /// command run this, so the key need not be written into their configs).
    Key,
    /// The spend and runaway-loop guard of the running proxy: its rules, today's counts
    /// and any trip (status), clear trips and a pause (resume), refuse every request
    /// until resumed (pause).
    #[command(subcommand)]
    Guard(GuardCommand),
    /// Delete the conversation checkpoints kept on disk (they hold your prompts and
    /// code). A proxy running in another process keeps its copy in memory until it
    /// stops: use the tray's "Forget conversations" button then.
    Forget,
}

/// `guard` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum GuardCommand {
    /// Print the rules, today's counts against each budget and any trip with its message
    /// (from the ledger when no proxy is running).
    Status(GuardArgs),
    /// Clear every trip and a pause: a tripped budget lets the rest of its window
    /// through.
    Resume(GuardArgs),
    /// Refuse every request (HTTP 403) until resumed: the panic button.
    Pause(GuardArgs),
}

/// Where the proxy the `guard` commands talk to listens.
#[derive(Debug, Args)]
pub(crate) struct GuardArgs {
    #[command(flatten)]
    pub(crate) proxy: ProxyArgs,
    /// Print the guard's status as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `login` options.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Do not open a browser; print the sign-in URL to open yourself.
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// Sign in with a Cursor user API key read from standard input instead of the browser.
    #[arg(long)]
    pub(crate) api_key_stdin: bool,
}

/// `--json` switch.
#[derive(Debug, Args)]
pub(crate) struct JsonArg {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Where the proxy listens.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// Port of the local proxy [env: CURSOR_BRIDGE_PORT; default 18741].
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Address to bind [default 127.0.0.1].
    #[arg(long)]
    pub(crate) host: Option<IpAddr>,
}

/// `opencode-config` options.
#[derive(Debug, Args)]
pub(crate) struct OpencodeConfigArgs {
    #[command(flatten)]
    pub(crate) proxy: ProxyArgs,
    /// Merge the provider into OpenCode's config instead of printing it: PATH, or the
    /// global config (~/.config/opencode/opencode.jsonc if it exists, else opencode.json;
    /// $XDG_CONFIG_HOME moves it). Only provider.cursor-bridge changes; comments and
    /// everything else stay; the old file is backed up first.
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    pub(crate) write: Option<Option<PathBuf>>,
    /// With --write: edit the target of a config file that is a symlink out of its own
    /// directory (refused without this).
    #[arg(long, requires = "write")]
    pub(crate) follow_symlink: bool,
}

/// A client `connect` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClientArg {
    /// OpenCode.
    Opencode,
    /// Claude Code.
    ClaudeCode,
    /// Codex CLI.
    Codex,
}

/// OpenCode's config shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ShapeArg {
    /// OpenCode 1.x `provider.<id>` (2.x reads it too).
    V1,
    /// OpenCode 2.x `providers.<id>`.
    V2,
}

/// `connect` options.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// The tool to connect.
    #[arg(value_enum)]
    pub(crate) client: ClientArg,
    #[command(flatten)]
    pub(crate) proxy: ProxyArgs,
    /// Print the diff of what would change; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Edit this file instead of the tool's own config (which honours OPENCODE_CONFIG /
    /// XDG_CONFIG_HOME, CLAUDE_CONFIG_DIR, CODEX_HOME).
    #[arg(long, value_name = "PATH")]
    pub(crate) write: Option<PathBuf>,
    /// Edit the target of a config file that is a symlink out of its own directory
    /// (refused without this: a planted link could send the key anywhere).
    #[arg(long)]
    pub(crate) follow_symlink: bool,
    /// Codex: also make Cursor Bridge its default provider (top-level model_provider and
    /// model), which changes every `codex` run.
    #[arg(long)]
    pub(crate) set_default: bool,
    /// OpenCode: the config shape to write [default: by `opencode --version`, 1.x if
    /// not found].
    #[arg(long, value_enum)]
    pub(crate) opencode_shape: Option<ShapeArg>,
}

/// `disconnect` options.
#[derive(Debug, Args)]
pub(crate) struct DisconnectArgs {
    /// The tool to disconnect.
    #[arg(value_enum)]
    pub(crate) client: ClientArg,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_parses() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        let about = Cli::command().get_about().map(|a| a.to_string());
        assert!(
            about
                .as_deref()
                .is_some_and(|a| a.contains("OpenAI-compatible")),
            "root --help describes the tool: {about:?}"
        );
        let c = Cli::try_parse_from(["cursor-bridge", "serve", "--port", "0"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Serve(ProxyArgs { port: Some(0), .. })
        ));
    }

    #[test]
    fn opencode_config_write_takes_an_optional_path() {
        let write = |args: &[&str]| {
            let c = Cli::try_parse_from([&["cursor-bridge", "opencode-config"], args].concat())
                .unwrap();
            match c.command {
                Command::OpencodeConfig(a) => (a.write, a.proxy.port),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(write(&[]), (None, None));
        assert_eq!(write(&["--write"]), (Some(None), None));
        assert_eq!(write(&["--write", "--port", "9"]), (Some(None), Some(9)));
        assert_eq!(
            write(&["--write", "/tmp/oc.jsonc", "--port", "9"]),
            (Some(Some(PathBuf::from("/tmp/oc.jsonc"))), Some(9))
        );
    }
}
