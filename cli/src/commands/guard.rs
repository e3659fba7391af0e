//! `cursor-bridge guard status|resume|pause`: the running proxy's guard, over its HTTP
//! endpoints (`GET /guard`, `POST /guard/resume`, `POST /guard/pause`) with the local
//! key — the proxy may run in the tray app or in `serve`, another process either way.
//! With no proxy running, `status` shows the rules and today's counts from the ledger;
//! `resume` and `pause` have nothing to act on and fail.

use std::io::Write;

use cursor_bridge_core::app::ipc::{GuardRule, GuardStatus, OnDemand};

use super::Ctx;
use crate::args::{GuardArgs, GuardCommand};
use crate::exit::{CliError, Exit};
use crate::format::w;

impl GuardCommand {
    pub(crate) fn args(&self) -> &GuardArgs {
        match self {
            GuardCommand::Status(a) | GuardCommand::Resume(a) | GuardCommand::Pause(a) => a,
        }
    }
}

/// What asking the proxy gave.
enum Reply {
    Status(GuardStatus),
    /// Nothing listens where the settings say the proxy does.
    NotRunning(String),
}

pub(crate) async fn run(
    ctx: &Ctx,
    cmd: GuardCommand,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let json = cmd.args().json;
    let (method, path) = match cmd {
        GuardCommand::Status(_) => (reqwest::Method::GET, "/guard"),
        GuardCommand::Resume(_) => (reqwest::Method::POST, "/guard/resume"),
        GuardCommand::Pause(_) => (reqwest::Method::POST, "/guard/pause"),
    };
    let reply = ask(ctx, method.clone(), path).await?;
    let status = match reply {
        Reply::Status(s) => s,
        Reply::NotRunning(origin) if method == reqwest::Method::GET => {
            let s = ctx.app.guard_status_today().await?;
            if !json {
                w(
                    out,
                    format!(
                        "The proxy is not running (nothing answers on {origin}); today's counts \
                         come from the usage ledger."
                    ),
                )?;
            }
            s
        }
        Reply::NotRunning(origin) => {
            return Err(CliError::new(
                Exit::Failure,
                format!(
                    "no Cursor Bridge proxy is running on {origin}, so there is no guard to \
                     {}: start it (the tray app, or `cursor-bridge serve`), or pass the \
                     --port it listens on",
                    path.trim_start_matches("/guard/")
                ),
            ));
        }
    };
    if json {
        let text = serde_json::to_string_pretty(&status)
            .map_err(|e| CliError::new(Exit::Failure, e.to_string()))?;
        return w(out, text);
    }
    if path == "/guard/resume" {
        w(out, "Guard resumed: requests are served again.")?;
    } else if path == "/guard/pause" {
        w(
            out,
            "Paused: every request is refused (HTTP 403) until `cursor-bridge guard resume`.",
        )?;
    }
    print_status(&status, out)
}

/// Calls the proxy's guard endpoint; `NotRunning` when nothing listens there.
async fn ask(ctx: &Ctx, method: reqwest::Method, path: &str) -> Result<Reply, CliError> {
    let base = ctx.app.base_url();
    let origin = base.trim_end_matches("/v1").to_string();
    let key = ctx.app.api_key()?;
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| CliError::new(Exit::Failure, format!("cannot make an HTTP client: {e}")))?;
    let res = match http
        .request(method, format!("{origin}{path}"))
        .bearer_auth(key)
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Ok(Reply::NotRunning(origin)),
        Err(e) => {
            return Err(CliError::new(
                Exit::Failure,
                format!("the proxy on {origin} did not answer: {e}"),
            ));
        }
    };
    let code = res.status();
    let body: serde_json::Value = res.json().await.map_err(|e| {
        CliError::new(
            Exit::Failure,
            format!("{origin} answered {code} without JSON ({e}); is it Cursor Bridge?"),
        )
    })?;
    if !code.is_success() {
        let message = body["error"]["message"].as_str().unwrap_or("no message");
        return Err(CliError::new(
            Exit::Failure,
            format!("the proxy on {origin} refused ({code}): {message}"),
        ));
    }
    // `POST /guard/resume` wraps the status: `{cleared, status}`.
    let status = body.get("status").cloned().unwrap_or(body);
    serde_json::from_value(status)
        .map(Reply::Status)
        .map_err(|e| CliError::new(Exit::Failure, format!("unexpected guard status: {e}")))
}

fn budget(count: u64, limit: u64) -> String {
    if limit == 0 {
        format!("{count} (no limit)")
    } else {
        format!("{count} of {limit}")
    }
}

fn print_status(s: &GuardStatus, out: &mut (dyn Write + Send)) -> Result<(), CliError> {
    let r = &s.rules;
    let state = if !r.enabled {
        "off (guard_enabled = false): only Pause all refuses requests"
    } else if s.paused {
        "paused (Pause all): every request is refused"
    } else if !s.trips.is_empty() {
        "tripped: requests are refused until resumed"
    } else {
        "on"
    };
    w(out, format!("Guard: {state}"))?;
    w(out, format!("Today ({}):", s.day))?;
    let rows = [
        (
            "guard_requests_per_minute",
            budget(s.requests_last_minute, u64::from(r.requests_per_minute)),
            "requests in the last minute",
        ),
        (
            "guard_daily_requests",
            budget(s.requests_today, r.daily_requests),
            "requests today",
        ),
        (
            "guard_daily_tokens",
            budget(s.tokens_today, r.daily_tokens),
            "tokens today",
        ),
        (
            "guard_repeat_limit",
            r.repeat_limit.to_string(),
            "identical tool calls in a row",
        ),
        (
            "guard_max_tool_steps",
            r.max_tool_steps.to_string(),
            "tool steps in one turn",
        ),
    ];
    for (key, value, what) in rows {
        w(out, format!("  {key:<27} {value:>18}  {what}"))?;
    }
    let on_demand = match r.on_demand {
        OnDemand::Allow => "allow",
        OnDemand::Warn => "warn",
        OnDemand::Block => "block",
    };
    let billing = if s.on_demand {
        "Cursor bills on demand now"
    } else {
        "within the plan's included usage"
    };
    w(
        out,
        format!("  {:<27} {on_demand:>18}  {billing}", "guard_on_demand"),
    )?;
    for t in &s.trips {
        let what = match t.rule {
            GuardRule::Paused => "paused".to_string(),
            rule => format!("{}: {} of {}", rule.key(), t.count, t.limit),
        };
        w(out, format!("Tripped — {what}, {} refused", t.refused))?;
        w(out, format!("  {}", t.message))?;
    }
    if s.paused || !s.trips.is_empty() {
        w(out, "Run `cursor-bridge guard resume` to go on.")?;
    }
    Ok(())
}
