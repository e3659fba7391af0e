//! Unit tests of the run request and the exec answers.

use bytes::Bytes;
use prost::Message as _;

use super::exec::tool_call_id;
use super::*;
use crate::framing;
use crate::pb::agent_v1 as pb;

fn req_with_tools() -> ChatRequest {
    let mut r = ChatRequest::new("default", "hi");
    r.system_prompt = Some("be brief".into());
    r.tools = vec![ToolDef {
        name: "read".into(),
        description: "Read a file\nmore".into(),
        parameters: Some(
            serde_json::json!({"type":"object","properties":{"filePath":{"type":"string"}}}),
        ),
    }];
    r
}

#[test]
fn run_request_carries_tools_prompt_and_model() {
    let rr = build_run_request(&req_with_tools());
    assert_eq!(rr.model_details.unwrap().model_id, "default");
    assert_eq!(rr.requested_model.unwrap().model_id, "default");
    assert_eq!(
        rr.conversation_state.as_deref(),
        Some(&b""[..]),
        "present but empty"
    );
    let Some(pb::conversation_action::Action::UserMessageAction(a)) = rr.action.unwrap().action
    else {
        panic!("expected a user message action")
    };
    assert_eq!(a.user_message.unwrap().text, "hi");
    let ctx = a.request_context.unwrap();
    assert_eq!(ctx.cloud_rule.as_deref(), Some("be brief"));
    assert_eq!(ctx.tools[0].tool_name, "read");
    assert!(
        ctx.mcp_instructions[0]
            .instructions
            .contains("- read: Read a file")
    );
    assert_eq!(rr.mcp_tools.unwrap().mcp_tools.len(), 1);
    assert!(rr.mcp_file_system_options.unwrap().enabled);
}

/// Regression: the run request was once framed bare, without its
/// `AgentClientMessage{run_request}` wrapper, which Cursor cannot decode.
#[test]
fn first_frame_wraps_the_run_request_in_an_agent_client_message() {
    let frame = first_frame(&req_with_tools());
    let mut dec = framing::Decoder::default();
    dec.push(&frame);
    let Some(framing::Frame::Message(payload)) = dec.next_frame().unwrap() else {
        panic!()
    };
    let msg: pb::AgentClientMessage = framing::decode_message(&payload).unwrap();
    assert!(matches!(
        msg.message,
        Some(pb::agent_client_message::Message::RunRequest(_))
    ));
}

/// The wire layout of §9.6, byte for byte: `UserMessage.selected_context` (3) →
/// `selected_images` (1) → `SelectedImage{8 data, 2 uuid, 4 dimension{1, 2}, 7 mime}`.
#[test]
fn images_travel_as_selected_images_on_the_wire() {
    let mut r = req_with_tools();
    r.images = vec![Image {
        data: Bytes::from_static(b"PNG!"),
        mime_type: "image/png".into(),
        width: 300,
        height: 2,
    }];
    let rr = build_run_request(&r);
    let Some(pb::conversation_action::Action::UserMessageAction(a)) = rr.action.unwrap().action
    else {
        panic!("expected a user message action")
    };
    let mut m = a.user_message.unwrap();
    let uuid = std::mem::take(&mut m.selected_context.as_mut().unwrap().selected_images[0].uuid);
    assert_eq!(uuid.len(), 36, "a UUID per image");
    let ctx = m.selected_context.unwrap().encode_to_vec();
    #[rustfmt::skip]
    let want: &[u8] = &[
        0x0a, 24,                                   // selected_images (1), 24 bytes
        0x42, 4, b'P', b'N', b'G', b'!',            // data (8)
        0x22, 5, 0x08, 0xac, 0x02, 0x10, 0x02,      // dimension (4): width 300, height 2
        0x3a, 9, b'i', b'm', b'a', b'g', b'e', b'/', b'p', b'n', b'g', // mime_type (7)
    ];
    assert_eq!(ctx, want);
    // Without images the field stays absent, as before.
    let plain = build_run_request(&req_with_tools());
    let Some(pb::conversation_action::Action::UserMessageAction(a)) = plain.action.unwrap().action
    else {
        panic!()
    };
    assert_eq!(a.user_message.unwrap().selected_context, None);
}

#[test]
fn empty_text_with_state_resumes() {
    let mut r = req_with_tools();
    r.user_text.clear();
    r.conversation_state = Some(Bytes::from_static(b"\x2a\x00"));
    let rr = build_run_request(&r);
    assert!(matches!(
        rr.action.unwrap().action,
        Some(pb::conversation_action::Action::ResumeAction(_))
    ));
    assert_eq!(rr.conversation_state.as_deref(), Some(&b"\x2a\x00"[..]));
}

#[test]
fn tool_call_ids_fall_back() {
    assert_eq!(tool_call_id("toolu_1", "e", 3), "toolu_1");
    assert_eq!(tool_call_id("", "e", 3), "e");
    assert_eq!(tool_call_id("", "", 3), "exec_3");
}

#[test]
fn usage_infers_prompt_tokens() {
    let u = Usage {
        completion_tokens: 40,
        context_tokens: Some(1000),
        context_limit: Some(200_000),
        turn: None,
    };
    assert_eq!(u.prompt_tokens(), Some(960));
    assert!(!u.exact());
    assert_eq!(Usage::default().prompt_tokens(), None);
}

#[test]
fn turn_usage_is_read_from_turn_ended_and_absent_when_all_zero() {
    let t = TurnUsage::from_update(&pb::TurnEndedUpdate {
        input_tokens: 11_292,
        output_tokens: 250,
        cache_read_tokens: 9_000,
        cache_write_tokens: 1_000,
        reasoning_tokens: 40,
    })
    .expect("usage");
    assert_eq!(t.prompt_tokens(false), 21_292);
    assert_eq!(t.prompt_tokens(true), 11_292);
    assert_eq!(
        TurnUsage::from_update(&pb::TurnEndedUpdate::default()),
        None
    );
    // A negative count (a broken peer) reads as 0, never as a huge unsigned number.
    let odd = TurnUsage::from_update(&pb::TurnEndedUpdate {
        input_tokens: -5,
        output_tokens: 3,
        ..Default::default()
    });
    assert_eq!(odd.map(|t| (t.input_tokens, t.output_tokens)), Some((0, 3)));
}
