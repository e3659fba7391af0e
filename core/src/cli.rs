//! The headless CLI's commands. `src/bin/cursor-bridge.rs` parses arguments and calls
//! [`run`]; everything here goes through the same core API the tray app uses.
//!
//! Exit codes: 0 success · 1 failure · 2 usage error · 3 not signed in or session
//! expired · 4 Cursor unreachable or failing · 5 sign-in cancelled or timed out.

use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::settings::{ENV_API_KEY, Env, Paths, Settings};
use crate::cursor::auth::{self, LoginError, Pkce};
use crate::cursor::{CursorClient, CursorError};
use crate::store::credentials::StoreError;
use crate::store::local_key;

/// Cursor Bridge: use your Cursor subscription's models from any OpenAI-compatible client.
#[derive(Debug, Parser)]
// No bare `about`: it would replace the doc comment above with the crate's Cargo
// description ("Headless core of Cursor Bridge…"), which tells a user nothing.
#[command(name = "cursor-bridge", version, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log output on stderr (repeat for more). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in to Cursor in your browser (or with a Cursor user API key).
    Login(LoginArgs),
    /// Sign out and remove the stored credentials.
    Logout,
    /// Show who is signed in, token expiry and proxy settings.
    Status,
    /// List the models your Cursor plan can use, with their limits.
    Models(JsonArg),
    /// Show Cursor's plan usage for the current billing cycle.
    Usage(JsonArg),
    /// Run the local proxy on 127.0.0.1 (health endpoint; the OpenAI endpoints are next).
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
pub struct LoginArgs {
    /// Do not open a browser; print the sign-in URL to open yourself.
    #[arg(long)]
    pub no_browser: bool,
    /// Sign in with a Cursor user API key read from standard input instead of the browser.
    #[arg(long)]
    pub api_key_stdin: bool,
}

/// `--json` switch.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Where the proxy listens.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Port of the local proxy [env: CURSOR_BRIDGE_PORT; default 18741].
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to bind [default 127.0.0.1].
    #[arg(long)]
    pub host: Option<IpAddr>,
}

/// `opencode-config` options.
#[derive(Debug, Args)]
pub struct OpencodeConfigArgs {
    #[command(flatten)]
    pub proxy: ProxyArgs,
    /// Merge the provider into OpenCode's config instead of printing it: PATH, or the
    /// global config (~/.config/opencode/opencode.jsonc if it exists, else opencode.json;
    /// $XDG_CONFIG_HOME moves it). Only provider.cursor-bridge changes; comments and
    /// everything else stay; the old file is backed up first.
    #[arg(long, value_name = "PATH", num_args = 0..=1)]
    pub write: Option<Option<PathBuf>>,
}

/// An error the CLI reports: a message and an exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<CursorError> for CliError {
    fn from(e: CursorError) -> Self {
        let code = match e {
            CursorError::NotSignedIn
            | CursorError::SessionExpired
            | CursorError::Unauthenticated { .. } => 3,
            CursorError::CredentialStore { .. } => 1,
            _ => 4,
        };
        CliError::new(code, e.to_string())
    }
}

/// Everything a command needs, built once from the environment.
struct Ctx {
    env: Env,
    paths: Paths,
    settings: Settings,
    client: CursorClient,
}

impl Ctx {
    fn build(env: Env, proxy: Option<&ProxyArgs>) -> Result<Self, CliError> {
        let paths = Paths::resolve(&env).map_err(|e| CliError::new(1, e.to_string()))?;
        let mut settings =
            Settings::load(&paths, &env).map_err(|e| CliError::new(1, e.to_string()))?;
        if let Some(p) = proxy {
            if let Some(port) = p.port {
                settings.port = port;
            }
            if let Some(host) = p.host {
                settings.host = host;
            }
        }
        let client = crate::wiring::cursor_client(&settings, &paths, &env)?;
        Ok(Self {
            env,
            paths,
            settings,
            client,
        })
    }

    fn base_url(&self) -> String {
        let host = match self.settings.host {
            IpAddr::V6(h) => format!("[{h}]"),
            IpAddr::V4(h) => h.to_string(),
        };
        format!("http://{host}:{}/v1", self.settings.port)
    }

    fn local_key(&self) -> Result<String, CliError> {
        local_key::load_or_create(&self.paths.data_dir, self.env.get(ENV_API_KEY)).map_err(|e| {
            CliError::new(
                1,
                format!(
                    "cannot read or create the local API key in {}: {e}",
                    self.paths.data_dir.display()
                ),
            )
        })
    }
}

/// Runs one command; output goes to `out`, progress and hints to stderr.
pub async fn run(cli: Cli, env: Env, out: &mut (dyn Write + Send)) -> ExitCode {
    match dispatch(cli, env, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

async fn dispatch(cli: Cli, env: Env, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let proxy = match &cli.command {
        Command::Serve(p) => Some(p),
        Command::OpencodeConfig(a) => Some(&a.proxy),
        _ => None,
    };
    let ctx = Ctx::build(env, proxy)?;
    match cli.command {
        Command::Login(a) => login(&ctx, a, out).await,
        Command::Logout => logout(&ctx, out).await,
        Command::Status => status(&ctx, out).await,
        Command::Models(a) => models(&ctx, a.json, out).await,
        Command::Usage(a) => usage(&ctx, a.json, out).await,
        Command::Serve(_) => serve(&ctx, out).await,
        Command::OpencodeConfig(a) => opencode_config(&ctx, a.write, out).await,
        Command::Forget => forget(&ctx, out),
    }
}

fn forget(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let file = ctx.paths.conversations_file();
    match crate::engine::conversations::forget_file(&ctx.paths.data_dir) {
        Ok(true) => w(
            out,
            format!("Forgot the kept conversations ({}).", file.display()),
        ),
        Ok(false) => w(
            out,
            format!("No kept conversations to forget ({}).", file.display()),
        ),
        Err(e) => Err(CliError::new(
            1,
            format!("cannot delete {}: {e}", file.display()),
        )),
    }
}

fn w(out: &mut (dyn Write + Send), s: impl AsRef<str>) -> Result<(), CliError> {
    writeln!(out, "{}", s.as_ref())
        .map_err(|e| CliError::new(1, format!("cannot write output: {e}")))
}

async fn login(ctx: &Ctx, a: LoginArgs, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    check_store(ctx).await?;
    let creds = if a.api_key_stdin {
        let mut key = String::new();
        std::io::stdin()
            .read_line(&mut key)
            .map_err(|e| CliError::new(1, format!("cannot read the API key from stdin: {e}")))?;
        let key = key.trim();
        if key.is_empty() {
            return Err(CliError::new(2, "no API key on standard input"));
        }
        auth::exchange_api_key(ctx.client.http(), key).await?
    } else {
        let pkce = Pkce::generate();
        let url = auth::login_url(ctx.client.http().endpoints(), &pkce);
        let opened = !a.no_browser && webbrowser::open(url.as_str()).is_ok();
        if opened {
            w(
                out,
                "Opened your browser to sign in to Cursor. If nothing opened, visit:",
            )?;
        } else {
            w(out, "To sign in, open this URL in a browser:")?;
        }
        w(out, format!("  {url}"))?;
        // Installed before we say "Ctrl-C to cancel", so a Ctrl-C always cancels cleanly.
        let stop = stop_signal()?;
        w(out, "Waiting for you to approve… (Ctrl-C to cancel)")?;
        out.flush().ok();
        let cancel = CancellationToken::new();
        let on_ctrl_c = cancel.clone();
        let ctrl_c = tokio::spawn(async move {
            stop.await;
            on_ctrl_c.cancel();
        });
        let polled = auth::poll_login(
            ctx.client.http(),
            &pkce,
            &ctx.settings.poll_policy(),
            &cancel,
        )
        .await;
        ctrl_c.abort();
        match polled {
            Ok(c) => c,
            Err(LoginError::Cancelled) => return Err(CliError::new(5, "sign-in cancelled")),
            Err(e @ LoginError::TimedOut { .. }) => return Err(CliError::new(5, e.to_string())),
            Err(e) => return Err(CliError::new(4, e.to_string())),
        }
    };
    ctx.client
        .tokens()
        .sign_in(creds)
        .await
        .map_err(|e| CliError::new(1, e.to_string()))?;
    let who = match ctx.client.account().await {
        Ok(acc) if !acc.email.is_empty() => acc.email,
        _ => "your Cursor account".into(),
    };
    w(out, format!("Signed in as {who}."))?;
    w(
        out,
        format!(
            "Credentials are stored in {}.",
            ctx.client.tokens().store_description()
        ),
    )?;
    Ok(())
}

/// Fails early when the credential store cannot be used (typically: no keychain), so the
/// user learns it before approving in the browser or spending an API-key exchange, not
/// after. Unreadable stored credentials are fine: signing in replaces them.
async fn check_store(ctx: &Ctx) -> Result<(), CliError> {
    match ctx.client.tokens().current().await {
        Ok(_) | Err(StoreError::Corrupt { .. }) => Ok(()),
        Err(e) => Err(CliError::new(1, e.to_string())),
    }
}

async fn logout(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    ctx.client
        .tokens()
        .sign_out()
        .await
        .map_err(|e| CliError::new(1, e.to_string()))?;
    w(
        out,
        format!(
            "Signed out. Removed the credentials from {}.",
            ctx.client.tokens().store_description()
        ),
    )?;
    if ctx.client.tokens().uses_env_token() {
        w(
            out,
            "Note: CURSOR_ACCESS_TOKEN is set in the environment and is still used.",
        )?;
    }
    Ok(())
}

fn describe_expiry(token: &str) -> String {
    match auth::expires_at(token) {
        None => "unknown (the token is not a readable JWT)".into(),
        Some(t) => {
            let secs = t
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let now = SystemTime::now();
            match t.duration_since(now) {
                Ok(left) => format!("{} (in {})", iso8601(secs), human_duration(left)),
                Err(_) => format!(
                    "{} (expired; it is refreshed on the next use)",
                    iso8601(secs)
                ),
            }
        }
    }
}

async fn status(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let tokens = ctx.client.tokens();
    let current = tokens
        .current()
        .await
        .map_err(|e| CliError::new(1, e.to_string()))?;
    w(out, format!("Cursor API:        {}", ctx.settings.api_url))?;
    w(
        out,
        format!("Credential store:  {}", tokens.store_description()),
    )?;
    if tokens.uses_env_token() {
        w(
            out,
            "Token source:      CURSOR_ACCESS_TOKEN from the environment (overrides the store; never stored or refreshed)",
        )?;
    }
    w(
        out,
        format!("Proxy:             {} (OpenAI base URL)", ctx.base_url()),
    )?;
    w(
        out,
        format!("Settings file:     {}", ctx.paths.settings_file().display()),
    )?;
    // Waits for the installer-script step (a few seconds at most) if it has not run, so
    // this shows what requests will send.
    let version = ctx.client.http().client_version().settle().await;
    w(
        out,
        format!(
            "Client version:    {} ({})",
            version.version,
            version.source.describe()
        ),
    )?;
    if current.is_none() {
        w(out, "Signed in:         no — run `cursor-bridge login`")?;
        return Err(CliError::new(3, "not signed in"));
    }
    // Asking Cursor who we are refreshes an expiring token first, so the expiry shown
    // below is the one of the token actually in use, not of the one just replaced.
    let account = ctx.client.account().await;
    if let Ok(Some(creds)) = tokens.current().await {
        w(
            out,
            format!(
                "Token expires:     {}",
                describe_expiry(&creds.access_token)
            ),
        )?;
    }
    match account {
        Ok(acc) => {
            let who = if acc.email.is_empty() {
                acc.auth_id
            } else {
                acc.email
            };
            w(out, format!("Signed in as:      {who}"))?;
            Ok(())
        }
        Err(e @ (CursorError::SessionExpired | CursorError::NotSignedIn)) => {
            w(
                out,
                "Signed in:         session expired — run `cursor-bridge login`",
            )?;
            Err(e.into())
        }
        Err(e) if e.is_auth() => {
            w(
                out,
                format!("Signed in:         no — Cursor refused the token ({e})"),
            )?;
            Err(e.into())
        }
        Err(e) => {
            w(
                out,
                format!("Signed in:         yes (account details unavailable: {e})"),
            )?;
            Err(e.into())
        }
    }
}

async fn models(ctx: &Ctx, json: bool, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let models = ctx.client.models().await?;
    if json {
        let s =
            serde_json::to_string_pretty(&*models).map_err(|e| CliError::new(1, e.to_string()))?;
        return w(out, s);
    }
    let width = models.iter().map(|m| m.id.len()).max().unwrap_or(2).max(2);
    w(
        out,
        format!(
            "{:<width$}  {:>9}  {:>8}  {:<9}  NAME",
            "ID", "CONTEXT", "OUTPUT", "REASONING"
        ),
    )?;
    for m in models.iter() {
        w(
            out,
            format!(
                "{:<width$}  {:>9}  {:>8}  {:<9}  {}",
                m.id,
                m.context_limit,
                m.output_limit,
                if m.reasoning { "yes" } else { "no" },
                m.name
            ),
        )?;
    }
    Ok(())
}

/// `$12.34` from cents; negative amounts (an overspent plan's `remaining`) as `-$0.05`.
fn dollars(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}${}.{:02}", abs / 100, abs % 100)
}

/// `usage`: first the local ledger for the last 24 h and 7 d (it needs no sign-in), then
/// Cursor's plan usage. `--json` prints the plan usage object with the ledger's reports
/// added under `"local"` (`{"24h": UsageReport, "7d": UsageReport}` as in docs/IPC.md,
/// `null` if the ledger cannot be read); when the plan usage fails it prints only
/// `{"local": …}`. Exit code: the plan usage's failure if any (3 not signed in, 4 Cursor
/// failing), else 1 if the ledger could not be read, else 0.
async fn usage(ctx: &Ctx, json: bool, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let local = local_usage(ctx.paths.ledger_file()).await;
    if !json {
        print_local_usage(out, &local)?;
        out.flush().ok();
    }
    let plan = ctx.client.plan_usage().await;
    if json {
        let mut v = match &plan {
            Ok(u) => serde_json::to_value(u).map_err(|e| CliError::new(1, e.to_string()))?,
            Err(_) => serde_json::Value::Object(Default::default()),
        };
        let reports = match &local {
            Ok(reports) => reports
                .iter()
                .map(|r| Ok((r.range.to_string(), serde_json::to_value(r)?)))
                .collect::<Result<serde_json::Map<_, _>, serde_json::Error>>()
                .map(serde_json::Value::Object)
                .map_err(|e| CliError::new(1, e.to_string()))?,
            Err(_) => serde_json::Value::Null,
        };
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("local".into(), reports);
        }
        let s = serde_json::to_string_pretty(&v).map_err(|e| CliError::new(1, e.to_string()))?;
        w(out, s)?;
    } else if let Ok(u) = &plan {
        print_plan_usage(out, u)?;
    }
    match (plan, local) {
        (Err(e), Err(l)) => {
            eprintln!("error: {l}");
            Err(e.into())
        }
        (Err(e), Ok(_)) => Err(e.into()),
        (Ok(_), Err(l)) => Err(CliError::new(1, l.to_string())),
        (Ok(_), Ok(_)) => Ok(()),
    }
}

/// The ledger's reports for 24 h and 7 d. A ledger that does not exist yet (the proxy
/// never ran) reads as empty and is not created by this read-only command.
async fn local_usage(
    path: std::path::PathBuf,
) -> Result<Vec<crate::store::ledger::UsageReport>, crate::store::ledger::LedgerError> {
    use crate::store::ledger::{Ledger, LedgerError, Range, UsageReport, unix_now_ms};
    let now = unix_now_ms();
    let ranges = [Range::Day, Range::Week];
    if !path.exists() {
        return Ok(ranges.map(|r| UsageReport::empty(r, now)).to_vec());
    }
    // Opening checks and may migrate the file: blocking work, off the runtime.
    let ledger = tokio::task::spawn_blocking(move || Ledger::open(&path))
        .await
        .map_err(|_| LedgerError::Interrupted)??;
    let mut reports = Vec::new();
    for r in ranges {
        reports.push(ledger.report(r, now).await?);
    }
    Ok(reports)
}

fn print_local_usage(
    out: &mut (dyn Write + Send),
    local: &Result<Vec<crate::store::ledger::UsageReport>, crate::store::ledger::LedgerError>,
) -> Result<(), CliError> {
    use crate::store::ledger::Range;
    let plural = |n: u64, one: &str| format!("{n} {one}{}", if n == 1 { "" } else { "s" });
    w(out, "Local usage (requests through this machine's proxy):")?;
    let reports = match local {
        Ok(r) => r,
        Err(_) => {
            w(out, "  unavailable (see the error below)")?;
            return w(out, "");
        }
    };
    for r in reports {
        let label = match r.range {
            Range::Day => "Last 24 h:",
            Range::Week => "Last 7 d:",
            Range::Month => "Last 30 d:",
        };
        let t = &r.totals;
        if t.requests == 0 {
            w(out, format!("{label:<16}no requests"))?;
            continue;
        }
        w(
            out,
            format!(
                "{label:<16}{}, {}",
                plural(t.requests, "request"),
                plural(t.errors, "error")
            ),
        )?;
        // Cache and reasoning tokens are parts of the prompt and completion counts, known
        // only for the requests Cursor counted.
        let mut prompt_parts = Vec::new();
        if t.cache_read_tokens > 0 {
            prompt_parts.push(format!("{} cached", t.cache_read_tokens));
        }
        if t.cache_write_tokens > 0 {
            prompt_parts.push(format!("{} written to cache", t.cache_write_tokens));
        }
        let prompt_parts = if prompt_parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", prompt_parts.join(", "))
        };
        let reasoning = if t.reasoning_tokens > 0 {
            format!(" ({} reasoning)", t.reasoning_tokens)
        } else {
            String::new()
        };
        w(
            out,
            format!(
                "  tokens:       {} prompt{prompt_parts}, {} completion{reasoning}",
                t.prompt_tokens, t.completion_tokens
            ),
        )?;
        let counted = if t.estimated_requests == 0 {
            "exact (Cursor's own count)".to_string()
        } else {
            format!(
                "{} of {} estimated (Cursor sent no count; prompt inferred from the \
                 context size or ≈ 4 characters a token)",
                t.estimated_requests,
                plural(t.requests, "request"),
            )
        };
        w(out, format!("  counted:      {counted}"))?;
        let first_token = match (r.latency.ttft_p50_ms, r.latency.ttft_p95_ms) {
            (Some(p50), Some(p95)) => format!("p50 {p50} ms, p95 {p95} ms"),
            _ => "no data".into(),
        };
        w(out, format!("  first token:  {first_token}"))?;
        let top: Vec<_> = r.by_model().into_iter().take(5).collect();
        let width = top.iter().map(|m| m.model.len()).max().unwrap_or(0);
        for (i, m) in top.iter().enumerate() {
            let head = if i == 0 { "  top models:" } else { "" };
            w(
                out,
                format!(
                    "{head:<16}{:<width$}  {}, {}, {} + {} tokens{}",
                    m.model,
                    plural(m.requests, "request"),
                    plural(m.errors, "error"),
                    m.prompt_tokens,
                    m.completion_tokens,
                    if m.estimated_requests > 0 {
                        " (some estimated)"
                    } else {
                        ""
                    }
                ),
            )?;
        }
    }
    w(out, "")
}

fn print_plan_usage(
    out: &mut (dyn Write + Send),
    u: &crate::cursor::usage::CurrentPeriodUsage,
) -> Result<(), CliError> {
    w(out, "Cursor plan usage:")?;
    w(
        out,
        format!(
            "Billing cycle:  {} → {}",
            iso8601((u.billing_cycle_start / 1000) as u64),
            iso8601((u.billing_cycle_end / 1000) as u64)
        ),
    )?;
    if let Some(p) = &u.plan_usage {
        for line in plan_lines(p) {
            w(out, line)?;
        }
    }
    if let Some(s) = &u.spend_limit_usage {
        let limit = s
            .individual_limit
            .map(dollars)
            .unwrap_or_else(|| "none".into());
        w(
            out,
            format!(
                "On-demand:      {} spent, limit {limit}",
                dollars(s.total_spend)
            ),
        )?;
    }
    if !u.display_message.is_empty() {
        w(out, format!("Cursor says:    {}", u.display_message))?;
    }
    w(
        out,
        "Source: Cursor's dashboard API (it lags real use by about a minute).",
    )?;
    Ok(())
}

/// The plan's lines: money against a real limit, else the percentage Cursor reports,
/// then each pool (reference §9.11). A figure Cursor did not send is left out, so an
/// account reporting only percentages never reads "$0.00 of $0.00".
fn plan_lines(p: &crate::cursor::usage::PlanUsage) -> Vec<String> {
    use crate::cursor::usage::Pool;
    let pct = |v: f64| format!("{v:.1}%");
    let mut lines = Vec::new();
    match (p.limit_cents(), p.total_spend) {
        (Some(limit), Some(spent)) => lines.push(format!(
            "Plan:           {} spent of {} included, {} remaining{}",
            dollars(spent),
            dollars(limit),
            p.remaining.map_or_else(|| "?".into(), dollars),
            p.percent_used()
                .map(|v| format!(" ({} used)", pct(v)))
                .unwrap_or_default()
        )),
        _ => match (p.percent_used(), p.total_spend.filter(|s| *s > 0)) {
            (Some(v), _) => lines.push(format!("Plan:           {} used", pct(v))),
            (None, Some(spent)) => lines.push(format!("Plan:           {} spent", dollars(spent))),
            (None, None) => lines.push("Plan:           no usage figures reported".into()),
        },
    }
    if p.has_pools() {
        for pool in Pool::ALL {
            let value = p
                .pool_percent(pool)
                .map_or_else(|| "not reported".into(), |v| format!("{} used", pct(v)));
            lines.push(format!("  {:<17}{value}", format!("{}:", pool.label())));
        }
    }
    lines
}

async fn serve(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let listener = crate::proxy::bind(&ctx.settings)
        .await
        .map_err(|e| match e {
            crate::proxy::StartError::NotLoopback(_) => CliError::new(2, e.to_string()),
            other => CliError::new(1, format!("{other} (--port picks another)")),
        })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::new(1, e.to_string()))?;
    let state = crate::proxy::ProxyState::from_settings(
        ctx.client.clone(),
        ctx.settings.clone(),
        &ctx.paths,
        &ctx.env,
    )
    .map_err(|e| CliError::new(1, format!("cannot read or create the local API key: {e}")))?;
    // Before the "listening" line: whoever reads it may signal us at once.
    let shutdown = stop_signal()?;
    w(
        out,
        format!(
            "Cursor Bridge listening on http://{local} (OpenAI base URL: http://{local}/v1, health: http://{local}/health)"
        ),
    )?;
    out.flush().ok();
    crate::proxy::serve(listener, Arc::new(state), shutdown)
        .await
        .map_err(|e| CliError::new(1, format!("the proxy stopped: {e}")))
}

/// Resolves on Ctrl-C (SIGINT), and on unix also on SIGTERM (service managers, `kill`).
///
/// The handlers are installed by this call, not when the future is first polled:
/// `tokio::signal::ctrl_c()` registers lazily, so a signal arriving between "listening on
/// …" and the server's first poll of its shutdown future hit the default action and
/// killed the process instead of stopping it gracefully.
fn stop_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, CliError> {
    let err = |e: std::io::Error| CliError::new(1, format!("cannot listen for Ctrl-C: {e}"));
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

/// `write`: `None` prints the snippet; `Some(path)` merges into `path` or, without one,
/// OpenCode's global config.
async fn opencode_config(
    ctx: &Ctx,
    write: Option<Option<PathBuf>>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    use crate::opencode::install::{self, WriteError};

    let Some(path) = write else {
        let models = ctx.client.models().await?;
        let key = ctx.local_key()?;
        let snippet = crate::opencode::config_snippet(&models, &ctx.base_url(), &key);
        let s =
            serde_json::to_string_pretty(&snippet).map_err(|e| CliError::new(1, e.to_string()))?;
        return w(out, s);
    };
    // The file it refuses to touch is the user's to fix: exit 2, like a usage error.
    let err = |e: WriteError| CliError::new(if e.is_refusal() { 2 } else { 1 }, e.to_string());
    let path = match path {
        Some(p) => p,
        None => install::default_config_path(&ctx.env).map_err(err)?,
    };
    let models = ctx.client.models().await?;
    let key = ctx.local_key()?;
    let block = crate::opencode::provider_block(&models, &ctx.base_url(), &key);
    let done = install::write_provider(&path, &block, SystemTime::now()).map_err(err)?;
    let file = done.path.display();
    match (&done.backup, done.created) {
        (_, true) => w(
            out,
            format!("Created {file} with the Cursor Bridge provider."),
        )?,
        (Some(backup), false) => {
            w(
                out,
                format!("Updated the Cursor Bridge provider in {file}."),
            )?;
            w(
                out,
                format!("Backup of the previous file: {}", backup.display()),
            )?;
        }
        (None, false) => w(
            out,
            format!("{file} already has this provider; nothing written."),
        )?,
    }
    w(
        out,
        format!(
            "{} models under provider \"{}\"; restart OpenCode to load them.",
            block["models"].as_object().map_or(0, |m| m.len()),
            crate::opencode::PROVIDER_ID
        ),
    )
}

/// `YYYY-MM-DD HH:MM UTC` from unix seconds (no date crate needed for one format).
pub fn iso8601(secs: u64) -> String {
    let (y, m, d) = crate::opencode::install::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=172_799 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations() {
        assert_eq!(iso8601(0), "1970-01-01 00:00 UTC");
        assert_eq!(iso8601(1_768_399_334), "2026-01-14 14:02 UTC");
        assert_eq!(iso8601(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(human_duration(Duration::from_secs(3_700)), "1 h 1 min");
        assert_eq!(dollars(1234), "$12.34");
        assert_eq!(dollars(0), "$0.00");
        assert_eq!(
            dollars(-5),
            "-$0.05",
            "the sign of small negatives was lost"
        );
        assert_eq!(dollars(-345), "-$3.45");
    }

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
