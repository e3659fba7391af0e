//! Property tests of the code that reads bytes from outside: the Connect frame decoder
//! (Cursor → us), the OpenAI request parser (client → us), and the translation between
//! the two (`openai::translate`, `openai::chunks`).
//!
//! proptest generates the inputs and shrinks a failure to a minimal case. A failing seed is
//! saved next to this file in `properties.proptest-regressions` and replayed first on every
//! later run: commit that file with the fix. Case counts are explicit and sized so this
//! file runs in a few seconds in a debug build on 2 cores.
//!
//! How a decode of the frames must come out is `cursor_bridge_tests::oracle`, the oracle the
//! fuzz targets (`fuzz/`) judge by too.

use bytes::Bytes;
use cursor_bridge_core::cursor::CursorError;
use cursor_bridge_core::cursor::chat::ToolCall;
use cursor_bridge_core::cursor::error::parse_end_stream;
use cursor_bridge_core::cursor::framing::{
    self, Decoder, FLAG_COMPRESSED, FLAG_END_STREAM, Frame, HEADER_LEN,
};
use cursor_bridge_core::dialects::chat::chunks::ChunkWriter;
use cursor_bridge_core::dialects::chat::request::{ChatCompletionRequest, Role};
use cursor_bridge_core::dialects::chat::translate::neutral;
use cursor_bridge_core::engine::usage::Usage;
use cursor_bridge_core::pb::agent_v1 as pb;
use cursor_bridge_tests::oracle::{End, Outcome, decode, protocol_message, same_json};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};

/// The chat dialect's neutral request for `req` (whose images decoded when it parsed).
fn neutral_of(req: &ChatCompletionRequest) -> cursor_bridge_core::engine::request::Request {
    neutral(req).expect("a request that parsed has decodable images")
}

/// `cases` generated inputs per property; failures persisted next to this file (the
/// default looks for a `lib.rs`, which an integration test does not have).
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::with_cases(cases)
    }
}

// ---------------------------------------------------------------------------------------
// Connect frames
// ---------------------------------------------------------------------------------------

/// One frame as a sender would write it.
#[derive(Debug, Clone)]
enum FrameSpec {
    Data(Vec<u8>),
    GzipData(Vec<u8>),
    End(String),
    GzipEnd(String),
}

impl FrameSpec {
    fn wire(&self) -> Bytes {
        match self {
            FrameSpec::Data(p) => framing::encode(p),
            FrameSpec::GzipData(p) => framing::encode_gzip(0, p),
            FrameSpec::End(j) => framing::encode_with_flags(FLAG_END_STREAM, j.as_bytes()),
            FrameSpec::GzipEnd(j) => framing::encode_gzip(FLAG_END_STREAM, j.as_bytes()),
        }
    }

    fn frame(&self) -> Frame {
        match self {
            FrameSpec::Data(p) | FrameSpec::GzipData(p) => Frame::Message(p.clone().into()),
            FrameSpec::End(j) | FrameSpec::GzipEnd(j) => {
                Frame::EndStream(j.clone().into_bytes().into())
            }
        }
    }
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 0..64),
        2 => vec(any::<u8>(), 64..2048),
        // Compressible runs: gzip shrinks them, so compressed and plain sizes differ a lot.
        1 => (any::<u8>(), 0usize..20_000).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn end_stream_json() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{}".to_string()),
        (
            select(&["internal", "resource_exhausted", "unauthenticated", "bogus"][..]),
            ".{0,40}",
        )
            .prop_map(|(code, message)| {
                json!({"error": {"code": code, "message": message}}).to_string()
            }),
    ]
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    prop_oneof![
        4 => payload().prop_map(FrameSpec::Data),
        2 => payload().prop_map(FrameSpec::GzipData),
        1 => end_stream_json().prop_map(FrameSpec::End),
        1 => end_stream_json().prop_map(FrameSpec::GzipEnd),
    ]
}

/// How a byte stream arrives: piece sizes (cycled), each optionally preceded by an empty
/// push, as a reader can hand over a zero-length chunk.
fn chunking() -> impl Strategy<Value = Vec<(bool, usize)>> {
    vec(
        (
            any::<bool>(),
            prop_oneof![1usize..4, 1usize..64, 1usize..5000],
        ),
        1..24,
    )
}

/// The piece sizes [`decode`] pushes for `pieces` (0: an empty push), cycled.
fn sizes(pieces: &[(bool, usize)]) -> impl Iterator<Item = usize> + '_ {
    pieces
        .iter()
        .flat_map(|&(empty_first, size)| empty_first.then_some(0).into_iter().chain([size]))
        .cycle()
}

/// Bytes that look like frames often enough to reach past the header checks: headers with
/// any flags and lengths that may lie, pieces of real frames, and plain noise.
fn frame_garbage() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        vec(any::<u8>(), 0..64),
        (
            prop_oneof![select(&[0u8, 1, 2, 3][..]), any::<u8>()],
            prop_oneof![0u32..128, any::<u32>()],
            vec(any::<u8>(), 0..128),
        )
            .prop_map(|(flags, len, body)| {
                let mut v = vec![flags];
                v.extend_from_slice(&len.to_be_bytes());
                v.extend_from_slice(&body);
                v
            }),
        (frame_spec(), any::<Index>(), any::<Index>()).prop_map(|(f, a, b)| {
            // A slice of a real frame: a truncated header, a cut payload, or a corrupted byte.
            let w = f.wire().to_vec();
            let (a, b) = (a.index(w.len() + 1), b.index(w.len() + 1));
            let mut v = w[a.min(b)..a.max(b)].to_vec();
            if let Some(x) = v.get_mut(b % 7) {
                *x ^= 0x5a;
            }
            v
        }),
    ];
    vec(piece, 0..6).prop_map(|ps| ps.concat())
}

/// What the run driver does with each frame: a message must decode or fail cleanly.
fn decode_payloads(frames: &[Frame]) {
    for f in frames {
        match f {
            Frame::Message(p) => {
                if let Err(e) = framing::decode_message::<pb::AgentServerMessage>(p) {
                    protocol_message(e);
                }
            }
            Frame::EndStream(j) => {
                // Any typed error is fine (it is Cursor's verdict); a panic is not.
                let _ = parse_end_stream(j);
            }
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// A stream split anywhere, down to single bytes with empty pushes in between, decodes
    /// to exactly the frames that were sent, as it does in one piece.
    #[test]
    fn frames_survive_any_chunking(
        specs in vec(frame_spec(), 0..8),
        pieces in chunking(),
    ) {
        let wire: Vec<u8> = specs.iter().flat_map(|s| s.wire()).collect();
        let sent: Vec<Frame> = specs.iter().map(FrameSpec::frame).collect();
        let whole = decode(&wire, [], framing::DEFAULT_MAX_FRAME);
        prop_assert_eq!(&whole, &Outcome { frames: sent, end: End::Clean });
        prop_assert_eq!(&decode(&wire, sizes(&pieces), framing::DEFAULT_MAX_FRAME), &whole);
        prop_assert_eq!(&decode(&wire, std::iter::repeat(1), framing::DEFAULT_MAX_FRAME), &whole);
    }

    /// A stream cut short is reported as a partial frame, never as silence, and the frames
    /// before the cut are all there.
    #[test]
    fn a_truncated_stream_keeps_whole_frames_and_reports_the_rest(
        specs in vec(frame_spec(), 1..6),
        cut in any::<Index>(),
        pieces in chunking(),
    ) {
        let wires: Vec<Bytes> = specs.iter().map(FrameSpec::wire).collect();
        let wire: Vec<u8> = wires.concat();
        let cut = cut.index(wire.len());
        let mut whole_frames = 0;
        let mut offset = 0;
        for w in &wires {
            if offset + w.len() > cut {
                break;
            }
            offset += w.len();
            whole_frames += 1;
        }
        let got = decode(&wire[..cut], sizes(&pieces), framing::DEFAULT_MAX_FRAME);
        let sent: Vec<Frame> = specs.iter().map(FrameSpec::frame).collect();
        prop_assert_eq!(&got.frames[..], &sent[..whole_frames]);
        if cut == offset {
            prop_assert_eq!(got.end, End::Clean);
        } else {
            prop_assert!(matches!(got.end, End::Leftover(_)), "{:?}", got.end);
        }
    }

    /// Garbage never panics: it yields frames, a partial-frame error or a protocol error —
    /// the same ones however it is chunked — and every frame it yields is handled cleanly.
    #[test]
    fn garbage_is_refused_the_same_way_in_any_chunking(
        wire in frame_garbage(),
        pieces in chunking(),
        max_frame in prop_oneof![Just(framing::DEFAULT_MAX_FRAME), 0usize..256],
    ) {
        let whole = decode(&wire, [], max_frame);
        prop_assert_eq!(&decode(&wire, sizes(&pieces), max_frame), &whole);
        decode_payloads(&whole.frames);
    }

    /// A declared length above the limit is refused from the header alone (no waiting for
    /// a payload that would have to be buffered), whatever follows it.
    #[test]
    fn lengths_over_the_limit_are_refused_from_the_header(
        max_frame in 0usize..100_000,
        over in 1u64..=u64::from(u32::MAX),
        flags in select(&[0u8, FLAG_COMPRESSED, FLAG_END_STREAM, FLAG_COMPRESSED | FLAG_END_STREAM][..]),
        tail in vec(any::<u8>(), 0..32),
    ) {
        let len = (max_frame as u64 + over).min(u64::from(u32::MAX)) as u32;
        prop_assume!(len as usize > max_frame);
        let mut wire = vec![flags];
        wire.extend_from_slice(&len.to_be_bytes());
        wire.extend_from_slice(&tail);
        let mut dec = Decoder::new(max_frame);
        dec.push(&wire);
        match dec.next_frame() {
            Err(CursorError::Protocol(m)) => prop_assert!(m.contains("limit"), "{}", m),
            other => prop_assert!(false, "expected a limit error, got {:?}", other),
        }
        prop_assert_eq!(dec.buffered(), HEADER_LEN + tail.len());
    }

    /// A gzip payload that inflates past the limit is refused, however small it is on the
    /// wire (a decompression bomb).
    #[test]
    fn gzip_payloads_inflating_past_the_limit_are_refused(
        max_frame in 200usize..50_000,
        extra in 1usize..50_000,
        end_stream in any::<bool>(),
    ) {
        let flags = if end_stream { FLAG_END_STREAM } else { 0 };
        let wire = framing::encode_gzip(flags, &vec![0u8; max_frame + extra]);
        prop_assume!(wire.len() - HEADER_LEN <= max_frame);
        let mut dec = Decoder::new(max_frame);
        dec.push(&wire);
        match dec.next_frame() {
            Err(CursorError::Protocol(m)) => prop_assert!(m.contains("decompressed"), "{}", m),
            other => prop_assert!(false, "expected a limit error, got {:?}", other),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The OpenAI request parser
// ---------------------------------------------------------------------------------------

/// Field names and values the parser knows, so generated JSON reaches past the first check.
const WORDS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "name",
    "tool_calls",
    "tool_call_id",
    "id",
    "type",
    "function",
    "arguments",
    "tools",
    "parameters",
    "description",
    "strict",
    "tool_choice",
    "parallel_tool_calls",
    "stream",
    "stream_options",
    "include_usage",
    "n",
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "text",
    "image_url",
    "refusal",
    "reasoning_content",
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "auto",
    "none",
    "required",
];

fn json_value() -> impl Strategy<Value = Value> {
    let string = prop_oneof![
        select(WORDS).prop_map(String::from),
        ".{0,12}",
        Just(String::new())
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![any::<i64>(), -3i64..3].prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        string.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 96, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..5).prop_map(Value::Array),
            btree_map(string.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Resolves an error's `param` (`messages[2].tool_calls[0].id`) in the body.
fn resolve<'a>(body: &'a Value, param: &str) -> Option<&'a Value> {
    let mut at = body;
    for seg in param.split('.') {
        let (key, idx) = seg.split_once('[').unwrap_or((seg, ""));
        if !key.is_empty() {
            at = at.get(key)?;
        }
        for i in idx.split('[').filter(|s| !s.is_empty()) {
            at = at.get(i.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(at)
}

/// Parses `body` and checks the outcome: a request that parsed came from a JSON object
/// and has messages; a refusal (always a 400 at the proxy) has a message, is `malformed`
/// exactly when the body is not JSON, and names a path that exists in the body (the field
/// itself, or its object when the field is missing).
fn check_parse(body: &[u8]) -> Option<ChatCompletionRequest> {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    match ChatCompletionRequest::parse(body) {
        Ok(req) => {
            assert!(json.as_ref().is_some_and(Value::is_object));
            assert!(!req.messages.is_empty());
            Some(req)
        }
        Err(e) => {
            assert!(!e.message.trim().is_empty(), "an error without a message");
            assert_eq!(e.malformed, json.is_none(), "{e:?}");
            if let Some(v) = &json
                && !e.param.is_empty()
            {
                let parent = e.param.rsplit_once(['.', '[']).map_or("", |(p, _)| p);
                assert!(
                    resolve(v, &e.param).is_some()
                        || parent.is_empty()
                        || resolve(v, parent).is_some(),
                    "the error names `{}`, which is not in the body: {e:?}",
                    e.param
                );
            }
            None
        }
    }
}

/// A request that parsed can be translated without panicking, whichever way it goes.
fn translate_any(req: &ChatCompletionRequest) {
    let _ = neutral_of(req).trailing_tool_results();
    let run = neutral_of(req).fresh_run();
    assert_eq!(
        run.tools.is_empty(),
        req.tools.as_ref().is_none_or(Vec::is_empty)
            || matches!(
                req.tool_choice,
                Some(
                    cursor_bridge_core::dialects::chat::request::ToolChoice::Mode(
                        cursor_bridge_core::dialects::chat::request::ToolChoiceMode::None
                    )
                )
            )
    );
}

// --- valid requests -------------------------------------------------------------------

/// One block of a generated conversation.
#[derive(Debug, Clone)]
enum Block {
    System(String),
    /// A user message: its text, sent as one string or as text parts.
    User(Vec<String>),
    Assistant(String),
    /// An assistant message calling tools, then one `tool` message per call.
    ToolRound {
        text: Option<String>,
        calls: Vec<(String, Args)>,
        results: Vec<String>,
    },
}

#[derive(Debug, Clone)]
enum Args {
    Json(Value),
    /// Not JSON: passed through as the model wrote it.
    Raw(String),
}

impl Args {
    fn wire(&self) -> String {
        match self {
            Args::Json(v) => v.to_string(),
            Args::Raw(s) => s.clone(),
        }
    }
}

/// Arbitrary text, including quotes, control characters, markup and emoji.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[a-z \"<>/\\\\\n\t\u{0}\u{1b}é😀]{0,24}",
        Just(String::new()),
    ]
}

fn args() -> impl Strategy<Value = Args> {
    prop_oneof![
        btree_map(
            "[a-z_]{1,8}",
            prop_oneof![
                any::<i64>().prop_map(Value::from),
                any::<bool>().prop_map(Value::Bool),
                text().prop_map(Value::String),
            ],
            0..4
        )
        .prop_map(|m| Args::Json(Value::Object(m.into_iter().collect()))),
        ".{0,16}".prop_map(Args::Raw),
    ]
}

fn block() -> impl Strategy<Value = Block> {
    prop_oneof![
        1 => text().prop_map(Block::System),
        3 => vec(text(), 1..3).prop_map(Block::User),
        2 => text().prop_map(Block::Assistant),
        2 => (
            proptest::option::of(text()),
            vec(("[a-zA-Z0-9_.:-]{1,16}", args()), 1..4),
            vec(text(), 4),
        )
            .prop_map(|(text, calls, mut results)| {
                results.truncate(calls.len());
                Block::ToolRound { text, calls, results }
            }),
    ]
}

/// The flat message list a conversation sends, with what each message should read as.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    role: Role,
    text: String,
    /// (id, name, arguments) of an assistant's tool calls.
    calls: Vec<(String, String, String)>,
    tool_call_id: Option<String>,
}

fn conversation() -> impl Strategy<Value = (Value, Vec<Expected>)> {
    (vec(block(), 1..8), any::<bool>(), ".{0,6}").prop_map(|(blocks, null_content, id_salt)| {
        let mut messages = Vec::new();
        let mut expected = Vec::new();
        let mut next_id = 0;
        for b in blocks {
            match b {
                Block::System(t) => {
                    messages.push(json!({"role": "system", "content": t}));
                    expected.push(Expected {
                        role: Role::System,
                        text: t,
                        calls: vec![],
                        tool_call_id: None,
                    });
                }
                Block::User(parts) => {
                    let content = if parts.len() == 1 {
                        json!(parts[0])
                    } else {
                        parts
                            .iter()
                            .map(|p| json!({"type": "text", "text": p}))
                            .collect()
                    };
                    messages.push(json!({"role": "user", "content": content}));
                    expected.push(Expected {
                        role: Role::User,
                        text: parts.join("\n"),
                        calls: vec![],
                        tool_call_id: None,
                    });
                }
                Block::Assistant(t) => {
                    messages.push(json!({"role": "assistant", "content": t}));
                    expected.push(Expected {
                        role: Role::Assistant,
                        text: t,
                        calls: vec![],
                        tool_call_id: None,
                    });
                }
                Block::ToolRound {
                    text,
                    calls,
                    results,
                } => {
                    let calls: Vec<(String, String, String)> = calls
                        .into_iter()
                        .map(|(name, a)| {
                            next_id += 1;
                            (format!("call_{next_id}{id_salt}"), name, a.wire())
                        })
                        .collect();
                    let content = match &text {
                        Some(t) => json!(t),
                        None if null_content => Value::Null,
                        None => json!(""),
                    };
                    messages.push(json!({
                        "role": "assistant",
                        "content": content,
                        "tool_calls": calls.iter().map(|(id, name, args)| json!({
                            "id": id, "type": "function",
                            "function": {"name": name, "arguments": args},
                        })).collect::<Vec<_>>(),
                    }));
                    expected.push(Expected {
                        role: Role::Assistant,
                        text: text.unwrap_or_default(),
                        calls: calls.clone(),
                        tool_call_id: None,
                    });
                    for ((id, _, _), r) in calls.iter().zip(results) {
                        messages.push(json!({"role": "tool", "tool_call_id": id, "content": r}));
                        expected.push(Expected {
                            role: Role::Tool,
                            text: r,
                            calls: vec![],
                            tool_call_id: Some(id.clone()),
                        });
                    }
                }
            }
        }
        (
            json!({"model": "auto", "stream": true, "messages": messages}),
            expected,
        )
    })
}

/// Replaces the value at one random place in `v` with `with`.
fn mutate(v: &mut Value, at: Index, with: Value) {
    fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    pointers(x, format!("{here}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    pointers(x, format!("{here}/{i}"), out);
                }
            }
            _ => {}
        }
        out.push(here);
    }
    let mut all = Vec::new();
    pointers(v, String::new(), &mut all);
    // Keys come from our generator (no `/` or `~`), so the pointers are literal.
    let p = at.get(&all).clone();
    if let Some(slot) = v.pointer_mut(&p) {
        *slot = with;
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// Arbitrary bytes never panic the parser; not-JSON is reported as such.
    #[test]
    fn any_bytes_parse_or_are_refused(
        body in prop_oneof![
            vec(any::<u8>(), 0..256),
            "[\\[\\]{}:,\" a-z0-9.eE+-]{0,64}".prop_map(String::into_bytes),
        ],
    ) {
        if let Some(req) = check_parse(&body) {
            translate_any(&req);
        }
    }

    /// Arbitrary JSON (shaped like a request often enough) parses or is refused naming a
    /// field that is really in the body.
    #[test]
    fn any_json_parses_or_names_the_bad_field(v in json_value()) {
        let body = serde_json::to_vec(&v).unwrap();
        if let Some(req) = check_parse(&body) {
            translate_any(&req);
        }
    }

    /// A valid request with one value swapped for arbitrary JSON anywhere: parses or is
    /// refused naming the field, and translates if it parses.
    #[test]
    fn a_damaged_request_names_the_damaged_field(
        (mut v, _) in conversation(),
        at in any::<Index>(),
        with in json_value(),
    ) {
        mutate(&mut v, at, with);
        let body = serde_json::to_vec(&v).unwrap();
        if let Some(req) = check_parse(&body) {
            translate_any(&req);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Translation
// ---------------------------------------------------------------------------------------

/// The pieces a transcript shows for one non-system message.
fn transcript_piece(e: &Expected, names: &std::collections::HashMap<String, String>) -> String {
    match e.role {
        Role::User => format!("<user>\n{}\n</user>\n", e.text),
        Role::Assistant => {
            let mut s = String::from("<assistant>\n");
            if !e.text.is_empty() {
                s.push_str(&e.text);
                s.push('\n');
            }
            for (id, name, args) in &e.calls {
                let args =
                    serde_json::from_str::<Value>(args).map_or(args.clone(), |v| v.to_string());
                s.push_str(&format!(
                    "<tool_call id=\"{id}\" name=\"{name}\">{args}</tool_call>\n"
                ));
            }
            s.push_str("</assistant>\n");
            s
        }
        Role::Tool => {
            let id = e.tool_call_id.clone().unwrap_or_default();
            format!(
                "<tool_result id=\"{id}\" name=\"{}\">\n{}\n</tool_result>\n",
                names[&id], e.text
            )
        }
        _ => unreachable!("system messages are not turns"),
    }
}

proptest! {
    #![proptest_config(config(256))]

    /// A generated conversation parses, and what it parsed to is what was sent: roles,
    /// texts (parts joined by newlines), tool calls and the ids tool results answer.
    #[test]
    fn valid_requests_round_trip((v, expected) in conversation()) {
        let req = ChatCompletionRequest::parse(&serde_json::to_vec(&v).unwrap())
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        prop_assert!(req.is_stream());
        prop_assert_eq!(req.messages.len(), expected.len());
        for (m, e) in req.messages.iter().zip(&expected) {
            prop_assert_eq!(m.role, e.role);
            prop_assert_eq!(m.content.as_ref().map(|c| c.text()).unwrap_or_default(), e.text.clone());
            let calls: Vec<(String, String, String)> = m
                .tool_calls
                .iter()
                .flatten()
                .map(|c| (c.id.clone(), c.function.name.clone(), c.function.arguments.clone()))
                .collect();
            prop_assert_eq!(&calls, &e.calls);
            prop_assert_eq!(&m.tool_call_id, &e.tool_call_id);
        }
    }

    /// The fresh-run translation keeps everything: the system messages become the system
    /// prompt, every other message's text is in the prompt in order, each tool call and
    /// each tool result under its call id (and the called tool's name), the latest user
    /// message last; the continuation takes exactly the trailing tool results.
    #[test]
    fn translation_keeps_every_message_in_order((v, expected) in conversation()) {
        let req = ChatCompletionRequest::parse(&serde_json::to_vec(&v).unwrap())
            .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
        let run = neutral_of(&req).fresh_run();

        let system: Vec<&str> = expected
            .iter()
            .filter(|e| e.role == Role::System && !e.text.trim().is_empty())
            .map(|e| e.text.as_str())
            .collect();
        prop_assert_eq!(run.system_prompt.clone(), (!system.is_empty()).then(|| system.join("\n\n")));

        let turns: Vec<&Expected> = expected.iter().filter(|e| e.role != Role::System).collect();
        let names: std::collections::HashMap<String, String> = expected
            .iter()
            .flat_map(|e| e.calls.iter().map(|(id, name, _)| (id.clone(), name.clone())))
            .collect();
        match turns.as_slice() {
            [] => prop_assert_eq!(&run.prompt, ""),
            [only] if only.role == Role::User => prop_assert_eq!(&run.prompt, &only.text),
            [earlier @ .., last] => {
                let history: &[&Expected] = if last.role == Role::User { earlier } else { &turns };
                let mut at = 0;
                for e in history {
                    let piece = transcript_piece(e, &names);
                    match run.prompt[at..].find(&piece) {
                        Some(i) => at += i + piece.len(),
                        None => prop_assert!(
                            false,
                            "{:?} missing (or out of order) after byte {} of {:?}",
                            piece, at, run.prompt
                        ),
                    }
                }
                let tail = &run.prompt[at..];
                if last.role == Role::User {
                    prop_assert_eq!(tail.to_string(), format!("\n---\n{}", last.text));
                } else {
                    prop_assert!(tail.starts_with("\n---\n"), "{:?}", tail);
                    prop_assert!(tail.ends_with("already have results."), "{:?}", tail);
                }
            }
        }

        let trailing: Vec<(String, String)> = expected
            .iter()
            .rev()
            .take_while(|e| e.role == Role::Tool)
            .map(|e| (e.tool_call_id.clone().unwrap_or_default(), e.text.clone()))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let got: Vec<(String, String)> = neutral_of(&req).trailing_tool_results()
            .into_iter()
            .map(|(id, r)| {
                assert!(!r.is_error);
                (id, r.content)
            })
            .collect();
        prop_assert_eq!(got, trailing);
    }

    /// Streamed text split anywhere comes out as valid chunk JSON, one line each (a raw
    /// newline would end the SSE event), whose deltas concatenate to the text exactly.
    #[test]
    fn chunks_carry_any_text_exactly(
        text in text(),
        cuts in vec(any::<Index>(), 0..6),
        model in text(),
        reasoning in any::<bool>(),
    ) {
        let w = ChunkWriter { id: "chatcmpl-x".into(), created: 1_700_000_000, model: model.clone() };
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        bounds.extend([0, text.len()]);
        bounds.retain(|&b| text.is_char_boundary(b));
        bounds.sort_unstable();
        bounds.dedup();
        let field = if reasoning { "reasoning_content" } else { "content" };
        let mut joined = String::new();
        for pair in bounds.windows(2) {
            let piece = &text[pair[0]..pair[1]];
            let line = if reasoning { w.reasoning(piece) } else { w.content(piece) };
            prop_assert!(!line.contains(['\n', '\r']), "{:?}", line);
            let c: Value = serde_json::from_str(&line).map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            prop_assert_eq!(&c["object"], "chat.completion.chunk");
            prop_assert_eq!(&c["id"], "chatcmpl-x");
            prop_assert_eq!(&c["model"], &json!(model));
            prop_assert_eq!(c["choices"].as_array().map(Vec::len), Some(1));
            prop_assert_eq!(&c["choices"][0]["index"], 0);
            prop_assert!(c["choices"][0]["finish_reason"].is_null());
            let delta = c["choices"][0]["delta"].as_object().cloned().unwrap_or_default();
            prop_assert_eq!(delta.len(), 1, "{:?}", delta);
            joined.push_str(delta[field].as_str().unwrap_or("<not a string>"));
        }
        prop_assert_eq!(joined, text);
    }

    /// Tool calls and the non-streamed body carry any names, ids, text and arguments.
    #[test]
    fn tool_call_chunks_and_completions_carry_any_content(
        calls in vec((text(), text(), json_value()), 0..4),
        content in text(),
        reasoning in text(),
    ) {
        let w = ChunkWriter::new("m");
        let calls: Vec<ToolCall> = calls
            .into_iter()
            .map(|(call_id, name, arguments)| ToolCall { call_id, name, arguments })
            .collect();
        let line = w.tool_calls(&calls);
        prop_assert!(!line.contains(['\n', '\r']));
        let c: Value = serde_json::from_str(&line).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let body = w.completion(&content, &reasoning, &calls, "stop", &Usage::default());
        let body: Value = serde_json::from_str(&body.to_string()).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let message = &body["choices"][0]["message"];
        for (i, call) in calls.iter().enumerate() {
            for tc in [&c["choices"][0]["delta"]["tool_calls"][i], &message["tool_calls"][i]] {
                prop_assert_eq!(&tc["id"], &json!(call.call_id));
                prop_assert_eq!(&tc["function"]["name"], &json!(call.name));
                let args: Value = serde_json::from_str(tc["function"]["arguments"].as_str().unwrap_or(""))
                    .map_err(|e| TestCaseError::fail(format!("{e}")))?;
                prop_assert!(same_json(&args, &call.arguments), "{} != {}", args, call.arguments);
            }
        }
        if calls.is_empty() || !content.is_empty() {
            prop_assert_eq!(&message["content"], &json!(content));
        } else {
            prop_assert!(message["content"].is_null());
        }
        if reasoning.is_empty() {
            prop_assert!(message.get("reasoning_content").is_none());
        } else {
            prop_assert_eq!(&message["reasoning_content"], &json!(reasoning));
        }
    }
}
