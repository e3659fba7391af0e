//! The tool types a chat run and its native-tool answers share: what the caller declares
//! ([`ToolDef`]), what the model calls ([`ToolCall`]) and what the caller answers
//! ([`ToolResult`]). A leaf, so `chat` and `native` both depend on it and not on each
//! other (`chat` calls `native`; `native` knows nothing of the run).

/// A tool the caller offers the model (an OpenAI function, in the proxy).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    /// The name the model calls it by.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON schema of the arguments; `None` means "an object with no declared fields".
    pub parameters: Option<serde_json::Value>,
}

/// A call of a caller-declared tool (an MCP call, or a native Cursor tool redirected to
/// its declared equivalent).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The id to answer with (Cursor's tool call id).
    pub call_id: String,
    /// The tool's name as the caller declared it.
    pub name: String,
    /// The arguments, a JSON object.
    pub arguments: serde_json::Value,
}

/// The caller's answer to a [`ToolCall`].
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The result text the model sees.
    pub content: String,
    /// The tool failed (`content` says why).
    pub is_error: bool,
}
