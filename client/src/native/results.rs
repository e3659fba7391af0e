//! The caller's answer to a redirected exec, turned back into the typed result (or, for a
//! streaming shell, the events) Cursor expects.

use super::redirect::NativeCall;
use crate::pb::agent_v1 as pb;
use crate::tools::ToolResult;

use pb::exec_client_message::Result as R;

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
pub(super) fn split_match(line: &str) -> Option<(&str, i32, &str)> {
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
