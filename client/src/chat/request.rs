//! What a run starts with: the request context (our tools, the system prompt), the
//! first client message and its frame, and the `AgentRunRequest`.

use std::time::Duration;

use bytes::Bytes;

use super::exec::{MCP_PROVIDER, MCP_SERVER_NAME, mcp_definitions};
use crate::blobs::BlobStore;
use crate::framing;
use crate::pb::agent_v1 as pb;
use crate::tools::ToolDef;

/// An image the user message carries (`SelectedImage`, reference §9.6): the bytes go
/// inline, with the MIME type and the size the model's input needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// The encoded image bytes.
    pub data: Bytes,
    /// Their MIME type (`image/png`, …).
    pub mime_type: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Cursor's wire model id (`default` for automatic routing).
    pub model_id: String,
    /// The new user message. Empty with `conversation_state` set → a `resume_action`.
    pub user_text: String,
    /// Sent as `RequestContext.cloud_rule`, the system-prompt channel the agent honours.
    pub system_prompt: Option<String>,
    /// The caller's tools, offered to the model as MCP tools.
    pub tools: Vec<ToolDef>,
    /// Stable per conversation.
    pub conversation_id: String,
    /// The last checkpoint of this conversation, verbatim; `None` for a new one.
    pub conversation_state: Option<Bytes>,
    /// The conversation's blob store (must hold every blob the state refers to).
    pub blobs: BlobStore,
    /// The workspace folder reported to Cursor (display only: we never touch files).
    pub workspace: String,
    /// Hand Cursor's native tools (read, write, shell, ls, grep, fetch) to an equivalent
    /// tool in `tools` as a [`ChatEvent::ToolCall`] (default). Off, or with no equivalent,
    /// they are rejected with their typed result.
    pub redirect_native_tools: bool,
    /// Images of the new user message (sent as its `selected_context`).
    pub images: Vec<Image>,
}

impl ChatRequest {
    /// A new single-message conversation.
    pub fn new(model_id: impl Into<String>, user_text: impl Into<String>) -> Self {
        Self {
            model_id: model_id.into(),
            user_text: user_text.into(),
            system_prompt: None,
            tools: Vec::new(),
            conversation_id: uuid::Uuid::new_v4().to_string(),
            conversation_state: None,
            blobs: BlobStore::new(),
            workspace: "/".into(),
            redirect_native_tools: true,
            images: Vec::new(),
        }
    }
}

/// Timing of a run. Defaults follow the reference (§3.3, §3.8).
#[derive(Debug, Clone)]
pub struct ChatOptions {
    /// Client heartbeat period (`AgentClientMessage.client_heartbeat`).
    pub heartbeat_interval: Duration,
    /// Until the response headers and the first frame arrive.
    pub first_activity_timeout: Duration,
    /// Longest gap between frames of any kind, unless parked on a tool.
    pub idle_timeout: Duration,
    /// Longest stretch of nothing but server heartbeats (the model thinking), unless
    /// parked on a tool.
    pub heartbeat_only_timeout: Duration,
    /// After `turn_ended`, how long to wait for the end-of-stream frame.
    pub turn_end_grace: Duration,
}

impl Default for ChatOptions {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(5),
            first_activity_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            heartbeat_only_timeout: Duration::from_secs(600),
            turn_end_grace: Duration::from_secs(2),
        }
    }
}

/// The request context we hand Cursor, both inside the action and as the answer to
/// `request_context_args`: our tools, the system prompt as `cloud_rule`, a minimal env.
pub fn build_request_context(req: &ChatRequest) -> pb::RequestContext {
    let tools = mcp_definitions(&req.tools);
    let instructions = if tools.is_empty() {
        vec![]
    } else {
        let list: Vec<String> = req
            .tools
            .iter()
            .map(|t| {
                let first_line = t.description.lines().next().unwrap_or("");
                format!("- {}: {}", t.name, first_line)
            })
            .collect();
        vec![pb::McpInstructions {
            server_name: MCP_SERVER_NAME.into(),
            instructions: format!(
                "These tools run on the user's machine. Use them for every file, shell, search or web action:\n{}",
                list.join("\n")
            ),
        }]
    };
    pb::RequestContext {
        rules: vec![],
        env: Some(pb::RequestContextEnv {
            os_version: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            workspace_paths: vec![req.workspace.clone()],
            shell: "bash".into(),
            sandbox_enabled: false,
            time_zone: String::new(),
            project_folder: req.workspace.clone(),
        }),
        tools,
        mcp_instructions: instructions,
        cloud_rule: req.system_prompt.clone().filter(|s| !s.is_empty()),
        web_search_enabled: Some(false),
    }
}

/// The first message of a run: `AgentClientMessage{run_request}`.
pub fn first_message(req: &ChatRequest) -> pb::AgentClientMessage {
    pb::AgentClientMessage {
        message: Some(pb::agent_client_message::Message::RunRequest(
            build_run_request(req),
        )),
    }
}

/// The first frame of a run on HTTP/2: [`first_message`], enveloped.
pub fn first_frame(req: &ChatRequest) -> Bytes {
    framing::encode_message(&first_message(req))
}

/// The first message of a run (reference §3.4).
/// The images as `SelectedContext.selected_images`, bytes inline; `None` without images.
fn selected_context(images: &[Image]) -> Option<pb::SelectedContext> {
    let to_i32 = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
    (!images.is_empty()).then(|| pb::SelectedContext {
        selected_images: images
            .iter()
            .map(|i| pb::SelectedImage {
                data_or_blob_id: Some(pb::selected_image::DataOrBlobId::Data(i.data.clone())),
                uuid: uuid::Uuid::new_v4().to_string(),
                path: String::new(),
                dimension: Some(pb::ImageDimension {
                    width: to_i32(i.width),
                    height: to_i32(i.height),
                }),
                mime_type: i.mime_type.clone(),
            })
            .collect(),
    })
}

/// The `AgentRunRequest` that starts the run: the model, the conversation state and the
/// user message (or a resume) as its action.
pub fn build_run_request(req: &ChatRequest) -> pb::AgentRunRequest {
    let request_context = build_request_context(req);
    let resume = req.user_text.is_empty() && req.conversation_state.is_some();
    let action = if resume {
        pb::conversation_action::Action::ResumeAction(pb::ResumeAction {
            request_context: Some(request_context),
        })
    } else {
        pb::conversation_action::Action::UserMessageAction(pb::UserMessageAction {
            user_message: Some(pb::UserMessage {
                text: req.user_text.clone(),
                message_id: uuid::Uuid::new_v4().to_string(),
                mode: pb::AgentMode::Agent as i32,
                selected_context: selected_context(&req.images),
                ..Default::default()
            }),
            request_context: Some(request_context),
            send_to_interaction_listener: None,
        })
    };
    let tools = mcp_definitions(&req.tools);
    let fs_options = (!tools.is_empty()).then(|| pb::McpFileSystemOptions {
        enabled: true,
        workspace_project_dir: req.workspace.clone(),
        mcp_descriptors: vec![pb::McpDescriptor {
            server_name: MCP_SERVER_NAME.into(),
            server_identifier: MCP_PROVIDER.into(),
            folder_path: Some(req.workspace.clone()),
            server_use_instructions: None,
        }],
    });
    pb::AgentRunRequest {
        conversation_state: Some(req.conversation_state.clone().unwrap_or_default()),
        action: Some(pb::ConversationAction {
            action: Some(action),
        }),
        model_details: Some(pb::ModelDetails {
            model_id: req.model_id.clone(),
            ..Default::default()
        }),
        mcp_tools: Some(pb::McpTools { mcp_tools: tools }),
        conversation_id: Some(req.conversation_id.clone()),
        mcp_file_system_options: fs_options,
        custom_system_prompt: None,
        requested_model: Some(pb::RequestedModel {
            model_id: req.model_id.clone(),
            max_mode: false,
            parameters: vec![],
        }),
    }
}
