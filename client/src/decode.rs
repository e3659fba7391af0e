//! The decoding policy for the agent stream's server messages (reference §9.2): a message
//! the schema does not fully know must never end a run.
//!
//! [`server_message`] walks the top-level `AgentServerMessage` fields itself and decodes
//! each variant on its own, so one part we cannot read never hides the others:
//! - parts that want an answer (KV, exec, interaction query) are always handed to the
//!   driver with their id, decodable or not: an exec whose kind is unknown or undecodable
//!   becomes [`Part::UnservableExec`] with the raw field number of its kind, answered with
//!   [`unservable_exec_reply`] at that mirrored number;
//! - `InteractionUpdate`s are read field by field (several updates may share one message,
//!   §9.3); a field that fails to decode is dropped, the others kept;
//! - unknown top-level variants, unknown update fields and undecodable display parts are
//!   [`Decoded::skipped`]: counted by the driver, logged once per run, never fatal.
//!
//! Only bytes that are not protobuf at all at the top level (a length running past the
//! frame, say) are an error: that is a broken frame, not a newer schema.

use bytes::{Buf, Bytes};
use prost::Message as _;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, encode_key};

use super::error::CursorError;
use crate::pb::agent_v1 as pb;

/// One part of a server message the driver acts on.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// An update with every field that decoded (boxed: it dwarfs the other parts).
    Update(Box<pb::InteractionUpdate>),
    /// An exec: Cursor asks us to run (or answer for) a tool.
    Exec(pb::ExecServerMessage),
    /// An exec whose kind (raw field number `field`) we cannot decode or do not know;
    /// it is answered at `field` all the same.
    UnservableExec {
        /// The exec's numeric id.
        id: u32,
        /// The exec's string id.
        exec_id: String,
        /// The raw field number of its kind, where the answer goes.
        field: u32,
    },
    /// A checkpoint: the serialized conversation state, verbatim.
    Checkpoint(Bytes),
    /// A KV blob request (get or set).
    Kv(pb::KvServerMessage),
    /// Exec control (e.g. the abort of a running exec).
    ExecControl(pb::ExecServerControlMessage),
    /// An interaction query waiting for an answer.
    Query(pb::InteractionQuery),
}

/// A decoded server message.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Decoded {
    /// The parts, in message order.
    pub parts: Vec<Part>,
    /// What was skipped, one short description each (no contents: they may be secret).
    pub skipped: Vec<String>,
}

impl Decoded {
    /// Only a server heartbeat: traffic, but no sign that the model progresses.
    pub(crate) fn is_heartbeat_only(&self) -> bool {
        let only_heartbeat = |u: &pb::InteractionUpdate| {
            u.heartbeat.is_some()
                && pb::InteractionUpdate {
                    heartbeat: None,
                    ..u.clone()
                } == pb::InteractionUpdate::default()
        };
        matches!(&self.parts[..], [Part::Update(u)] if only_heartbeat(u)) && self.skipped.is_empty()
    }
}

/// `InteractionUpdate` field numbers our schema declares.
const KNOWN_UPDATE_FIELDS: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17];
/// `ExecServerMessage` fields that are not its kind: id, exec_id, span_context.
const EXEC_NON_KIND_FIELDS: &[u32] = &[1, 15, 19];

/// Decodes one `AgentServerMessage` payload under the policy above.
pub fn server_message(payload: &[u8]) -> Result<Decoded, CursorError> {
    let fields = walk(payload).map_err(|e| {
        CursorError::Protocol(format!("Cursor sent a malformed AgentServerMessage: {e}"))
    })?;
    let mut out = Decoded::default();
    for f in fields {
        let RawValue::Bytes(bytes) = f.value else {
            out.skipped.push(format!(
                "AgentServerMessage field {} (not a message)",
                f.number
            ));
            continue;
        };
        match f.number {
            1 => update(bytes, &mut out),
            2 => exec(bytes, &mut out),
            3 => out
                .parts
                .push(Part::Checkpoint(Bytes::copy_from_slice(bytes))),
            4 => kv(bytes, &mut out),
            5 => match pb::ExecServerControlMessage::decode(bytes) {
                Ok(c) => out.parts.push(Part::ExecControl(c)),
                Err(_) => out
                    .skipped
                    .push("undecodable exec_server_control_message".into()),
            },
            7 => query(bytes, &mut out),
            n => out
                .skipped
                .push(format!("unknown AgentServerMessage variant {n}")),
        }
    }
    Ok(out)
}

/// Every field on its own: a field that fails to decode (a display-only tool call of a
/// shape we do not know) is dropped, the text next to it is kept.
fn update(bytes: &[u8], out: &mut Decoded) {
    let Ok(fields) = walk(bytes) else {
        out.skipped.push("undecodable interaction_update".into());
        return;
    };
    let mut u = pb::InteractionUpdate::default();
    for f in fields {
        if !KNOWN_UPDATE_FIELDS.contains(&f.number) {
            out.skipped
                .push(format!("unknown interaction_update field {}", f.number));
            continue;
        }
        // Merging into a copy keeps `u` intact when the field turns out undecodable.
        let mut probe = u.clone();
        match probe.merge(f.raw) {
            Ok(()) => u = probe,
            Err(_) => out
                .skipped
                .push(format!("undecodable interaction_update field {}", f.number)),
        }
    }
    if u != pb::InteractionUpdate::default() {
        out.parts.push(Part::Update(Box::new(u)));
    }
}

fn exec(bytes: &[u8], out: &mut Decoded) {
    let decoded = pb::ExecServerMessage::decode(bytes);
    if let Ok(e) = &decoded
        && e.message.is_some()
    {
        out.parts.push(Part::Exec(e.clone()));
        return;
    }
    // Unknown or undecodable kind: find id, exec_id and the kind's field number raw.
    let Ok(fields) = walk(bytes) else {
        out.skipped.push("undecodable exec_server_message".into());
        return;
    };
    let mut id = None;
    let mut exec_id = String::new();
    let mut kind = None;
    for f in &fields {
        match (f.number, &f.value) {
            (1, RawValue::Varint(v)) => id = u32::try_from(*v).ok(),
            (15, RawValue::Bytes(b)) => exec_id = String::from_utf8_lossy(b).into_owned(),
            (n, _) if !EXEC_NON_KIND_FIELDS.contains(&n) => kind = kind.or(Some(n)),
            _ => {}
        }
    }
    match (id, kind) {
        (Some(id), Some(field)) => out.parts.push(Part::UnservableExec { id, exec_id, field }),
        // proto3 omits a zero id; an exec with a kind is still answered.
        (None, Some(field)) => out.parts.push(Part::UnservableExec {
            id: 0,
            exec_id,
            field,
        }),
        // No kind at all: a decodable message is an exec we know nothing to answer with.
        (_, None) => match decoded {
            Ok(e) => out.parts.push(Part::Exec(e)),
            Err(_) => out.skipped.push("undecodable exec_server_message".into()),
        },
    }
}

fn kv(bytes: &[u8], out: &mut Decoded) {
    use pb::kv_server_message::Message as K;
    if let Ok(kv) = pb::KvServerMessage::decode(bytes) {
        out.parts.push(Part::Kv(kv));
        return;
    }
    // Still answered by id: an unreadable get as "no such blob", an unreadable set as an
    // error (we could not store it).
    let fields = walk(bytes).unwrap_or_default();
    let id = varint_field(&fields, 1).unwrap_or(0);
    let is_get = fields.iter().any(|f| f.number == 2);
    out.skipped.push("undecodable kv_server_message".into());
    out.parts.push(Part::Kv(pb::KvServerMessage {
        id,
        message: is_get.then(|| K::GetBlobArgs(pb::GetBlobArgs::default())),
    }));
}

fn query(bytes: &[u8], out: &mut Decoded) {
    match pb::InteractionQuery::decode(bytes) {
        Ok(q) => out.parts.push(Part::Query(q)),
        Err(_) => {
            let fields = walk(bytes).unwrap_or_default();
            out.skipped.push("undecodable interaction_query".into());
            out.parts.push(Part::Query(pb::InteractionQuery {
                id: varint_field(&fields, 1).unwrap_or(0),
                query: None,
            }));
        }
    }
}

fn varint_field(fields: &[RawField<'_>], number: u32) -> Option<u32> {
    fields.iter().rev().find_map(|f| match f.value {
        RawValue::Varint(v) if f.number == number => u32::try_from(v).ok(),
        _ => None,
    })
}

/// The error text an unservable exec is answered with.
pub(crate) const UNSERVABLE_EXEC_ERROR: &str =
    "This tool is not available through Cursor Bridge; use the provided tools instead.";

/// `AgentClientMessage{exec_client_message{id, exec_id, <field>: GenericExecResult}}`,
/// encoded: the answer to an exec kind we cannot name, at its mirrored field number. The
/// one generic shape ([`pb::GenericExecResult`], see the proto) serves every such kind.
pub fn unservable_exec_reply(id: u32, exec_id: &str, field: u32, error: &str) -> Bytes {
    let result = pb::GenericExecResult {
        result: Some(pb::generic_exec_result::Result::Error(
            pb::GenericExecError {
                error: error.into(),
            },
        )),
    };
    let mut exec = pb::ExecClientMessage {
        id,
        exec_id: exec_id.into(),
        result: None,
    }
    .encode_to_vec();
    encode_key(field, WireType::LengthDelimited, &mut exec);
    result
        .encode_length_delimited(&mut exec)
        .expect("Vec grows");
    let mut msg = Vec::with_capacity(exec.len() + 6);
    encode_key(2, WireType::LengthDelimited, &mut msg);
    prost::encoding::encode_varint(exec.len() as u64, &mut msg);
    msg.extend_from_slice(&exec);
    msg.into()
}

/// The raw field number of a known exec kind (what its answer mirrors).
pub(crate) fn exec_field(kind: &pb::exec_server_message::Message) -> u32 {
    let mut buf = Vec::new();
    kind.encode(&mut buf);
    decode_key(&mut &buf[..]).map(|(n, _)| n).unwrap_or(0)
}

/// One top-level field of a message, not interpreted.
#[derive(Debug, Clone)]
struct RawField<'a> {
    number: u32,
    value: RawValue<'a>,
    /// The field's whole encoding, key included (to decode it on its own).
    raw: &'a [u8],
}

#[derive(Debug, Clone)]
enum RawValue<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Other,
}

/// Splits `buf` into its top-level fields, or says why it is not protobuf.
fn walk(buf: &[u8]) -> Result<Vec<RawField<'_>>, String> {
    let e = |e: prost::DecodeError| e.to_string();
    let mut fields = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let start = rest;
        let (number, wire_type) = decode_key(&mut rest).map_err(e)?;
        let value = match wire_type {
            WireType::Varint => RawValue::Varint(decode_varint(&mut rest).map_err(e)?),
            WireType::LengthDelimited => {
                let len = decode_varint(&mut rest).map_err(e)?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|l| *l <= rest.len())
                    .ok_or("a length runs past the message")?;
                let (value, tail) = rest.split_at(len);
                rest = tail;
                RawValue::Bytes(value)
            }
            other => {
                prost::encoding::skip_field(other, number, &mut rest, DecodeContext::default())
                    .map_err(e)?;
                RawValue::Other
            }
        };
        let used = start.len() - rest.remaining();
        fields.push(RawField {
            number,
            value,
            raw: &start[..used],
        });
    }
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::encoding::encode_varint;

    fn ld(field: u32, body: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        encode_key(field, WireType::LengthDelimited, &mut b);
        encode_varint(body.len() as u64, &mut b);
        b.extend_from_slice(body);
        b
    }

    fn varint(field: u32, v: u64) -> Vec<u8> {
        let mut b = Vec::new();
        encode_key(field, WireType::Varint, &mut b);
        encode_varint(v, &mut b);
        b
    }

    #[test]
    fn text_and_token_delta_in_one_update_are_both_read() {
        let text = ld(1, &ld(1, b"hi"));
        let tokens = ld(8, &varint(1, 3));
        let msg = ld(1, &[text, tokens].concat());
        let d = server_message(&msg).unwrap();
        let [Part::Update(u)] = &d.parts[..] else {
            panic!("{d:?}")
        };
        assert_eq!(u.text_delta.as_ref().unwrap().text, "hi");
        assert_eq!(u.token_delta.as_ref().unwrap().tokens, 3);
        assert!(d.skipped.is_empty());
    }

    #[test]
    fn an_undecodable_update_field_is_skipped_and_its_neighbours_kept() {
        // tool_call_completed (3) whose tool_call (2) claims a string where a message is.
        let bad = ld(3, &ld(2, &ld(8, &[0xff, 0xff])));
        let msg = ld(1, &[bad, ld(1, &ld(1, b"kept"))].concat());
        let d = server_message(&msg).unwrap();
        let [Part::Update(u)] = &d.parts[..] else {
            panic!("{d:?}")
        };
        assert_eq!(u.text_delta.as_ref().unwrap().text, "kept");
        assert!(u.tool_call_completed.is_none());
        assert_eq!(d.skipped, ["undecodable interaction_update field 3"]);
    }

    #[test]
    fn unknown_variants_and_fields_are_skipped() {
        let msg = [ld(42, b"\x0a\x00"), ld(1, &ld(99, b""))].concat();
        let d = server_message(&msg).unwrap();
        assert!(d.parts.is_empty());
        assert_eq!(
            d.skipped,
            [
                "unknown AgentServerMessage variant 42",
                "unknown interaction_update field 99"
            ]
        );
    }

    #[test]
    fn an_unknown_exec_kind_keeps_its_id_and_field_number() {
        let exec = [varint(1, 7), ld(15, b"ex-7"), ld(77, &ld(1, b"x"))].concat();
        let d = server_message(&ld(2, &exec)).unwrap();
        assert_eq!(
            d.parts,
            [Part::UnservableExec {
                id: 7,
                exec_id: "ex-7".into(),
                field: 77
            }]
        );
    }

    #[test]
    fn an_undecodable_known_exec_is_still_answered_at_its_field() {
        // read_args (7) whose path (1) is a varint: undecodable as ReadArgs.
        let exec = [varint(1, 3), ld(7, &varint(1, 5))].concat();
        let d = server_message(&ld(2, &exec)).unwrap();
        assert_eq!(
            d.parts,
            [Part::UnservableExec {
                id: 3,
                exec_id: String::new(),
                field: 7
            }]
        );
    }

    #[test]
    fn the_unservable_reply_mirrors_the_field_number() {
        let bytes = unservable_exec_reply(5, "e", 77, "no");
        let msg = pb::AgentClientMessage::decode(&bytes[..]).unwrap();
        let Some(pb::agent_client_message::Message::ExecClientMessage(e)) = msg.message else {
            panic!()
        };
        assert_eq!((e.id, e.exec_id.as_str(), e.result), (5, "e", None));
        // The raw exec: field 77 holds {2 error {1 "no"}}.
        let outer = walk(&bytes).unwrap();
        let RawValue::Bytes(exec) = outer[0].value else {
            panic!()
        };
        let inner = walk(exec).unwrap();
        let kind = inner.iter().find(|f| f.number == 77).expect("field 77");
        let RawValue::Bytes(result) = kind.value else {
            panic!()
        };
        assert_eq!(result, &ld(2, &ld(1, b"no"))[..]);
    }

    #[test]
    fn exec_field_numbers_come_from_the_schema() {
        use pb::exec_server_message::Message as X;
        assert_eq!(exec_field(&X::ShellStreamArgs(Default::default())), 14);
        assert_eq!(exec_field(&X::McpStateExecArgs(Default::default())), 36);
        assert_eq!(exec_field(&X::SubagentArgs(Default::default())), 28);
    }

    #[test]
    fn bytes_that_are_not_protobuf_are_an_error() {
        assert!(server_message(&[0x0a, 0x05, 0x01]).is_err());
    }

    #[test]
    fn an_undecodable_kv_or_query_is_still_answered_by_id() {
        let kv = [varint(1, 4), ld(2, &varint(1, 1))].concat();
        let q = [varint(1, 9), ld(3, &[0xff])].concat();
        let d = server_message(&[ld(4, &kv), ld(7, &q)].concat()).unwrap();
        assert!(matches!(&d.parts[0], Part::Kv(k) if k.id == 4
            && matches!(k.message, Some(pb::kv_server_message::Message::GetBlobArgs(_)))));
        assert!(matches!(&d.parts[1], Part::Query(q) if q.id == 9 && q.query.is_none()));
        assert_eq!(d.skipped.len(), 2);
    }
}
