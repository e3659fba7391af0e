//! `serve`, `opencode-config` and `forget`: the local proxy, how a client reaches it, and
//! what it keeps.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use cursor_bridge_core::engine::conversations;
use cursor_bridge_core::opencode;
use cursor_bridge_core::proxy::{self as core_proxy, ProxyState, StartError};

use super::{Ctx, stop_signal};
use crate::exit::{CliError, Exit};
use crate::format::w;

pub(crate) async fn serve(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let listener = core_proxy::bind(&ctx.settings).await.map_err(|e| match e {
        StartError::NotLoopback(_) | StartError::Unprotected(_) => {
            CliError::new(Exit::Usage, e.to_string())
        }
        other => CliError::new(Exit::Failure, format!("{other} (--port picks another)")),
    })?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
    let state = ProxyState::from_settings(
        ctx.client.clone(),
        ctx.settings.clone(),
        &ctx.paths,
        &ctx.env,
    )
    .map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("cannot read or create the local API key: {e}"),
        )
    })?;
    // Before the "listening" line: whoever reads it may signal us at once.
    let shutdown = stop_signal()?;
    w(
        out,
        format!(
            "Cursor Bridge listening on http://{local} (OpenAI base URL: http://{local}/v1, health: http://{local}/health)"
        ),
    )?;
    out.flush().ok();
    core_proxy::serve(listener, Arc::new(state), shutdown)
        .await
        .map_err(|e| CliError::new(Exit::Failure, format!("the proxy stopped: {e}")))
}

/// `write`: `None` prints the snippet; `Some(path)` merges into `path` or, without one,
/// OpenCode's global config. Both are the app's actions (the tray's "Copy" and "Install").
pub(crate) async fn opencode_config(
    ctx: &Ctx,
    write: Option<Option<PathBuf>>,
    follow_symlink: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let Some(path) = write else {
        return w(out, ctx.app.opencode_snippet().await?.text);
    };
    let link = path.clone().filter(|p| p.is_symlink());
    let done = ctx
        .app
        .opencode_install_counted(path, follow_symlink)
        .await?;
    let file = done.outcome.path.display();
    if let Some(link) = link {
        w(out, format!("{} is a symlink to {file}.", link.display()))?;
    }
    match (&done.outcome.backup, done.outcome.created) {
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
            done.models,
            opencode::PROVIDER_ID
        ),
    )
}

pub(crate) fn forget(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let file = ctx.paths.conversations_file();
    match conversations::forget_file(&ctx.paths.data_dir) {
        Ok(true) => w(
            out,
            format!("Forgot the kept conversations ({}).", file.display()),
        ),
        Ok(false) => w(
            out,
            format!("No kept conversations to forget ({}).", file.display()),
        ),
        Err(e) => Err(CliError::new(
            Exit::Failure,
            format!("cannot delete {}: {e}", file.display()),
        )),
    }
}
