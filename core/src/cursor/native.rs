//! Cursor's native tools (shell, read, write, ls, grep, fetch, …), answered without running
//! anything here (reference §3.6 "Client strategies for native execs"). Pure: no I/O.
//!
//! - [`redirect`] (strategy 3): when the caller declared an equivalent tool, the exec
//!   becomes a call of that tool; [`NativeCall::into_result`] turns the caller's answer
//!   back into the typed result Cursor expects.
//!   A write goes to `write`, or, when the caller declared only `apply_patch` (OpenCode
//!   does for GPT models), to `apply_patch` with an `Add File` patch.
//! - [`rejection`] (strategy 2): otherwise the typed "rejected"/error result, so the model
//!   falls back to the tools the caller declared.
//!
//! A declared tool *fits* when its name is one we look for (ASCII case-insensitive) and its
//! schema declares the parameters we fill and requires none we cannot fill. Parameter
//! names come from the schema's `properties` where callers differ (`filePath` or `path`,
//! `workdir` or `cwd`, `include` or `glob`). A tool without a schema takes no arguments,
//! so it never fits. Deletes, background shells, stdin writes and diagnostics are never
//! redirected: deleting through a synthesized shell command, say, is not ours to decide.

use serde_json::{Map, Value, json};

use super::chat::{ToolDef, ToolResult};
use crate::pb::agent_v1 as pb;
use pb::exec_client_message::Result as R;
use pb::exec_server_message::Message as X;

/// A native exec handed to a declared tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// The declared tool to call, named as the caller declared it.
    pub tool: String,
    /// The tool's arguments, a JSON object.
    pub arguments: Value,
    /// The exec's own `tool_call_id` (may be empty).
    pub tool_call_id: String,
    /// What to remember until the caller answers.
    pub native: NativeCall,
}

/// The window of a native read, from its display-only `ReadToolArgs` (reference §9.1);
/// the exec's `ReadArgs` carries only the path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadWindow {
    pub offset: Option<i32>,
    pub limit: Option<i32>,
}

/// A redirected exec: what the typed result needs once the caller answers.
#[derive(Debug, Clone, PartialEq)]
pub enum NativeCall {
    Read {
        path: String,
    },
    Write {
        path: String,
        text: String,
        /// `WriteArgs.return_file_content_after_write`.
        return_content: bool,
    },
    /// A write sent as an `apply_patch` call (the caller declared no `write`). Answered
    /// like [`NativeCall::Write`], except that success is read from the answer's text.
    WriteByPatch {
        path: String,
        text: String,
        return_content: bool,
    },
    /// `shell_args` (answered with one `ShellResult`) or, with `stream`,
    /// `shell_stream_args` (answered with `ShellStream` events, reference §9.7).
    Shell {
        command: String,
        working_directory: String,
        stream: bool,
    },
    Ls {
        path: String,
    },
    /// `grep_args`; a glob-only search (empty pattern) lists files.
    Grep {
        pattern: String,
        path: Option<String>,
        output_mode: String,
        files_only: bool,
    },
    Fetch {
        url: String,
    },
}

/// The declared tool equivalent to a native exec, if there is one (first fitting tool in
/// declaration order; `ls` prefers a `list` tool over `glob`). A read's `window` goes to
/// the tool's `offset`/`limit` when it declares them.
pub fn redirect(exec: &X, tools: &[ToolDef], window: Option<ReadWindow>) -> Option<Redirect> {
    let (tool, arguments, tool_call_id, native) = match exec {
        X::ReadArgs(a) => {
            let (tool, args) = first_fit(tools, &["read"], |s| {
                let mut m = args([(s.pick(PATH_KEYS)?, json!(a.path))]);
                let w = window.unwrap_or_default();
                for (key, value) in [("offset", w.offset), ("limit", w.limit)] {
                    if let (Some(k), Some(v)) = (s.pick(&[key]), value) {
                        m.insert(k.into(), json!(v));
                    }
                }
                Some(m)
            })?;
            let native = NativeCall::Read {
                path: a.path.clone(),
            };
            (tool, args, &a.tool_call_id, native)
        }
        X::WriteArgs(a) => {
            let text = if a.file_text.is_empty() && !a.file_bytes.is_empty() {
                // Bytes that are not text cannot go through a text tool unharmed.
                String::from_utf8(a.file_bytes.to_vec()).ok()?
            } else {
                a.file_text.clone()
            };
            let write = first_fit(tools, &["write"], |s| {
                Some(args([
                    (s.pick(PATH_KEYS)?, json!(a.path)),
                    (s.pick(&["content"])?, json!(text)),
                ]))
            });
            let (path, return_content) = (a.path.clone(), a.return_file_content_after_write);
            let (tool, args, native) = match write {
                Some((tool, args)) => {
                    let native = NativeCall::Write {
                        path,
                        text,
                        return_content,
                    };
                    (tool, args, native)
                }
                // OpenCode declares only `apply_patch` (no `write`/`edit`) for GPT models.
                None => {
                    let (tool, args) = first_fit(tools, &["apply_patch"], |s| {
                        Some(args([(
                            s.pick(PATCH_KEYS)?,
                            json!(add_file_patch(&a.path, &text)),
                        )]))
                    })?;
                    let native = NativeCall::WriteByPatch {
                        path,
                        text,
                        return_content,
                    };
                    (tool, args, native)
                }
            };
            (tool, args, &a.tool_call_id, native)
        }
        X::ShellArgs(a) | X::ShellStreamArgs(a) if !a.is_background => {
            let (tool, args) = first_fit(tools, &["bash", "shell"], |s| shell_args(s, a))?;
            let native = NativeCall::Shell {
                command: a.command.clone(),
                working_directory: a.working_directory.clone(),
                stream: matches!(exec, X::ShellStreamArgs(_)),
            };
            (tool, args, &a.tool_call_id, native)
        }
        X::LsArgs(a) => {
            let list = first_fit(tools, &["list"], |s| {
                let mut m = args([(s.pick(&["path"])?, json!(a.path))]);
                if let Some(k) = s.pick(&["ignore"]).filter(|_| !a.ignore.is_empty()) {
                    m.insert(k.into(), json!(a.ignore));
                }
                Some(m)
            });
            let (tool, args) = list.or_else(|| {
                first_fit(tools, &["glob"], |s| {
                    Some(args([
                        (s.pick(&["pattern"])?, json!("*")),
                        (s.pick(&["path"])?, json!(a.path)),
                    ]))
                })
            })?;
            let native = NativeCall::Ls {
                path: a.path.clone(),
            };
            (tool, args, &a.tool_call_id, native)
        }
        X::GrepArgs(a) => {
            let path = a.path.clone().filter(|p| !p.is_empty());
            let glob = a.glob.clone().filter(|g| !g.is_empty());
            let files_only = a.pattern.is_empty();
            let (tool, args) = if !files_only {
                first_fit(tools, &["grep"], |s| {
                    let mut m = args([(s.pick(&["pattern"])?, json!(a.pattern))]);
                    if let (Some(k), Some(p)) = (s.pick(&["path"]), &path) {
                        m.insert(k.into(), json!(p));
                    }
                    if let (Some(k), Some(g)) = (s.pick(&["include", "glob"]), &glob) {
                        m.insert(k.into(), json!(g));
                    }
                    Some(m)
                })?
            } else {
                let glob = glob.as_ref()?;
                first_fit(tools, &["glob"], |s| {
                    let mut m = args([(s.pick(&["pattern"])?, json!(glob))]);
                    if let (Some(k), Some(p)) = (s.pick(&["path"]), &path) {
                        m.insert(k.into(), json!(p));
                    }
                    Some(m)
                })?
            };
            let default_mode = if files_only {
                "files_with_matches"
            } else {
                "content"
            };
            let native = NativeCall::Grep {
                pattern: a.pattern.clone(),
                path,
                output_mode: a
                    .output_mode
                    .clone()
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| default_mode.into()),
                files_only,
            };
            (tool, args, &a.tool_call_id, native)
        }
        X::FetchArgs(a) => {
            let (tool, args) = first_fit(tools, &["webfetch"], |s| {
                let mut m = args([(s.pick(&["url"])?, json!(a.url))]);
                if let Some(k) = s.pick(&["format"]) {
                    m.insert(k.into(), json!("markdown"));
                }
                Some(m)
            })?;
            let native = NativeCall::Fetch { url: a.url.clone() };
            (tool, args, &a.tool_call_id, native)
        }
        // Never redirected (see the module doc), or not a native tool at all.
        X::ShellArgs(_)
        | X::ShellStreamArgs(_)
        | X::DeleteArgs(_)
        | X::BackgroundShellSpawnArgs(_)
        | X::WriteShellStdinArgs(_)
        | X::DiagnosticsArgs(_)
        | X::RequestContextArgs(_)
        | X::McpArgs(_)
        | X::ListMcpResourcesExecArgs(_)
        | X::ReadMcpResourceExecArgs(_)
        | X::SubagentArgs(_)
        | X::McpStateExecArgs(_) => return None,
    };
    Some(Redirect {
        tool,
        arguments: Value::Object(arguments),
        tool_call_id: tool_call_id.clone(),
        native,
    })
}

/// Names of a file path parameter, most common first (OpenCode says `filePath`).
const PATH_KEYS: &[&str] = &["filePath", "path", "file_path"];

/// Names of an `apply_patch` tool's patch parameter (OpenCode says `patchText`).
const PATCH_KEYS: &[&str] = &["patchText", "patch", "input"];

/// The Codex-style patch (`*** Begin Patch` … `*** End Patch`, the format OpenCode's and
/// Codex's `apply_patch` read) that writes `text` to `path`: one `Add File` hunk, every
/// line prefixed with `+`. Cursor's write carries no old content, so an update hunk is
/// impossible; `Add File` is also what these tools apply over an existing file (they
/// write the file whole). A final newline is implied, as the tools add one.
fn add_file_patch(path: &str, text: &str) -> String {
    let mut out = format!("*** Begin Patch\n*** Add File: {path}\n");
    if !text.is_empty() {
        for line in text.strip_suffix('\n').unwrap_or(text).split('\n') {
            out.push('+');
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("*** End Patch");
    out
}

fn shell_args(s: &Schema<'_>, a: &pb::ShellArgs) -> Option<Map<String, Value>> {
    let mut m = args([(s.pick(&["command"])?, json!(a.command))]);
    if !a.working_directory.is_empty()
        && let Some(k) = s.pick(&["workdir", "cwd"])
    {
        m.insert(k.into(), json!(a.working_directory));
    }
    if a.timeout > 0
        && let Some(k) = s.pick(&["timeout"])
    {
        m.insert(k.into(), json!(a.timeout));
    }
    // Some shells tools require a human-readable description of the command.
    if let Some(k) = s.pick(&["description"]) {
        let short: String = a.command.chars().take(60).collect();
        let more = if short.len() < a.command.len() {
            "…"
        } else {
            ""
        };
        m.insert(k.into(), json!(format!("Run: {short}{more}")));
    }
    Some(m)
}

fn args<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The first declared tool named like one of `names` whose arguments `build` can fill.
fn first_fit(
    tools: &[ToolDef],
    names: &[&str],
    build: impl Fn(&Schema<'_>) -> Option<Map<String, Value>>,
) -> Option<(String, Map<String, Value>)> {
    tools
        .iter()
        .filter(|t| names.iter().any(|n| t.name.eq_ignore_ascii_case(n)))
        .find_map(|t| {
            let schema = Schema::of(t);
            let args = build(&schema)?;
            schema
                .required
                .iter()
                .all(|r| args.contains_key(*r))
                .then(|| (t.name.clone(), args))
        })
}

/// The parts of a tool's JSON schema the mapping reads.
struct Schema<'a> {
    properties: Option<&'a Map<String, Value>>,
    required: Vec<&'a str>,
}

impl<'a> Schema<'a> {
    fn of(t: &'a ToolDef) -> Self {
        let p = t.parameters.as_ref();
        Schema {
            properties: p
                .and_then(|p| p.get("properties"))
                .and_then(Value::as_object),
            required: p
                .and_then(|p| p.get("required"))
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default(),
        }
    }

    /// The first of `names` the schema declares.
    fn pick(&self, names: &[&'static str]) -> Option<&'static str> {
        let props = self.properties?;
        names.iter().copied().find(|n| props.contains_key(*n))
    }
}

impl NativeCall {
    /// The result messages for the caller's answer, in order: one typed result, or for a
    /// streaming shell its events (start, the output, exit) — `stream_close` follows.
    pub fn into_results(self, r: ToolResult) -> Vec<R> {
        match self {
            NativeCall::Shell {
                stream: true,
                working_directory,
                ..
            } => shell_stream_events(r, working_directory),
            other => vec![other.into_result(r)],
        }
    }

    /// The typed result for the caller's answer (`is_error` → the exec's error variant).
    /// A streaming shell gets a single `ShellResult` here; [`NativeCall::into_results`]
    /// gives it its events.
    pub fn into_result(self, r: ToolResult) -> R {
        let ToolResult { content, is_error } = r;
        match self {
            NativeCall::Read { path } => R::ReadResult(pb::ReadResult {
                result: Some(if is_error {
                    pb::read_result::Result::Error(pb::ReadError {
                        path,
                        error: content,
                    })
                } else {
                    pb::read_result::Result::Success(pb::ReadSuccess {
                        path,
                        total_lines: count(content.lines().count()),
                        file_size: content.len() as i64,
                        truncated: false,
                        output: Some(pb::read_success::Output::Content(content)),
                    })
                }),
            }),
            NativeCall::Write {
                path,
                text,
                return_content,
            } => R::WriteResult(pb::WriteResult {
                result: Some(if is_error {
                    pb::write_result::Result::Error(pb::WriteError {
                        path,
                        error: content,
                    })
                } else {
                    pb::write_result::Result::Success(pb::WriteSuccess {
                        path,
                        lines_created: count(text.lines().count()),
                        file_size: count(text.len()),
                        file_content_after_write: return_content.then_some(text),
                    })
                }),
            }),
            // apply_patch tools answer failures as text, not as a tool error: both
            // OpenCode and Codex begin a success with `Success.`, so anything else is
            // the failure Cursor should hear about (its model then retries or explains).
            NativeCall::WriteByPatch {
                path,
                text,
                return_content,
            } => {
                let failed = is_error || !content.trim_start().starts_with("Success");
                NativeCall::Write {
                    path,
                    text,
                    return_content,
                }
                .into_result(ToolResult {
                    content,
                    is_error: failed,
                })
            }
            NativeCall::Shell {
                command,
                working_directory,
                ..
            } => R::ShellResult(pb::ShellResult {
                // The caller's tool reports one text; exit codes are not ours to know
                // beyond "it worked" (0) or "it failed" (1).
                result: Some(if is_error {
                    pb::shell_result::Result::Failure(pb::ShellFailure {
                        command,
                        working_directory,
                        exit_code: 1,
                        stdout: content,
                        ..Default::default()
                    })
                } else {
                    pb::shell_result::Result::Success(pb::ShellSuccess {
                        command,
                        working_directory,
                        exit_code: 0,
                        stdout: content,
                        ..Default::default()
                    })
                }),
            }),
            NativeCall::Ls { path } => R::LsResult(pb::LsResult {
                result: Some(if is_error {
                    pb::ls_result::Result::Error(pb::LsError {
                        path,
                        error: content,
                    })
                } else {
                    pb::ls_result::Result::Success(pb::LsSuccess {
                        directory_tree_root: Some(ls_tree(&path, &content)),
                    })
                }),
            }),
            NativeCall::Grep {
                pattern,
                path,
                output_mode,
                files_only,
            } => R::GrepResult(pb::GrepResult {
                result: Some(if is_error {
                    pb::grep_result::Result::Error(pb::GrepError { error: content })
                } else {
                    let key = path.clone().unwrap_or_else(|| ".".into());
                    let union = if files_only || output_mode == "files_with_matches" {
                        grep_files(&content)
                    } else {
                        grep_content(&key, &content)
                    };
                    pb::grep_result::Result::Success(pb::GrepSuccess {
                        pattern,
                        path: path.unwrap_or_default(),
                        output_mode,
                        workspace_results: [(key, union)].into(),
                    })
                }),
            }),
            NativeCall::Fetch { url } => R::FetchResult(pb::FetchResult {
                result: Some(if is_error {
                    pb::fetch_result::Result::Error(pb::FetchError {
                        url,
                        error: content,
                    })
                } else {
                    pb::fetch_result::Result::Success(pb::FetchSuccess {
                        url,
                        content,
                        status_code: 200,
                        content_type: "text/markdown".into(),
                    })
                }),
            }),
        }
    }
}

/// A streaming shell's answer as `ShellStream` events: start, the caller's one text as
/// stdout (or stderr when it failed), exit with 0 or 1 (the caller's tool reports no code).
fn shell_stream_events(r: ToolResult, cwd: String) -> Vec<R> {
    use pb::shell_stream::Event;
    let event = |e: Event| R::ShellStream(pb::ShellStream { event: Some(e) });
    let data = pb::ShellStreamData { data: r.content };
    let mut events = vec![event(Event::Start(pb::ShellStreamStart {}))];
    if !data.data.is_empty() {
        events.push(event(if r.is_error {
            Event::Stderr(data)
        } else {
            Event::Stdout(data)
        }));
    }
    events.push(event(Event::Exit(pb::ShellStreamExit {
        code: u32::from(r.is_error),
        cwd,
    })));
    events
}

/// A count for an `int32` field, saturating.
fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty())
}

/// A one-level tree rooted at `path` from a listing: one entry per line, directories
/// marked with a trailing `/`.
fn ls_tree(path: &str, listing: &str) -> pb::LsDirectoryTreeNode {
    let mut root = pb::LsDirectoryTreeNode {
        abs_path: path.into(),
        children_were_processed: true,
        ..Default::default()
    };
    for entry in entries(listing) {
        match entry.strip_suffix('/') {
            Some(dir) => root.children_dirs.push(pb::LsDirectoryTreeNode {
                abs_path: join(path, dir),
                ..Default::default()
            }),
            None => root
                .children_files
                .push(pb::ls_directory_tree_node::File { name: entry.into() }),
        }
    }
    root.num_files = count(root.children_files.len());
    root
}

fn join(dir: &str, name: &str) -> String {
    if name.starts_with('/') || dir.is_empty() {
        name.into()
    } else {
        format!("{}/{name}", dir.trim_end_matches('/'))
    }
}

fn grep_files(text: &str) -> pb::GrepUnionResult {
    let files: Vec<String> = entries(text).map(String::from).collect();
    pb::GrepUnionResult {
        result: Some(pb::grep_union_result::Result::Files(pb::GrepFilesResult {
            total_files: count(files.len()),
            files,
            ..Default::default()
        })),
    }
}

/// Each non-empty line is a match; `file:line:text` lines are split, others are filed
/// under `key` with line number 0. Consecutive matches in one file share an entry.
fn grep_content(key: &str, text: &str) -> pb::GrepUnionResult {
    use pb::grep_content_result::{FileMatches, LineMatch};
    let mut matches: Vec<FileMatches> = Vec::new();
    let mut total = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        total += 1;
        let (file, line_number, content) = split_match(line).unwrap_or((key, 0, line));
        let m = LineMatch {
            line_number,
            content: content.into(),
            ..Default::default()
        };
        match matches.last_mut() {
            Some(f) if f.file == file => f.matches.push(m),
            _ => matches.push(FileMatches {
                file: file.into(),
                matches: vec![m],
            }),
        }
    }
    pb::GrepUnionResult {
        result: Some(pb::grep_union_result::Result::Content(
            pb::GrepContentResult {
                matches,
                total_lines: total,
                total_matched_lines: total,
                ..Default::default()
            },
        )),
    }
}

/// `file:line:text` (ripgrep's format) → its parts. The first `:<digits>:` splits, so a
/// Windows drive letter stays in the file name.
fn split_match(line: &str) -> Option<(&str, i32, &str)> {
    line.match_indices(':').find_map(|(i, _)| {
        let rest = &line[i + 1..];
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 || i == 0 || !rest[digits..].starts_with(':') {
            return None;
        }
        let n = rest[..digits].parse().ok()?;
        Some((&line[..i], n, &rest[digits + 1..]))
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenCode's real tool declarations (`tools[]` of a captured request).
    fn opencode_tools() -> Vec<ToolDef> {
        let raw: Value =
            serde_json::from_str(include_str!("testdata/opencode-tools.json")).unwrap();
        raw.as_array()
            .unwrap()
            .iter()
            .map(|t| ToolDef {
                name: t["function"]["name"].as_str().unwrap().into(),
                description: t["function"]["description"].as_str().unwrap().into(),
                parameters: Some(t["function"]["parameters"].clone()),
            })
            .collect()
    }

    fn tool(name: &str, parameters: Value) -> ToolDef {
        ToolDef {
            name: name.into(),
            description: String::new(),
            parameters: Some(parameters),
        }
    }

    fn ok(content: &str) -> ToolResult {
        ToolResult {
            content: content.into(),
            is_error: false,
        }
    }

    fn err(content: &str) -> ToolResult {
        ToolResult {
            content: content.into(),
            is_error: true,
        }
    }

    fn shell(command: &str, wd: &str, timeout: i32) -> pb::ShellArgs {
        pb::ShellArgs {
            command: command.into(),
            working_directory: wd.into(),
            timeout,
            tool_call_id: "toolu_sh".into(),
            ..Default::default()
        }
    }

    fn grep(pattern: &str, path: Option<&str>, glob: Option<&str>) -> X {
        X::GrepArgs(pb::GrepArgs {
            pattern: pattern.into(),
            path: path.map(Into::into),
            glob: glob.map(Into::into),
            tool_call_id: "toolu_g".into(),
            ..Default::default()
        })
    }

    /// The tool name and arguments `exec` is redirected to with OpenCode's tools.
    fn opencode(exec: X) -> (String, Value) {
        let r = redirect(&exec, &opencode_tools(), None).expect("redirected");
        (r.tool, r.arguments)
    }

    #[test]
    fn read_becomes_opencode_read_with_file_path() {
        let r = redirect(
            &X::ReadArgs(pb::ReadArgs {
                path: "/src/main.rs".into(),
                tool_call_id: "toolu_r".into(),
            }),
            &opencode_tools(),
            None,
        )
        .unwrap();
        assert_eq!(r.tool, "read");
        assert_eq!(r.arguments, json!({"filePath": "/src/main.rs"}));
        assert_eq!(r.tool_call_id, "toolu_r");
        assert_eq!(
            r.native,
            NativeCall::Read {
                path: "/src/main.rs".into()
            }
        );
    }

    #[test]
    fn read_uses_path_when_the_schema_says_path() {
        let tools = [tool(
            "read",
            json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
        )];
        let r = redirect(
            &X::ReadArgs(pb::ReadArgs {
                path: "/a".into(),
                ..Default::default()
            }),
            &tools,
            None,
        )
        .unwrap();
        assert_eq!(r.arguments, json!({"path": "/a"}));
    }

    #[test]
    fn write_becomes_opencode_write() {
        let (tool, args) = opencode(X::WriteArgs(pb::WriteArgs {
            path: "/a.txt".into(),
            file_text: "one\ntwo\n".into(),
            ..Default::default()
        }));
        assert_eq!(tool, "write");
        assert_eq!(args, json!({"filePath": "/a.txt", "content": "one\ntwo\n"}));
    }

    /// OpenCode's `apply_patch` declaration, from the request it sends for a GPT model.
    fn apply_patch_tool() -> ToolDef {
        tool(
            "apply_patch",
            json!({"type": "object", "properties": {"patchText": {"type": "string"}},
                "required": ["patchText"]}),
        )
    }

    #[test]
    fn write_becomes_an_add_file_patch_when_only_apply_patch_is_declared() {
        let write = |text: &str| {
            X::WriteArgs(pb::WriteArgs {
                path: "src/a.rs".into(),
                file_text: text.into(),
                tool_call_id: "toolu_w".into(),
                ..Default::default()
            })
        };
        let tools = [tool("bash", json!({})), apply_patch_tool()];
        let r = redirect(
            &write(
                "fn a() {}

// end
",
            ),
            &tools,
            None,
        )
        .unwrap();
        assert_eq!(r.tool, "apply_patch");
        assert_eq!(
            r.arguments["patchText"],
            "*** Begin Patch\n*** Add File: src/a.rs\n+fn a() {}\n+\n+// end\n*** End Patch"
        );
        // No final newline: the same lines (the tool adds one); empty: no lines at all.
        let r = redirect(&write("x"), &tools, None).unwrap();
        assert_eq!(
            r.arguments["patchText"],
            "*** Begin Patch\n*** Add File: src/a.rs\n+x\n*** End Patch"
        );
        let r = redirect(&write(""), &tools, None).unwrap();
        assert_eq!(
            r.arguments["patchText"],
            "*** Begin Patch\n*** Add File: src/a.rs\n*** End Patch"
        );
        // A declared `write` wins: it needs no patch.
        let mut both = opencode_tools();
        both.push(apply_patch_tool());
        assert_eq!(redirect(&write("x"), &both, None).unwrap().tool, "write");
    }

    #[test]
    fn an_apply_patch_answer_is_a_write_result_by_its_text() {
        let native = NativeCall::WriteByPatch {
            path: "a.txt".into(),
            text: "one\ntwo\n".into(),
            return_content: true,
        };
        let R::WriteResult(written) = native
            .clone()
            .into_result(ok("Success. Updated the following files:\nA a.txt"))
        else {
            panic!()
        };
        assert_eq!(
            written.result,
            Some(pb::write_result::Result::Success(pb::WriteSuccess {
                path: "a.txt".into(),
                lines_created: 2,
                file_size: 8,
                file_content_after_write: Some("one\ntwo\n".into()),
            }))
        );
        for answer in [ok("apply_patch verification failed: x"), err("Success?")] {
            let R::WriteResult(r) = native.clone().into_result(answer) else {
                panic!()
            };
            assert!(
                matches!(r.result, Some(pb::write_result::Result::Error(_))),
                "{r:?}"
            );
        }
    }

    #[test]
    fn write_of_non_utf8_bytes_is_not_redirected() {
        let exec = X::WriteArgs(pb::WriteArgs {
            path: "/a.bin".into(),
            file_bytes: vec![0xff, 0xfe].into(),
            ..Default::default()
        });
        assert_eq!(redirect(&exec, &opencode_tools(), None), None);
    }

    #[test]
    fn shell_becomes_opencode_bash_with_workdir_and_timeout() {
        let (tool, args) = opencode(X::ShellArgs(shell("ls -la", "/repo", 30_000)));
        assert_eq!(tool, "bash");
        assert_eq!(
            args,
            json!({"command": "ls -la", "workdir": "/repo", "timeout": 30_000})
        );
        // Streaming shell maps the same; no cwd and no timeout when Cursor gives none.
        let (tool, args) = opencode(X::ShellStreamArgs(shell("pwd", "", 0)));
        assert_eq!(tool, "bash");
        assert_eq!(args, json!({"command": "pwd"}));
    }

    #[test]
    fn shell_uses_cwd_when_the_schema_says_cwd() {
        let tools = [tool(
            "shell",
            json!({"type": "object", "properties": {"command": {}, "cwd": {}}, "required": ["command"]}),
        )];
        let r = redirect(&X::ShellArgs(shell("make", "/w", 5)), &tools, None).unwrap();
        assert_eq!(r.tool, "shell");
        assert_eq!(
            r.arguments,
            json!({"command": "make", "cwd": "/w"}),
            "no timeout: not declared"
        );
        assert_eq!(r.tool_call_id, "toolu_sh");
    }

    #[test]
    fn a_required_description_is_filled_in() {
        let tools = [tool(
            "Bash",
            json!({"type": "object", "properties": {"command": {}, "description": {}}, "required": ["command", "description"]}),
        )];
        let r = redirect(&X::ShellArgs(shell("cargo test", "", 0)), &tools, None).unwrap();
        assert_eq!(
            r.tool, "Bash",
            "matched case-insensitively, named as declared"
        );
        assert_eq!(
            r.arguments,
            json!({"command": "cargo test", "description": "Run: cargo test"})
        );
    }

    #[test]
    fn the_first_declared_fitting_tool_wins() {
        let tools = [
            tool(
                "shell",
                json!({"type": "object", "properties": {"cmd": {}}}),
            ),
            tool(
                "shell",
                json!({"type": "object", "properties": {"command": {}, "cwd": {}}}),
            ),
            tool(
                "bash",
                json!({"type": "object", "properties": {"command": {}, "workdir": {}}}),
            ),
        ];
        let r = redirect(&X::ShellArgs(shell("x", "/d", 0)), &tools, None).unwrap();
        assert_eq!(r.arguments, json!({"command": "x", "cwd": "/d"}));
    }

    #[test]
    fn ls_becomes_glob_star_without_a_list_tool_and_list_when_declared() {
        let ls = X::LsArgs(pb::LsArgs {
            path: "/repo".into(),
            ignore: vec!["target".into()],
            ..Default::default()
        });
        assert_eq!(
            opencode(ls.clone()),
            ("glob".into(), json!({"pattern": "*", "path": "/repo"}))
        );
        let mut tools = opencode_tools();
        tools.push(tool(
            "list",
            json!({"type": "object", "properties": {"path": {}, "ignore": {}}}),
        ));
        let r = redirect(&ls, &tools, None).unwrap();
        assert_eq!(r.tool, "list", "list is preferred over glob");
        assert_eq!(r.arguments, json!({"path": "/repo", "ignore": ["target"]}));
    }

    #[test]
    fn grep_becomes_grep_or_glob() {
        assert_eq!(
            opencode(grep("fn main", Some("/src"), Some("*.rs"))),
            (
                "grep".into(),
                json!({"pattern": "fn main", "path": "/src", "include": "*.rs"})
            )
        );
        assert_eq!(
            opencode(grep("todo", None, None)),
            ("grep".into(), json!({"pattern": "todo"}))
        );
        assert_eq!(
            opencode(grep("", Some("/src"), Some("**/*.toml"))),
            (
                "glob".into(),
                json!({"pattern": "**/*.toml", "path": "/src"})
            )
        );
        assert_eq!(
            redirect(&grep("", Some("/src"), None), &opencode_tools(), None),
            None
        );
    }

    #[test]
    fn fetch_becomes_webfetch_as_markdown() {
        assert_eq!(
            opencode(X::FetchArgs(pb::FetchArgs {
                url: "https://example.com".into(),
                tool_call_id: String::new(),
            })),
            (
                "webfetch".into(),
                json!({"url": "https://example.com", "format": "markdown"})
            )
        );
    }

    #[test]
    fn no_equivalent_tool_means_no_redirect() {
        let weather = [tool(
            "get_weather",
            json!({"type": "object", "properties": {"city": {}}}),
        )];
        let execs = [
            X::ReadArgs(Default::default()),
            X::WriteArgs(Default::default()),
            X::ShellArgs(shell("ls", "", 0)),
            X::LsArgs(Default::default()),
            grep("x", None, None),
            X::FetchArgs(Default::default()),
        ];
        for e in &execs {
            assert_eq!(redirect(e, &weather, None), None, "{e:?}");
            assert_eq!(redirect(e, &[], None), None, "{e:?}");
        }
        // A tool without a schema takes no arguments; one requiring what we cannot fill
        // (Claude Code's WebFetch needs a `prompt`) does not fit either.
        let unfit = [
            ToolDef {
                name: "read".into(),
                description: String::new(),
                parameters: None,
            },
            tool(
                "webfetch",
                json!({"type": "object", "properties": {"url": {}, "prompt": {}}, "required": ["url", "prompt"]}),
            ),
        ];
        assert_eq!(redirect(&execs[0], &unfit, None), None);
        assert_eq!(redirect(&execs[5], &unfit, None), None);
    }

    #[test]
    fn deletes_background_shells_stdin_and_diagnostics_are_never_redirected() {
        let mut background = shell("sleep 100", "", 0);
        background.is_background = true;
        for e in [
            X::DeleteArgs(pb::DeleteArgs {
                path: "/a".into(),
                ..Default::default()
            }),
            X::BackgroundShellSpawnArgs(Default::default()),
            X::ShellArgs(background),
            X::WriteShellStdinArgs(Default::default()),
            X::DiagnosticsArgs(Default::default()),
        ] {
            assert_eq!(redirect(&e, &opencode_tools(), None), None, "{e:?}");
        }
    }

    #[test]
    fn read_results() {
        let native = NativeCall::Read { path: "/a".into() };
        assert_eq!(
            native.clone().into_result(ok("x\ny\n")),
            R::ReadResult(pb::ReadResult {
                result: Some(pb::read_result::Result::Success(pb::ReadSuccess {
                    path: "/a".into(),
                    total_lines: 2,
                    file_size: 4,
                    truncated: false,
                    output: Some(pb::read_success::Output::Content("x\ny\n".into())),
                }))
            })
        );
        assert_eq!(
            native.into_result(err("no such file")),
            R::ReadResult(pb::ReadResult {
                result: Some(pb::read_result::Result::Error(pb::ReadError {
                    path: "/a".into(),
                    error: "no such file".into(),
                }))
            })
        );
    }

    #[test]
    fn write_results_describe_the_text_written() {
        let native = NativeCall::Write {
            path: "/a".into(),
            text: "one\ntwo\nthree".into(),
            return_content: true,
        };
        assert_eq!(
            native.clone().into_result(ok("Wrote file successfully.")),
            R::WriteResult(pb::WriteResult {
                result: Some(pb::write_result::Result::Success(pb::WriteSuccess {
                    path: "/a".into(),
                    lines_created: 3,
                    file_size: 13,
                    file_content_after_write: Some("one\ntwo\nthree".into()),
                }))
            })
        );
        assert_eq!(
            native.into_result(err("read-only")),
            R::WriteResult(pb::WriteResult {
                result: Some(pb::write_result::Result::Error(pb::WriteError {
                    path: "/a".into(),
                    error: "read-only".into(),
                }))
            })
        );
    }

    #[test]
    fn shell_results() {
        let native = NativeCall::Shell {
            command: "ls".into(),
            working_directory: "/w".into(),
            stream: false,
        };
        let R::ShellResult(pb::ShellResult {
            result: Some(pb::shell_result::Result::Success(s)),
        }) = native.clone().into_result(ok("a\nb\n"))
        else {
            panic!()
        };
        assert_eq!(
            (
                s.command.as_str(),
                s.working_directory.as_str(),
                s.exit_code
            ),
            ("ls", "/w", 0)
        );
        assert_eq!(s.stdout, "a\nb\n");
        let R::ShellResult(pb::ShellResult {
            result: Some(pb::shell_result::Result::Failure(f)),
        }) = native.into_result(err("boom"))
        else {
            panic!()
        };
        assert_eq!((f.exit_code, f.stdout.as_str()), (1, "boom"));
    }

    #[test]
    fn ls_results_are_a_one_level_tree() {
        let native = NativeCall::Ls {
            path: "/repo/".into(),
        };
        let R::LsResult(pb::LsResult {
            result: Some(pb::ls_result::Result::Success(s)),
        }) = native
            .clone()
            .into_result(ok("Cargo.toml\n\nsrc/\n  README.md\n/abs/dir/\n"))
        else {
            panic!()
        };
        let root = s.directory_tree_root.unwrap();
        assert_eq!(root.abs_path, "/repo/");
        let files: Vec<_> = root
            .children_files
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(files, ["Cargo.toml", "README.md"]);
        let dirs: Vec<_> = root
            .children_dirs
            .iter()
            .map(|d| d.abs_path.as_str())
            .collect();
        assert_eq!(dirs, ["/repo/src", "/abs/dir"]);
        assert_eq!(root.num_files, 2);
        assert!(matches!(
            native.into_result(err("denied")),
            R::LsResult(pb::LsResult {
                result: Some(pb::ls_result::Result::Error(pb::LsError { path, error }))
            }) if path == "/repo/" && error == "denied"
        ));
    }

    fn grep_success(r: R) -> pb::GrepSuccess {
        match r {
            R::GrepResult(pb::GrepResult {
                result: Some(pb::grep_result::Result::Success(s)),
            }) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn grep_content_results_split_file_line_text() {
        let native = NativeCall::Grep {
            pattern: "fn".into(),
            path: Some("/src".into()),
            output_mode: "content".into(),
            files_only: false,
        };
        let s = grep_success(native.clone().into_result(ok(
            "/src/a.rs:3:fn a() {}\n/src/a.rs:9:fn b() {}\nFound 3 matches\n",
        )));
        assert_eq!((s.pattern.as_str(), s.path.as_str()), ("fn", "/src"));
        assert_eq!(s.output_mode, "content");
        let Some(pb::grep_union_result::Result::Content(c)) = &s.workspace_results["/src"].result
        else {
            panic!("{s:?}")
        };
        assert_eq!(c.total_matched_lines, 3);
        assert_eq!(c.matches.len(), 2);
        assert_eq!(c.matches[0].file, "/src/a.rs");
        let lines: Vec<_> = c.matches[0]
            .matches
            .iter()
            .map(|m| (m.line_number, m.content.as_str()))
            .collect();
        assert_eq!(lines, [(3, "fn a() {}"), (9, "fn b() {}")]);
        assert_eq!(
            c.matches[1].file, "/src",
            "an unsplittable line is filed under the path"
        );
        assert_eq!(c.matches[1].matches[0].content, "Found 3 matches");
        assert!(matches!(
            native.into_result(err("bad regex")),
            R::GrepResult(pb::GrepResult {
                result: Some(pb::grep_result::Result::Error(pb::GrepError { error }))
            }) if error == "bad regex"
        ));
    }

    #[test]
    fn grep_file_results_for_glob_and_files_with_matches() {
        let glob = NativeCall::Grep {
            pattern: String::new(),
            path: None,
            output_mode: "files_with_matches".into(),
            files_only: true,
        };
        let s = grep_success(glob.into_result(ok("/a.rs\n/b.rs\n")));
        assert_eq!(s.path, "");
        let Some(pb::grep_union_result::Result::Files(f)) = &s.workspace_results["."].result else {
            panic!("{s:?}")
        };
        assert_eq!(
            (f.files.as_slice(), f.total_files),
            (&["/a.rs".to_string(), "/b.rs".to_string()][..], 2)
        );
        let files = NativeCall::Grep {
            pattern: "x".into(),
            path: Some("/p".into()),
            output_mode: "files_with_matches".into(),
            files_only: false,
        };
        let s = grep_success(files.into_result(ok("/p/a.rs\n")));
        assert!(matches!(
            &s.workspace_results["/p"].result,
            Some(pb::grep_union_result::Result::Files(f)) if f.files == ["/p/a.rs"]
        ));
    }

    #[test]
    fn a_windows_drive_letter_stays_in_the_file_name() {
        assert_eq!(
            split_match(r"C:\src\a.rs:12:let x = 1;"),
            Some((r"C:\src\a.rs", 12, "let x = 1;"))
        );
        assert_eq!(split_match("a.rs:x:y"), None);
        assert_eq!(split_match("no colon"), None);
        assert_eq!(split_match("a.rs:7:"), Some(("a.rs", 7, "")));
    }

    #[test]
    fn fetch_results() {
        let native = NativeCall::Fetch {
            url: "https://e.x".into(),
        };
        assert_eq!(
            native.clone().into_result(ok("# Title")),
            R::FetchResult(pb::FetchResult {
                result: Some(pb::fetch_result::Result::Success(pb::FetchSuccess {
                    url: "https://e.x".into(),
                    content: "# Title".into(),
                    status_code: 200,
                    content_type: "text/markdown".into(),
                }))
            })
        );
        assert_eq!(
            native.into_result(err("404")),
            R::FetchResult(pb::FetchResult {
                result: Some(pb::fetch_result::Result::Error(pb::FetchError {
                    url: "https://e.x".into(),
                    error: "404".into(),
                }))
            })
        );
    }

    /// Regression: a redirected read lost the window the model asked for (the exec's
    /// `ReadArgs` has only the path; the window comes from the display `ReadToolArgs`).
    #[test]
    fn regression_redirected_read_keeps_offset_and_limit() {
        let exec = X::ReadArgs(pb::ReadArgs {
            path: "/a.rs".into(),
            tool_call_id: "t".into(),
        });
        let window = ReadWindow {
            offset: Some(40),
            limit: Some(20),
        };
        let r = redirect(&exec, &opencode_tools(), Some(window)).unwrap();
        assert_eq!(
            r.arguments,
            json!({"filePath": "/a.rs", "offset": 40, "limit": 20})
        );
        // A tool without those parameters still gets the path alone.
        let plain = [tool(
            "read",
            json!({"type":"object","properties":{"path":{"type":"string"}}}),
        )];
        let r = redirect(&exec, &plain, Some(window)).unwrap();
        assert_eq!(r.arguments, json!({"path": "/a.rs"}));
    }

    #[test]
    fn a_streaming_shell_is_answered_with_shell_stream_events() {
        use pb::shell_stream::Event;
        let native = NativeCall::Shell {
            command: "ls".into(),
            working_directory: "/w".into(),
            stream: true,
        };
        let events: Vec<Event> = native
            .clone()
            .into_results(ok("a\n"))
            .into_iter()
            .map(|r| match r {
                R::ShellStream(s) => s.event.expect("an event"),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            events,
            [
                Event::Start(pb::ShellStreamStart {}),
                Event::Stdout(pb::ShellStreamData { data: "a\n".into() }),
                Event::Exit(pb::ShellStreamExit {
                    code: 0,
                    cwd: "/w".into()
                }),
            ]
        );
        let failed = native.into_results(err("boom"));
        assert!(matches!(
            &failed[..],
            [
                R::ShellStream(_),
                R::ShellStream(pb::ShellStream {
                    event: Some(Event::Stderr(_))
                }),
                R::ShellStream(pb::ShellStream {
                    event: Some(Event::Exit(pb::ShellStreamExit { code: 1, .. }))
                }),
            ]
        ));
        // A plain shell keeps its single ShellResult.
        let plain = NativeCall::Shell {
            command: "ls".into(),
            working_directory: "/w".into(),
            stream: false,
        };
        assert!(matches!(
            &plain.into_results(ok("x"))[..],
            [R::ShellResult(_)]
        ));
    }

    #[test]
    fn a_streaming_shell_is_rejected_with_a_shell_stream_event() {
        let r = rejection(X::ShellStreamArgs(shell("ls", "/w", 0)), &["bash".into()]);
        assert!(matches!(
            r,
            Some(R::ShellStream(pb::ShellStream {
                event: Some(pb::shell_stream::Event::Rejected(_))
            }))
        ));
    }

    #[test]
    fn every_native_exec_gets_a_typed_rejection() {
        let names = vec!["bash".to_string()];
        let cases = vec![
            X::ShellArgs(shell("ls", "", 0)),
            X::ShellStreamArgs(Default::default()),
            X::WriteArgs(Default::default()),
            X::DeleteArgs(Default::default()),
            X::ReadArgs(Default::default()),
            X::LsArgs(Default::default()),
            X::GrepArgs(Default::default()),
            X::FetchArgs(Default::default()),
            X::BackgroundShellSpawnArgs(Default::default()),
            X::WriteShellStdinArgs(Default::default()),
            X::DiagnosticsArgs(Default::default()),
        ];
        for c in cases {
            assert!(rejection(c, &names).is_some());
        }
        let Some(R::ShellResult(r)) = rejection(X::ShellArgs(shell("ls", "", 0)), &names) else {
            panic!()
        };
        let Some(pb::shell_result::Result::Rejected(rej)) = r.result else {
            panic!()
        };
        assert_eq!(rej.command, "ls");
        assert!(rej.reason.contains("bash"));
        assert!(rejection(X::ListMcpResourcesExecArgs(Default::default()), &names).is_none());
    }
}
