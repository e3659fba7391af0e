//! The command line's shape: commands, their options and their `--help` texts.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Cursor Bridge: use your Cursor subscription's models from any OpenAI-compatible client.
#[derive(Debug, Parser)]
// No bare `about`: it would replace the doc comment above with the crate's Cargo
// description (about the crate, not the tool), which tells a user nothing.
#[command(name = "cursor-bridge", version, long_about = None)]
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
    /// Delete the conversation checkpoints kept on disk (they hold your prompts and
    /// code). A proxy running in another process keeps its copy in memory until it
    /// stops: use the tray's "Forget conversations" button then.
    Forget,
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
