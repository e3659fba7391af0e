//! Strategy 2: the typed "rejected" answer, so the model falls back to the declared tools.

use crate::pb::agent_v1 as pb;

use pb::exec_client_message::Result as R;
use pb::exec_server_message::Message as X;

/// The typed "rejected" answer for a native Cursor tool (reference §3.6 strategy 2), so
/// the model falls back to the tools the caller declared. `None` for exec types whose
/// result schema we do not know (the driver answers those with the generic error at the
/// mirrored field number, `decode::unservable_exec_reply`).
pub fn rejection(exec: X, tool_names: &[String]) -> Option<R> {
    let reason = if tool_names.is_empty() {
        "Cursor's built-in tools are not available here.".to_string()
    } else {
        format!(
            "Cursor's built-in tools are not available here; use the provided tools instead: {}.",
            tool_names.join(", ")
        )
    };
    let shell_rejected = |command: String, working_directory: String| pb::ShellRejected {
        command,
        working_directory,
        reason: reason.clone(),
        is_readonly: false,
    };
    Some(match exec {
        X::ShellArgs(a) => R::ShellResult(pb::ShellResult {
            result: Some(pb::shell_result::Result::Rejected(shell_rejected(
                a.command,
                a.working_directory,
            ))),
        }),
        // Mirrored: a streaming shell's answer is a ShellStream event (reference §9.7).
        X::ShellStreamArgs(a) => R::ShellStream(pb::ShellStream {
            event: Some(pb::shell_stream::Event::Rejected(shell_rejected(
                a.command,
                a.working_directory,
            ))),
        }),
        X::BackgroundShellSpawnArgs(a) => {
            R::BackgroundShellSpawnResult(pb::BackgroundShellSpawnResult {
                result: Some(pb::background_shell_spawn_result::Result::Rejected(
                    shell_rejected(a.command, a.working_directory),
                )),
            })
        }
        X::WriteArgs(a) => R::WriteResult(pb::WriteResult {
            result: Some(pb::write_result::Result::Rejected(pb::WriteRejected {
                path: a.path,
                reason,
            })),
        }),
        X::DeleteArgs(a) => R::DeleteResult(pb::DeleteResult {
            result: Some(pb::delete_result::Result::Rejected(pb::DeleteRejected {
                path: a.path,
                reason,
            })),
        }),
        X::ReadArgs(a) => R::ReadResult(pb::ReadResult {
            result: Some(pb::read_result::Result::Rejected(pb::ReadRejected {
                path: a.path,
                reason,
            })),
        }),
        X::LsArgs(a) => R::LsResult(pb::LsResult {
            result: Some(pb::ls_result::Result::Rejected(pb::LsRejected {
                path: a.path,
                reason,
            })),
        }),
        X::GrepArgs(_) => R::GrepResult(pb::GrepResult {
            result: Some(pb::grep_result::Result::Error(pb::GrepError {
                error: reason,
            })),
        }),
        X::FetchArgs(a) => R::FetchResult(pb::FetchResult {
            result: Some(pb::fetch_result::Result::Error(pb::FetchError {
                url: a.url,
                error: reason,
            })),
        }),
        X::WriteShellStdinArgs(_) => R::WriteShellStdinResult(pb::WriteShellStdinResult {
            result: Some(pb::write_shell_stdin_result::Result::Error(
                pb::WriteShellStdinError { error: reason },
            )),
        }),
        // Diagnostics: an empty result means "nothing to report".
        X::DiagnosticsArgs(_) => R::DiagnosticsResult(pb::DiagnosticsResult { result: None }),
        X::RequestContextArgs(_)
        | X::McpArgs(_)
        | X::ListMcpResourcesExecArgs(_)
        | X::ReadMcpResourceExecArgs(_)
        | X::SubagentArgs(_)
        | X::McpStateExecArgs(_) => return None,
    })
}
