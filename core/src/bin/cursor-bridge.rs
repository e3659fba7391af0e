//! The headless CLI: parses arguments and hands over to `cursor_bridge_core::cli`.
fn main() {}
