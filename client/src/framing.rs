//! Connect envelope framing: `flags(1) | length(4, big-endian) | payload`.
//!
//! The decoder is incremental: it keeps a buffer across network chunks, so a frame split
//! anywhere (even one byte at a time) decodes exactly as if it had arrived whole. "Need
//! more bytes" is never confused with "bad bytes". The flags byte is bits:
//! `0x01` = payload gzip-compressed, `0x02` = end of stream (payload is JSON). gRPC-Web's
//! trailer bit `0x80` is recognised so a server speaking that flavour is reported clearly.

use std::io::{Read, Write};

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::error::CursorError;

/// Payload is gzip-compressed.
pub const FLAG_COMPRESSED: u8 = 0x01;
/// End-of-stream frame: the payload is the Connect end-stream JSON.
pub const FLAG_END_STREAM: u8 = 0x02;
/// gRPC-Web trailers frame (not Connect).
pub(crate) const FLAG_GRPC_WEB_TRAILERS: u8 = 0x80;

/// Size of the envelope header.
pub const HEADER_LEN: usize = 5;

/// Largest frame we accept. Cursor's own decoders allow 16–64 MiB; a larger length prefix
/// means a corrupt stream, not a big message.
pub const DEFAULT_MAX_FRAME: usize = 64 * 1024 * 1024;

/// One decoded envelope, payload already decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A protobuf message.
    Message(Bytes),
    /// The Connect end-of-stream JSON (`{}` on success).
    EndStream(Bytes),
}

/// Encodes one message as an uncompressed data envelope.
pub fn encode(payload: &[u8]) -> Bytes {
    encode_with_flags(0, payload)
}

/// Encodes a protobuf message as an uncompressed data envelope.
pub fn encode_message<M: prost::Message>(msg: &M) -> Bytes {
    let len = msg.encoded_len();
    let mut buf = BytesMut::with_capacity(HEADER_LEN + len);
    buf.put_u8(0);
    buf.put_u32(len as u32);
    // Encoding into a BytesMut with enough capacity cannot fail.
    msg.encode(&mut buf).expect("BytesMut grows as needed");
    buf.freeze()
}

/// Encodes a payload with explicit flags (no compression is applied here).
pub fn encode_with_flags(flags: u8, payload: &[u8]) -> Bytes {
    let mut buf = BytesMut::with_capacity(HEADER_LEN + payload.len());
    buf.put_u8(flags);
    buf.put_u32(payload.len() as u32);
    buf.put_slice(payload);
    buf.freeze()
}

/// Encodes a payload gzip-compressed with flag `0x01` (plus `extra_flags`).
pub fn encode_gzip(extra_flags: u8, payload: &[u8]) -> Bytes {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    gz.write_all(payload).expect("write to Vec");
    let compressed = gz.finish().expect("finish into Vec");
    encode_with_flags(FLAG_COMPRESSED | extra_flags, &compressed)
}

/// Incremental envelope decoder. Feed it chunks with [`Decoder::push`], then call
/// [`Decoder::next_frame`] until it returns `Ok(None)` ("need more bytes").
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    max_frame: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME)
    }
}

impl Decoder {
    /// A decoder that rejects frames larger than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_frame,
        }
    }

    /// Appends a network chunk.
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// Bytes received but not yet consumed as a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed, or an error for bytes
    /// that can never form a valid frame.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, CursorError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let flags = self.buf[0];
        let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
        if flags & FLAG_GRPC_WEB_TRAILERS != 0 {
            return Err(CursorError::Protocol(format!(
                "received a gRPC-Web trailers frame (flags {flags:#04x}) on a Connect stream"
            )));
        }
        if flags & !(FLAG_COMPRESSED | FLAG_END_STREAM) != 0 {
            return Err(CursorError::Protocol(format!(
                "unknown envelope flags {flags:#04x}"
            )));
        }
        if len > self.max_frame {
            return Err(CursorError::Protocol(format!(
                "frame of {len} bytes exceeds the {} byte limit",
                self.max_frame
            )));
        }
        if self.buf.len() < HEADER_LEN + len {
            // Reserve once for the rest of this frame instead of growing chunk by chunk.
            self.buf.reserve(HEADER_LEN + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        let raw = self.buf.split_to(len).freeze();
        let payload = if flags & FLAG_COMPRESSED != 0 {
            gunzip(&raw, self.max_frame)?
        } else {
            raw
        };
        Ok(Some(if flags & FLAG_END_STREAM != 0 {
            Frame::EndStream(payload)
        } else {
            Frame::Message(payload)
        }))
    }

    /// Call when the byte stream has ended: an error if a partial frame is left over.
    pub fn finish(&self) -> Result<(), CursorError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(CursorError::Protocol(format!(
                "stream ended inside a frame ({} bytes left over)",
                self.buf.len()
            )))
        }
    }
}

fn gunzip(data: &[u8], limit: usize) -> Result<Bytes, CursorError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| CursorError::Protocol(format!("bad gzip payload: {e}")))?;
    if out.len() > limit {
        return Err(CursorError::Protocol(format!(
            "decompressed frame exceeds the {limit} byte limit"
        )));
    }
    Ok(out.into())
}

/// Decodes a protobuf payload, naming the message type on failure.
pub fn decode_message<M: prost::Message + Default>(payload: &[u8]) -> Result<M, CursorError> {
    M::decode(payload).map_err(|e| {
        CursorError::Protocol(format!("malformed {}: {e}", std::any::type_name::<M>()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Appendix C of the reference: `BidiRequestId{request_id:"abc"}`.
    #[test]
    fn reference_vector_bidi_request_id() {
        let msg = crate::pb::aiserver_v1::BidiRequestId {
            request_id: "abc".into(),
        };
        assert_eq!(
            &encode_message(&msg)[..],
            &[0, 0, 0, 0, 5, 0x0a, 3, b'a', b'b', b'c']
        );
    }

    /// Appendix C: a BidiAppendRequest payload.
    #[test]
    fn reference_vector_bidi_append() {
        use prost::Message;
        let msg = crate::pb::aiserver_v1::BidiAppendRequest {
            data: "0a00".into(),
            request_id: Some(crate::pb::aiserver_v1::BidiRequestId {
                request_id: "abc".into(),
            }),
            append_seqno: 1,
        };
        let expected: &[u8] = &[
            0x0a, 4, b'0', b'a', b'0', b'0', 0x12, 5, 0x0a, 3, b'a', b'b', b'c', 0x18, 1,
        ];
        assert_eq!(msg.encode_to_vec(), expected);
    }

    fn stream_bytes() -> (Vec<u8>, Vec<Frame>) {
        let mut wire = Vec::new();
        let mut frames = Vec::new();
        for (i, size) in [0usize, 1, 5, 300, 70_000].iter().enumerate() {
            let payload: Vec<u8> = (0..*size).map(|j| (i * 31 + j) as u8).collect();
            if i % 2 == 0 {
                wire.extend_from_slice(&encode(&payload));
            } else {
                wire.extend_from_slice(&encode_gzip(0, &payload));
            }
            frames.push(Frame::Message(payload.into()));
        }
        wire.extend_from_slice(&encode_gzip(
            FLAG_END_STREAM,
            b"{\"error\":{\"code\":\"internal\"}}",
        ));
        frames.push(Frame::EndStream(Bytes::from_static(
            b"{\"error\":{\"code\":\"internal\"}}",
        )));
        wire.extend_from_slice(&encode_with_flags(FLAG_END_STREAM, b"{}"));
        frames.push(Frame::EndStream(Bytes::from_static(b"{}")));
        (wire, frames)
    }

    fn decode_in_chunks(wire: &[u8], sizes: &mut dyn FnMut() -> usize) -> Vec<Frame> {
        let mut dec = Decoder::default();
        let mut out = Vec::new();
        let mut rest = wire;
        while !rest.is_empty() {
            let n = sizes().clamp(1, rest.len());
            dec.push(&rest[..n]);
            rest = &rest[n..];
            while let Some(f) = dec.next_frame().unwrap() {
                out.push(f);
            }
        }
        dec.finish().unwrap();
        out
    }

    #[test]
    fn decodes_whole_stream() {
        let (wire, frames) = stream_bytes();
        assert_eq!(decode_in_chunks(&wire, &mut || usize::MAX), frames);
    }

    #[test]
    fn decodes_one_byte_at_a_time() {
        let (wire, frames) = stream_bytes();
        assert_eq!(decode_in_chunks(&wire, &mut || 1), frames);
    }

    #[test]
    fn decodes_every_split_point_of_a_small_stream() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&encode(b"hello"));
        wire.extend_from_slice(&encode_gzip(0, b"world"));
        wire.extend_from_slice(&encode_with_flags(FLAG_END_STREAM, b"{}"));
        for a in 0..=wire.len() {
            for b in a..=wire.len() {
                let mut dec = Decoder::default();
                let mut got = Vec::new();
                for part in [&wire[..a], &wire[a..b], &wire[b..]] {
                    dec.push(part);
                    while let Some(f) = dec.next_frame().unwrap() {
                        got.push(f);
                    }
                }
                assert_eq!(got.len(), 3, "split at {a}/{b}");
                assert_eq!(got[1], Frame::Message(Bytes::from_static(b"world")));
            }
        }
    }

    #[test]
    fn decodes_random_chunkings() {
        let (wire, frames) = stream_bytes();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let max = rng.random_range(1..4096);
            let mut sizes = || rng.random_range(1..=max);
            assert_eq!(decode_in_chunks(&wire, &mut sizes), frames);
        }
    }

    #[test]
    fn partial_frame_at_end_is_an_error_not_silence() {
        let mut dec = Decoder::default();
        dec.push(&encode(b"hello")[..7]);
        assert_eq!(dec.next_frame().unwrap(), None);
        assert!(matches!(dec.finish(), Err(CursorError::Protocol(_))));
    }

    #[test]
    fn oversized_length_is_rejected_before_buffering() {
        let mut dec = Decoder::new(1024);
        dec.push(&[0, 0, 0, 0x10, 0]);
        assert!(matches!(dec.next_frame(), Err(CursorError::Protocol(m)) if m.contains("limit")));
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config {
            // A unit test has a lib.rs to save failures next to: src/cursor/framing.txt
            // would be odd, so failures are printed only (the seed reproduces them).
            failure_persistence: None,
            ..proptest::test_runner::Config::with_cases(64)
        })]

        /// A length prefix over the limit is refused before anything is reserved for it:
        /// the buffer holds what arrived, not what the header claims (up to 4 GiB).
        #[test]
        fn an_oversized_length_allocates_nothing_for_it(
            max_frame in 0usize..1_000_000,
            claimed in 1u64..=u64::from(u32::MAX),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..32),
        ) {
            let len = (max_frame as u64 + claimed).min(u64::from(u32::MAX));
            proptest::prop_assume!(len as usize > max_frame);
            let mut dec = Decoder::new(max_frame);
            dec.push(&[0]);
            dec.push(&(len as u32).to_be_bytes());
            dec.push(&tail);
            proptest::prop_assert!(dec.next_frame().is_err());
            proptest::prop_assert!(dec.buf.capacity() < 1024, "{} reserved", dec.buf.capacity());
        }
    }

    #[test]
    fn unknown_flags_and_grpc_web_trailers_are_rejected() {
        let mut dec = Decoder::default();
        dec.push(&encode_with_flags(0x04, b"x"));
        assert!(dec.next_frame().is_err());
        let mut dec = Decoder::default();
        dec.push(&encode_with_flags(0x80, b"grpc-status: 0\r\n"));
        assert!(
            matches!(dec.next_frame(), Err(CursorError::Protocol(m)) if m.contains("gRPC-Web"))
        );
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut dec = Decoder::default();
        dec.push(&encode_with_flags(FLAG_COMPRESSED, b"not gzip"));
        assert!(matches!(dec.next_frame(), Err(CursorError::Protocol(m)) if m.contains("gzip")));
    }
}
