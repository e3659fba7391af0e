//! `login`, `logout` and `status`: the session with Cursor.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use cursor_bridge_core::cursor::CursorError;
use cursor_bridge_core::cursor::auth::{self, LoginError, Pkce};
use cursor_bridge_core::dates::iso8601;
use cursor_bridge_core::store::credentials::StoreError;
use tokio_util::sync::CancellationToken;

use super::{Ctx, stop_signal};
use crate::args::LoginArgs;
use crate::exit::{CliError, Exit};
use crate::format::{human_duration, w};

pub(crate) async fn login(
    ctx: &Ctx,
    a: LoginArgs,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    check_store(ctx).await?;
    let creds = if a.api_key_stdin {
        let mut key = String::new();
        std::io::stdin().read_line(&mut key).map_err(|e| {
            CliError::new(
                Exit::Failure,
                format!("cannot read the API key from stdin: {e}"),
            )
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(CliError::new(Exit::Usage, "no API key on standard input"));
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
            Err(LoginError::Cancelled) => {
                return Err(CliError::new(Exit::SignInAborted, "sign-in cancelled"));
            }
            Err(e @ LoginError::TimedOut { .. }) => {
                return Err(CliError::new(Exit::SignInAborted, e.to_string()));
            }
            Err(e) => return Err(CliError::new(Exit::Cursor, e.to_string())),
        }
    };
    ctx.client
        .tokens()
        .sign_in(creds)
        .await
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
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
        Err(e) => Err(CliError::new(Exit::Failure, e.to_string())),
    }
}

pub(crate) async fn logout(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    ctx.client
        .tokens()
        .sign_out()
        .await
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
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
