//! The decoder oracle: what decoding a Connect byte stream must come to, shared by the
//! property tests (`core/tests/properties.rs`) and the fuzz targets (`fuzz/`), so both
//! judge the incremental decoder by the same rules.
//!
//! [`decode`] pushes a stream into [`Decoder`] in given pieces, draining every whole frame
//! after each push, and records how it ended. Comparing the [`Outcome`] of one stream in
//! different pieces is the central property: chunking never changes what decodes. A
//! decoder error must be a protocol error with a message ([`protocol_message`]): bytes
//! alone can give nothing else. [`same_json`] compares JSON that went through text and
//! back, as tool arguments do.

use cursor_bridge_core::cursor::CursorError;
use cursor_bridge_core::cursor::framing::{Decoder, Frame};
use serde_json::Value;

/// How a decode ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Everything consumed, nothing left over.
    Clean,
    /// `finish` refused a partial frame (its message).
    Leftover(String),
    /// `next_frame` refused the bytes (its message).
    Refused(String),
}

/// The frames a stream decoded to, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Every whole frame, in order, up to the end.
    pub frames: Vec<Frame>,
    /// Clean, a partial frame left over, or refused bytes.
    pub end: End,
}

/// The message of a decoder error, which must be a protocol error with a message: nothing
/// else can come out of bytes alone. Panics otherwise (the finding).
pub fn protocol_message(e: CursorError) -> String {
    match e {
        CursorError::Protocol(m) if !m.trim().is_empty() => m,
        other => panic!("the decoder returned a non-protocol error or no message: {other:?}"),
    }
}

/// Decodes `wire` under the frame limit `max_frame`, pushed in pieces of the sizes
/// `pieces` yields (0: an empty push, as a reader can hand over a zero-length chunk); when
/// it runs out, the rest goes in one push, so `[]` decodes the stream all at once. Every
/// whole frame is drained after each push; the first refusal ends the decode.
pub fn decode(wire: &[u8], pieces: impl IntoIterator<Item = usize>, max_frame: usize) -> Outcome {
    let mut dec = Decoder::new(max_frame);
    let mut pieces = pieces.into_iter();
    let mut frames = Vec::new();
    let mut rest = wire;
    loop {
        let n = pieces.next().unwrap_or(rest.len()).min(rest.len());
        dec.push(&rest[..n]);
        rest = &rest[n..];
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    return Outcome {
                        frames,
                        end: End::Refused(protocol_message(e)),
                    };
                }
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    let end = match dec.finish() {
        Ok(()) => {
            assert_eq!(dec.buffered(), 0, "finish accepted a non-empty buffer");
            End::Clean
        }
        Err(e) => End::Leftover(protocol_message(e)),
    };
    Outcome { frames, end }
}

/// JSON equality where floats may differ in the last bits: serde_json's default float
/// parser (what reads tool arguments back) is not exactly round-trip, least of all for
/// subnormals. The text we send is the shortest exact form.
pub fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            let d = (x - y).abs();
            x == y || d <= 4.0 * f64::EPSILON * x.abs().max(y.abs()) || d < 1e-300
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}
