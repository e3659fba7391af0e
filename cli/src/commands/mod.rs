//! The commands: [`run`] builds what they need once from the environment, runs one and
//! turns its failure into stderr and an exit code. One file per command group:
//! [`session`] (login, logout, status), [`account`] (models, usage), [`proxy`] (serve,
//! opencode-config, forget), [`connect`] (connect, disconnect, key), [`guard`] (guard status, resume, pause).

mod account;
mod connect;
mod guard;
mod proxy;
mod session;

use std::io::Write;
use std::process::ExitCode;

use cursor_bridge_core::app::{App, Opener};
use cursor_bridge_core::config::settings::{Env, Paths, Settings};
use cursor_bridge_core::cursor::CursorClient;

use crate::args::{Cli, Command, ProxyArgs};
use crate::exit::{CliError, Exit};

/// Everything a command needs, built once from the environment: the same [`App`] the tray
/// app runs on, and what it was built from.
pub(crate) struct Ctx {
    pub(crate) env: Env,
    pub(crate) paths: Paths,
    pub(crate) settings: Settings,
    pub(crate) app: App,
    /// The app's Cursor client (a command that does not replace it can keep one handle).
    pub(crate) client: CursorClient,
}

impl Ctx {
    /// `opener` replaces the app's (the system browser) for the sign-in page.
    fn build(env: Env, proxy: Option<&ProxyArgs>, opener: Opener) -> Result<Self, CliError> {
        let paths =
            Paths::resolve(&env).map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
        let mut settings = Settings::load(&paths, &env)
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
        if let Some(p) = proxy {
            if let Some(port) = p.port {
                settings.port = port;
            }
            if let Some(host) = p.host {
                settings.host = host;
            }
        }
        let app = App::builder(paths.clone(), env.clone(), settings.clone())
            .opener(move |url: &str| opener(url))
            .build()?;
        let client = app.client();
        Ok(Self {
            env,
            paths,
            settings,
            app,
            client,
        })
    }
}

/// Runs one command; output goes to `out`, progress and hints to stderr.
pub(crate) async fn run(cli: Cli, env: Env, out: &mut (dyn Write + Send)) -> ExitCode {
    match dispatch(cli, env, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            e.exit.into()
        }
    }
}

async fn dispatch(cli: Cli, env: Env, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let proxy = match &cli.command {
        Command::Serve(p) => Some(p),
        Command::OpencodeConfig(a) => Some(&a.proxy),
        Command::Connect(a) => Some(&a.proxy),
        Command::Guard(g) => Some(&g.args().proxy),
        _ => None,
    };
    // The app's sign-in page goes through the CLI's opener: printed, and opened in the
    // browser unless `login --no-browser`. Only `login` signs in; the others never use it.
    let no_browser = matches!(&cli.command, Command::Login(a) if a.no_browser);
    let (opener, sign_in_urls) = session::url_opener(no_browser);
    let ctx = Ctx::build(env, proxy, opener)?;
    match cli.command {
        Command::Login(a) => session::login(&ctx, a, sign_in_urls, out).await,
        Command::Logout => session::logout(&ctx, out).await,
        Command::Status => session::status(&ctx, out).await,
        Command::Models(a) => account::models(&ctx, a.json, out).await,
        Command::Usage(a) => account::usage(&ctx, a.json, out).await,
        Command::Serve(_) => proxy::serve(&ctx, out).await,
        Command::OpencodeConfig(a) => {
            proxy::opencode_config(&ctx, a.write, a.follow_symlink, out).await
        }
        Command::Forget => proxy::forget(&ctx, out),
        Command::Connect(a) => connect::connect(&ctx, a, out).await,
        Command::Disconnect(a) => connect::disconnect(&ctx, a.client, out).await,
        Command::Key => connect::key(&ctx, out),
        Command::Guard(g) => guard::run(&ctx, g, out).await,
    }
}

/// Resolves on Ctrl-C (SIGINT), and on unix also on SIGTERM (service managers, `kill`).
///
/// The handlers are installed by this call, not when the future is first polled:
/// `tokio::signal::ctrl_c()` registers lazily, so a signal arriving between "listening on
/// …" and the server's first poll of its shutdown future hit the default action and
/// killed the process instead of stopping it gracefully.
pub(crate) fn stop_signal()
-> Result<impl std::future::Future<Output = ()> + Send + 'static, CliError> {
    let err =
        |e: std::io::Error| CliError::new(Exit::Failure, format!("cannot listen for Ctrl-C: {e}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut int = signal(SignalKind::interrupt()).map_err(err)?;
        let mut term = signal(SignalKind::terminate()).map_err(err)?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(windows)]
    {
        let mut ctrl_c = tokio::signal::windows::ctrl_c().map_err(err)?;
        Ok(async move {
            ctrl_c.recv().await;
        })
    }
}
