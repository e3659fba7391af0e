//! The answers to Cursor's exec messages: MCP results, rejections, the MCP state, and the
//! ids and definitions of our tools.

use crate::pb::agent_v1 as pb;
use crate::tools::{ToolDef, ToolResult};
use crate::value;

/// The provider id our MCP tools carry; Cursor echoes it in `McpArgs`.
pub const MCP_PROVIDER: &str = "cursor-bridge";
/// The MCP server name shown to the model.
pub const MCP_SERVER_NAME: &str = "Cursor Bridge";

pub(super) fn mcp_result(result: ToolResult) -> pb::exec_client_message::Result {
    pb::exec_client_message::Result::McpResult(pb::McpResult {
        result: Some(pb::mcp_result::Result::Success(pb::McpSuccess {
            content: vec![pb::McpToolResultContentItem {
                content: Some(pb::mcp_tool_result_content_item::Content::Text(
                    pb::McpTextContent {
                        text: result.content,
                    },
                )),
            }],
            is_error: result.is_error,
        })),
    })
}

/// The typed "no" to an ask-question / create-plan query (reference §9.7).
pub(super) fn rejected_result() -> pb::QueryResultResponse {
    pb::QueryResultResponse {
        result: Some(pb::QueryResult {
            result: Some(pb::query_result::Result::Rejected(pb::QueryRejected {
                reason: "Not available through Cursor Bridge; answer from what you know.".into(),
            })),
        }),
    }
}

pub(super) fn generic_exec_error(error: &str) -> pb::GenericExecResult {
    pb::GenericExecResult {
        result: Some(pb::generic_exec_result::Result::Error(
            pb::GenericExecError {
                error: error.into(),
            },
        )),
    }
}

/// `mcp_state_exec_args`' answer: our MCP server and the tools of `ctx` (none: no server).
pub(super) fn mcp_state(ctx: &pb::RequestContext) -> pb::McpStateExecResult {
    let servers = if ctx.tools.is_empty() {
        vec![]
    } else {
        vec![pb::McpServerState {
            server_name: MCP_SERVER_NAME.into(),
            server_identifier: MCP_PROVIDER.into(),
            tools: ctx.tools.clone(),
        }]
    };
    pb::McpStateExecResult {
        result: Some(pb::mcp_state_exec_result::Result::Success(
            pb::McpStateSuccess { servers },
        )),
    }
}

pub(super) fn action(a: pb::conversation_action::Action) -> pb::agent_client_message::Message {
    pb::agent_client_message::Message::ConversationAction(pb::ConversationAction {
        action: Some(a),
    })
}

/// The id a tool call is answered with: Cursor's tool call id, else the exec id, else
/// the numeric exec id.
pub(super) fn tool_call_id(tool_call_id: &str, exec_id: &str, id: u32) -> String {
    if !tool_call_id.is_empty() {
        tool_call_id.to_string()
    } else if !exec_id.is_empty() {
        exec_id.to_string()
    } else {
        format!("exec_{id}")
    }
}

pub(super) fn mcp_definitions(tools: &[ToolDef]) -> Vec<pb::McpToolDefinition> {
    tools
        .iter()
        .map(|t| pb::McpToolDefinition {
            name: t.name.clone(),
            description: t.description.clone(),
            input_schema: Some(value::to_proto(
                t.parameters
                    .as_ref()
                    .unwrap_or(&serde_json::json!({"type": "object", "properties": {}})),
            )),
            provider_identifier: MCP_PROVIDER.into(),
            tool_name: t.name.clone(),
        })
        .collect()
}
