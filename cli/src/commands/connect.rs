//! `connect`, `disconnect` and `key`: a coding tool's own config pointed at this proxy,
//! and back. The work is the app's (`App::connect`, the same action Settings' "Connect
//! your tools" runs); this prints what it did.

use std::io::Write;

use cursor_bridge_core::app::ConnectOptions;
use cursor_bridge_core::connect::{Client, OpencodeShape};

use super::Ctx;
use crate::args::{ClientArg, ConnectArgs, ShapeArg};
use crate::exit::{CliError, Exit};
use crate::format::w;

fn client(c: ClientArg) -> Client {
    match c {
        ClientArg::Opencode => Client::Opencode,
        ClientArg::ClaudeCode => Client::ClaudeCode,
        ClientArg::Codex => Client::Codex,
    }
}

pub(crate) async fn connect(
    ctx: &Ctx,
    a: ConnectArgs,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    // This very binary prints the key (`cursor-bridge key`): clients that can run a
    // command get it instead of the key itself.
    let key_command = std::env::current_exe().ok();
    let options = ConnectOptions {
        path: a.write.clone(),
        dry_run: a.dry_run,
        set_default: a.set_default,
        opencode_shape: a.opencode_shape.map(|s| match s {
            ShapeArg::V1 => OpencodeShape::V1,
            ShapeArg::V2 => OpencodeShape::V2,
        }),
        key_command,
        follow_symlink: a.follow_symlink,
    };
    let c = client(a.client);
    let r = ctx.app.connect(c, options).await?;
    let file = r.path.display();
    if let Some(link) = a.write.as_ref().filter(|p| p.is_symlink()) {
        w(out, format!("{} is a symlink to {file}.", link.display()))?;
    }
    if r.dry_run {
        if r.diff.is_empty() {
            w(
                out,
                format!(
                    "{file} already connects {}; nothing would change.",
                    c.name()
                ),
            )?;
        } else {
            write!(out, "{}", r.diff)
                .map_err(|e| CliError::new(Exit::Failure, format!("cannot write output: {e}")))?;
            w(out, format!("Dry run: {file} was not changed."))?;
        }
        return Ok(());
    }
    match (&r.backup, r.created, r.diff.is_empty()) {
        (_, _, true) => w(
            out,
            format!("{file} already connects {}; nothing written.", c.name()),
        )?,
        (_, true, _) => w(
            out,
            format!("Created {file}: {} now uses Cursor Bridge.", c.name()),
        )?,
        (Some(b), _, _) => {
            w(
                out,
                format!("Updated {file}: {} now uses Cursor Bridge.", c.name()),
            )?;
            w(out, format!("Backup of the previous file: {}", b.display()))?;
        }
        (None, false, false) => w(out, format!("Updated {file}."))?,
    }
    for n in &r.notes {
        w(out, n)?;
    }
    w(
        out,
        format!("Undo with: cursor-bridge disconnect {}", c.id()),
    )
}

pub(crate) async fn disconnect(
    ctx: &Ctx,
    c: ClientArg,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let c = client(c);
    let r = ctx.app.disconnect(c).await?;
    if let Some(path) = &r.path {
        let file = path.display();
        if r.removed {
            w(out, format!("Removed {file}: connect had created it."))?;
        } else if r.restored_exactly {
            w(out, format!("Restored {file} as it was before connect."))?;
        } else {
            w(out, format!("Took Cursor Bridge out of {file}."))?;
        }
        if let Some(b) = &r.backup {
            w(
                out,
                format!("Backup of the file before this: {}", b.display()),
            )?;
        }
    }
    for n in &r.notes {
        w(out, n)?;
    }
    Ok(())
}

/// Prints the key and nothing else: the clients read the whole output as the key.
pub(crate) fn key(ctx: &Ctx, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    w(out, ctx.app.api_key()?)
}
