//! Strategy 3: a native exec becomes a call of the caller's equivalent declared tool.

use serde_json::{Map, Value, json};

use crate::pb::agent_v1 as pb;
use crate::tools::ToolDef;

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
    /// Where the read starts, when the model said.
    pub offset: Option<i32>,
    /// How many lines to read, when the model said.
    pub limit: Option<i32>,
}

/// A redirected exec: what the typed result needs once the caller answers.
#[derive(Debug, Clone, PartialEq)]
pub enum NativeCall {
    /// `read_args`.
    Read {
        /// The file.
        path: String,
    },
    /// `write_args`.
    Write {
        /// The file.
        path: String,
        /// What to write.
        text: String,
        /// `WriteArgs.return_file_content_after_write`.
        return_content: bool,
    },
    /// A write sent as an `apply_patch` call (the caller declared no `write`). Answered
    /// like [`NativeCall::Write`], except that success is read from the answer's text.
    WriteByPatch {
        /// The file.
        path: String,
        /// What to write.
        text: String,
        /// `WriteArgs.return_file_content_after_write`.
        return_content: bool,
    },
    /// `shell_args` (answered with one `ShellResult`) or, with `stream`,
    /// `shell_stream_args` (answered with `ShellStream` events, reference §9.7).
    Shell {
        /// The command line.
        command: String,
        /// Where to run it.
        working_directory: String,
        /// Answer with `ShellStream` events (`shell_stream_args`).
        stream: bool,
    },
    /// `ls_args`.
    Ls {
        /// The directory.
        path: String,
    },
    /// `grep_args`; a glob-only search (empty pattern) lists files.
    Grep {
        /// The regular expression; empty for a glob-only search.
        pattern: String,
        /// Where to search; the workspace when `None`.
        path: Option<String>,
        /// Cursor's `output_mode` (`content`, `files_with_matches`, …).
        output_mode: String,
        /// Only file names are wanted.
        files_only: bool,
    },
    /// `fetch_args`.
    Fetch {
        /// The URL.
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
