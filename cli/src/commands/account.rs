//! `models` and `usage`: what the plan offers and what has been used.

use std::io::Write;
use std::path::PathBuf;

use cursor_bridge_core::store::ledger::{Ledger, LedgerError, Range, UsageReport, unix_now_ms};

use super::Ctx;
use crate::exit::{CliError, Exit};
use crate::format::{print_local_usage, print_plan_usage, w};

pub(crate) async fn models(
    ctx: &Ctx,
    json: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let models = ctx.client.models().await?;
    if json {
        let s = serde_json::to_string_pretty(&*models)
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
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

/// `usage`: first the local ledger for the last 24 h and 7 d (it needs no sign-in), then
/// Cursor's plan usage. `--json` prints the plan usage object with the ledger's reports
/// added under `"local"` (`{"24h": UsageReport, "7d": UsageReport}` as in docs/IPC.md,
/// `null` if the ledger cannot be read); when the plan usage fails it prints only
/// `{"local": …}`. Exit code: the plan usage's failure if any (3 not signed in, 4 Cursor
/// failing), else 1 if the ledger could not be read, else 0.
pub(crate) async fn usage(
    ctx: &Ctx,
    json: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let local = local_usage(ctx.paths.ledger_file()).await;
    if !json {
        print_local_usage(out, &local)?;
        out.flush().ok();
    }
    let plan = ctx.client.plan_usage().await;
    if json {
        let mut v = match &plan {
            Ok(u) => {
                serde_json::to_value(u).map_err(|e| CliError::new(Exit::Failure, e.to_string()))?
            }
            Err(_) => serde_json::Value::Object(Default::default()),
        };
        let reports = match &local {
            Ok(reports) => reports
                .iter()
                .map(|r| Ok((r.range.to_string(), serde_json::to_value(r)?)))
                .collect::<Result<serde_json::Map<_, _>, serde_json::Error>>()
                .map(serde_json::Value::Object)
                .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?,
            Err(_) => serde_json::Value::Null,
        };
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("local".into(), reports);
        }
        let s = serde_json::to_string_pretty(&v)
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
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
        (Ok(_), Err(l)) => Err(CliError::new(Exit::Failure, l.to_string())),
        (Ok(_), Ok(_)) => Ok(()),
    }
}

/// The ledger's reports for 24 h and 7 d. A ledger that does not exist yet (the proxy
/// never ran) reads as empty and is not created by this read-only command.
async fn local_usage(path: PathBuf) -> Result<Vec<UsageReport>, LedgerError> {
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
