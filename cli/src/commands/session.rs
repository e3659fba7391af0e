//! `login`, `logout` and `status`: the session with Cursor. Signing in and out are the
//! app's actions; `status` reads more than the app's status shows (the token's expiry, the
//! store, the client version), so it asks the client directly.

use std::io::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cursor_bridge_core::app::{ErrorKind, Opener, Status};
use cursor_bridge_core::cursor::CursorError;
use cursor_bridge_core::cursor::auth;
use cursor_bridge_core::dates::iso8601;
use tokio::sync::mpsc;

use super::{Ctx, stop_signal};
use crate::args::LoginArgs;
use crate::exit::{CliError, Exit};
use crate::format::{human_duration, w};

/// The sign-in page's URL as the app's browser sign-in hands it over, and whether a
/// browser opened it.
pub(crate) type SignInUrls = mpsc::UnboundedReceiver<(String, bool)>;

/// The app's opener for `login`: opens the browser unless `no_browser`, and always passes
/// the URL on so it is printed — the user opens it themselves when nothing opened.
pub(crate) fn url_opener(no_browser: bool) -> (Opener, SignInUrls) {
    let (tx, rx) = mpsc::unbounded_channel();
    let opener: Opener = Arc::new(move |url: &str| {
        let opened = !no_browser && webbrowser::open(url).is_ok();
        // The receiver lives as long as the login waits; after that nobody needs the URL.
        let _ = tx.send((url.to_string(), opened));
        Ok(())
    });
    (opener, rx)
}

/// `login`: the app's sign-in, in the browser (`urls` carries the page's URL from the
/// opener `ctx` was built with, see [`url_opener`]) or with an API key from stdin.
pub(crate) async fn login(
    ctx: &Ctx,
    a: LoginArgs,
    urls: SignInUrls,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let status = if a.api_key_stdin {
        // Before reading the key: a store we cannot use fails first, as for the browser.
        ctx.app.ensure_store_usable().await?;
        let key = crate::secret::read_line("Cursor API key (not shown): ").map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!("cannot read the API key from stdin: {e}"),
            )
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(CliError::new(Exit::Usage, "no API key on standard input"));
        }
        ctx.app.sign_in_with_api_key(key).await?
    } else {
        browser_sign_in(ctx, urls, out).await?
    };
    let who = status
        .account
        .and_then(|acc| acc.email)
        .unwrap_or_else(|| "your Cursor account".into());
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

/// The app's browser sign-in, saying where to approve it and cancelled by Ctrl-C.
async fn browser_sign_in(
    ctx: &Ctx,
    mut urls: SignInUrls,
    out: &mut (dyn Write + Send),
) -> Result<Status, CliError> {
    let mut signing_in = std::pin::pin!(ctx.app.sign_in());
    let (url, opened) = tokio::select! {
        // It ends before it asks for the page only when it failed (the store check).
        r = &mut signing_in => return r.map_err(CliError::from),
        Some(u) = urls.recv() => u,
    };
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
    let app = ctx.app.clone();
    let ctrl_c = tokio::spawn(async move {
        stop.await;
        app.cancel_sign_in();
    });
    let signed_in = signing_in.await;
    ctrl_c.abort();
    signed_in.map_err(|e| match e.kind {
        ErrorKind::LoginCancelled => CliError::new(Exit::SignInAborted, "sign-in cancelled"),
        _ => e.into(),
    })
}

pub(crate) async fn logout(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    ctx.app.sign_out().await?;
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

pub(crate) async fn status(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let tokens = ctx.client.tokens();
    let current = tokens
        .current()
        .await
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
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
        format!(
            "Proxy:             {} (OpenAI base URL)",
            ctx.app.base_url()
        ),
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
        return Err(CliError::new(Exit::NotSignedIn, "not signed in"));
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
