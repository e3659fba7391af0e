//! A `/v1/chat/completions` body. See `cursor_bridge_fuzz::request_parser`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cursor_bridge_fuzz::request_parser(data));
