//! The typed results and rejections Cursor gets back.

use super::*;

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
