//! What the fake saw: one [`RecordedRun`] per agent run (`Run` or `RunSSE`), one
//! [`RecordedCall`] per other request (`BidiAppend`s included). Tests read snapshots of these through [`crate::FakeCursor`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use cursor_bridge_core::pb::agent_v1 as pb;
use http::HeaderMap;
use prost::Message as _;

/// Lower-case header names to values (repeated headers joined with `, `).
pub(crate) fn header_map(headers: &HeaderMap) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        out.entry(name.as_str().to_ascii_lowercase())
            .and_modify(|old| {
                old.push_str(", ");
                old.push_str(&v);
            })
            .or_insert(v);
    }
    out
}

/// One request other than `Run` (auth endpoints, unary RPCs, the login page, 404s).
#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub method: String,
    pub path: String,
    /// The query string, if any (the poll's carries the verifier).
    pub query: Option<String>,
    pub headers: HashMap<String, String>,
    pub body: Bytes,
    /// The status the fake answered.
    pub status: u16,
    pub version: http::Version,
}

impl RecordedCall {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The token of an `authorization: Bearer …` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
    }
}

/// Why a run counts as cancelled by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelledBy {
    /// The client sent `conversation_action.cancel_action`.
    Action,
    /// The client closed its request stream before the fake finished its response.
    ClientClosed,
    /// The client reset its request stream (or the connection died).
    ClientReset,
}

/// How the fake ended a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// End-of-stream `{}`.
    Ok,
    /// End-of-stream error (scripted, or the fake's own: `deadline_exceeded` after a reply
    /// timeout, `invalid_argument` for a bad first frame, `unauthenticated`, …).
    Error { code: String, message: String },
    /// A bare HTTP error before any stream (e.g. 401, 415).
    Http(u16),
    /// Body closed without an end frame.
    Dropped,
    /// Body aborted with a transport error.
    Reset,
    /// Malformed bytes written, then closed.
    Malformed,
    /// The client went away before the fake finished.
    ClientGone,
}

/// The outcome of one exec request the fake made.
#[derive(Debug, Clone)]
pub struct ExecOutcome {
    pub id: u32,
    pub exec_id: String,
    /// `request_context`, `mcp`, `shell`, `read`, …, or `unknown`.
    pub kind: String,
    /// Every `ExecClientMessage.result` received for this id, in order.
    pub results: Vec<pb::exec_client_message::Result>,
    /// The `exec_id` the client echoed in its result message(s) (empty if omitted).
    pub echoed_exec_id: Option<String>,
    /// `throw.error`, if the client threw instead.
    pub thrown: Option<String>,
    /// Whether `stream_close{id}` arrived.
    pub stream_closed: bool,
    /// The raw field number of each result message, in order: the service expects the
    /// args' field number mirrored (reference §9.7), and a number our schema has no name
    /// for still shows here (the result itself then decodes as `None`).
    pub result_fields: Vec<u32>,
}

/// One `SelectedImage` a run's user message carried.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedImage {
    pub uuid: String,
    pub mime_type: String,
    /// `dimension` (0 × 0 when absent).
    pub width: i32,
    pub height: i32,
    /// The inline `data` (empty when the image came as a blob id).
    pub data: Bytes,
    pub blob_id: Option<Vec<u8>>,
}

/// How a run carried its conversation's history, as the fake saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HistoryKind {
    /// No `conversation_state` (or an empty one): a new conversation, or a history
    /// flattened into the user text.
    #[default]
    None,
    /// A state the fake did not issue, naming message blobs (`root_prompt_messages_json`):
    /// rebuilt by the client.
    Structured,
    /// Byte for byte a checkpoint this fake sent earlier.
    Checkpoint,
}

/// Which agent transport a run came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunTransport {
    /// `AgentService/Run`: one bidirectional stream (HTTP/2).
    Http2,
    /// `AgentService/RunSSE` downstream + `BidiService/BidiAppend` upstream (HTTP/1.1).
    Http1,
}

/// Everything the fake saw and did on one agent run.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    /// 0-based position among all runs.
    pub index: usize,
    /// The headers of the `Run` / `RunSSE` request.
    pub headers: HashMap<String, String>,
    /// The HTTP version of the `Run` / `RunSSE` request.
    pub version: http::Version,
    pub transport: RunTransport,
    /// `RunSSE` only: the `BidiRequestId` of the run.
    pub request_id: Option<String>,
    /// `RunSSE` only: appends accepted for this run (each carried one of `messages`).
    pub appends: usize,
    /// `RunSSE` only: the first append the fake refused for this run (a gap or repeat in
    /// `append_seqno`, bad hex, an `x-request-id` that is not the run's, an injected
    /// failure). The run counts as failed.
    pub append_error: Option<String>,
    /// How the history came ([`HistoryKind`]).
    pub history: HistoryKind,
    /// The history messages fetched through KV (`root_prompt_messages_json`), decoded, in
    /// order (up to the first blob the client could not serve).
    pub history_messages: Vec<serde_json::Value>,
    /// Bytes of the history blobs the client served for them.
    pub history_bytes: usize,
    /// Whether the bearer token was accepted.
    pub authorized: bool,
    /// The first client message's `run_request`.
    pub run_request: Option<pb::AgentRunRequest>,
    /// Every decoded client message in order, the `run_request` and `client_heartbeat`s
    /// included.
    pub messages: Vec<pb::AgentClientMessage>,
    /// When each of `messages` arrived, measured from the start of the run.
    pub message_times: Vec<Duration>,
    /// `(tool_call_id, text)` per answered MCP call; text is the success items joined by
    /// `\n`, or `[error] …` / `[rejected] …` / `[tool_not_found] …` / `[throw] …`.
    pub mcp_results: Vec<(String, String)>,
    /// `(blob_id, data)` per `KvGet` step; `None` when the client omitted `blob_data`.
    pub kv_get_results: Vec<(Vec<u8>, Option<Bytes>)>,
    /// Contexts returned for `request_context_args`.
    pub request_contexts: Vec<pb::RequestContext>,
    pub interaction_responses: Vec<pb::InteractionResponse>,
    /// Every exec the fake requested, with what came back.
    pub execs: Vec<ExecOutcome>,
    /// `(exec id, raw result field number)` of every exec result message received, from
    /// the raw bytes (see [`ExecOutcome::result_fields`]).
    pub exec_result_fields: Vec<(u32, u32)>,
    /// The client ended its request body cleanly (HTTP/2 half-close; never on `RunSSE`).
    pub client_closed: bool,
    /// The client's request body failed (stream reset, connection lost).
    pub client_reset: bool,
    pub cancelled: Option<CancelledBy>,
    /// A client frame that could not be decoded.
    pub decode_error: Option<String>,
    /// Steps of the scripted turn the fake has played so far (each step's frames handed
    /// to the response body, whose HTTP/2 flow control paces them): how far a run got.
    pub steps_played: usize,
    /// How the fake ended the run (`None` while it is still going).
    pub end: Option<RunEnd>,
    pub started_at: Instant,
    /// When the fake finished its side, from the start of the run.
    pub ended_after: Option<Duration>,
}

impl RecordedRun {
    pub(crate) fn new(
        index: usize,
        headers: HashMap<String, String>,
        version: http::Version,
        transport: RunTransport,
    ) -> Self {
        Self {
            index,
            headers,
            version,
            transport,
            request_id: None,
            appends: 0,
            append_error: None,
            history: HistoryKind::None,
            history_messages: Vec::new(),
            history_bytes: 0,
            authorized: false,
            run_request: None,
            messages: Vec::new(),
            message_times: Vec::new(),
            mcp_results: Vec::new(),
            kv_get_results: Vec::new(),
            request_contexts: Vec::new(),
            interaction_responses: Vec::new(),
            execs: Vec::new(),
            exec_result_fields: Vec::new(),
            client_closed: false,
            client_reset: false,
            cancelled: None,
            decode_error: None,
            steps_played: 0,
            end: None,
            started_at: Instant::now(),
            ended_after: None,
        }
    }

    /// The client went away before the run ended: that is how it was cancelled (unless
    /// something cancelled it first).
    pub(crate) fn cancel_unless_ended(&mut self, by: CancelledBy) {
        if self.end.is_none() && self.cancelled.is_none() {
            self.cancelled = Some(by);
        }
    }

    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// The token of the `authorization: Bearer …` header.
    pub fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
    }

    /// The `conversation_state` the client sent, decoded (`None` if absent or undecodable).
    pub fn conversation_state(&self) -> Option<pb::ConversationStateStructure> {
        let bytes = self.run_request.as_ref()?.conversation_state.as_ref()?;
        pb::ConversationStateStructure::decode(bytes.as_ref()).ok()
    }

    /// The system prompts (`cloud_rule`) of the request contexts the client served.
    pub fn cloud_rules(&self) -> Vec<&str> {
        self.request_contexts
            .iter()
            .filter_map(|c| c.cloud_rule.as_deref())
            .collect()
    }

    /// The text of the `user_message_action`, if that was the action.
    pub fn user_text(&self) -> Option<&str> {
        use pb::conversation_action::Action;
        match self
            .run_request
            .as_ref()?
            .action
            .as_ref()?
            .action
            .as_ref()?
        {
            Action::UserMessageAction(a) => a.user_message.as_ref().map(|m| m.text.as_str()),
            _ => None,
        }
    }

    /// The images of the `user_message_action`'s `selected_context` (reference §9.6).
    pub fn images(&self) -> Vec<ReceivedImage> {
        use pb::conversation_action::Action;
        let Some(Action::UserMessageAction(a)) = self
            .run_request
            .as_ref()
            .and_then(|r| r.action.as_ref())
            .and_then(|a| a.action.as_ref())
        else {
            return Vec::new();
        };
        let Some(ctx) = a
            .user_message
            .as_ref()
            .and_then(|m| m.selected_context.as_ref())
        else {
            return Vec::new();
        };
        ctx.selected_images
            .iter()
            .map(|i| {
                use pb::selected_image::DataOrBlobId;
                let (data, blob_id) = match &i.data_or_blob_id {
                    Some(DataOrBlobId::Data(d)) => (d.clone(), None),
                    Some(DataOrBlobId::BlobId(b)) => (Bytes::new(), Some(b.to_vec())),
                    None => (Bytes::new(), None),
                };
                let (width, height) = i.dimension.as_ref().map_or((0, 0), |d| (d.width, d.height));
                ReceivedImage {
                    uuid: i.uuid.clone(),
                    mime_type: i.mime_type.clone(),
                    width,
                    height,
                    data,
                    blob_id,
                }
            })
            .collect()
    }

    /// True when the action was `resume_action` (no new user text).
    pub fn is_resume(&self) -> bool {
        matches!(
            self.run_request
                .as_ref()
                .and_then(|r| r.action.as_ref()?.action.as_ref()),
            Some(pb::conversation_action::Action::ResumeAction(_))
        )
    }

    /// `model_details.model_id`.
    pub fn model_id(&self) -> Option<&str> {
        self.run_request
            .as_ref()?
            .model_details
            .as_ref()
            .map(|m| m.model_id.as_str())
    }

    /// How many `client_heartbeat`s arrived.
    pub fn client_heartbeats(&self) -> usize {
        self.messages
            .iter()
            .filter(|m| {
                matches!(
                    m.message,
                    Some(pb::agent_client_message::Message::ClientHeartbeat(_))
                )
            })
            .count()
    }
}

/// The result field number of an encoded `AgentClientMessage` holding an
/// `exec_client_message` with a result, read raw: it mirrors the exec's args even where no
/// schema names it. `None` for any other message.
pub(crate) fn exec_result_field(raw: &[u8]) -> Option<u32> {
    let exec = raw_fields(raw)?
        .into_iter()
        .rev()
        .find_map(|(n, v)| (n == 2).then_some(v).flatten())?;
    // Not id (1) or exec_id (15): the result, whatever its number.
    raw_fields(exec)?
        .into_iter()
        .find_map(|(n, v)| (v.is_some() && n != 15).then_some(n))
}

/// One raw field: its number, and its bytes if it is length-delimited.
type RawField<'a> = (u32, Option<&'a [u8]>);

/// Top-level fields: `(number, Some(bytes))` for length-delimited ones, `(number, None)`
/// for the rest; `None` if `buf` is not protobuf.
fn raw_fields(buf: &[u8]) -> Option<Vec<RawField<'_>>> {
    use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
    let mut rest = buf;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (n, wt) = decode_key(&mut rest).ok()?;
        if wt == WireType::LengthDelimited {
            let len = usize::try_from(decode_varint(&mut rest).ok()?).ok()?;
            if len > rest.len() {
                return None;
            }
            let (v, tail) = rest.split_at(len);
            out.push((n, Some(v)));
            rest = tail;
        } else {
            skip_field(wt, n, &mut rest, DecodeContext::default()).ok()?;
            out.push((n, None));
        }
    }
    Some(out)
}
