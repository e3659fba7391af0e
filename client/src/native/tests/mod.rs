//! The native-tool tests: OpenCode's real tool declarations and small builders, shared by
//! the redirect and the result tests.

use serde_json::{Value, json};

use super::results::split_match;
use super::*;
use crate::pb::agent_v1 as pb;
use crate::tools::{ToolDef, ToolResult};

use pb::exec_client_message::Result as R;
use pb::exec_server_message::Message as X;

/// OpenCode's real tool declarations (`tools[]` of a captured request).
fn opencode_tools() -> Vec<ToolDef> {
    let raw: Value =
        serde_json::from_str(include_str!("../../testdata/opencode-tools.json")).unwrap();
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

mod redirect;
mod results;
