//! Which declared tool a native exec becomes, with which arguments.

use super::*;

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
