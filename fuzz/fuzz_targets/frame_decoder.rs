//! A Run response body from Cursor, in chunks. See `cursor_bridge_fuzz::frame_decoder`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cursor_bridge_fuzz::frame_decoder(data));
