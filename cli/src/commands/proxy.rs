//! `serve`, `opencode-config` and `forget`: the local proxy, how a client reaches it, and
//! what it keeps.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use cursor_bridge_core::engine::conversations;
use cursor_bridge_core::opencode;
use cursor_bridge_core::opencode::install::{self, WriteError};
use cursor_bridge_core::proxy::{self as core_proxy, ProxyState, StartError};

use super::{Ctx, stop_signal};
use crate::exit::{CliError, Exit};
use crate::format::w;

pub(crate) async fn serve(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let listener = core_proxy::bind(&ctx.settings).await.map_err(|e| match e {
        StartError::NotLoopback(_) => CliError::new(Exit::Usage, e.to_string()),
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
/// OpenCode's global config.
pub(crate) async fn opencode_config(
    ctx: &Ctx,
    write: Option<Option<PathBuf>>,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let Some(path) = write else {
        let models = ctx.client.models().await?;
        let key = ctx.local_key()?;
        let snippet = opencode::config_snippet(&models, &ctx.base_url(), &key);
        let s = serde_json::to_string_pretty(&snippet)
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
        return w(out, s);
    };
    // The file it refuses to touch is the user's to fix: exit 2, like a usage error.
    let err = |e: WriteError| {
        CliError::new(
            if e.is_refusal() {
                Exit::Usage
            } else {
                Exit::Failure
            },
            e.to_string(),
        )
    };
    let path = match path {
        Some(p) => p,
        None => install::default_config_path(&ctx.env).map_err(err)?,
    };
    let models = ctx.client.models().await?;
    let key = ctx.local_key()?;
    let block = opencode::provider_block(&models, &ctx.base_url(), &key);
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
