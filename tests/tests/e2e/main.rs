//! The end-to-end tests, one module per area, in one test binary: cargo links one
//! executable instead of one per file (the link step dominated an edit-and-rerun cycle),
//! and the fake Cursor and the harness are compiled once. A former file is still selected
//! by its name: `cargo test -p cursor-bridge-tests --test e2e chat::`.
//!
//! The tests share a process, so none may rely on being alone in it: there is no process
//! state to share (settings come in through `Env`, ports are bound at 0), and the one
//! measurement of the whole process, the load test's memory, runs in a child process of
//! its own ([`common::in_own_process`]).

#[macro_use]
mod common;

mod account;
mod anthropic;
mod apply_patch;
mod binding;
mod chat;
mod client_version;
mod decoding;
mod fake_server;
mod faults;
#[cfg(unix)]
mod files;
mod guard;
mod history;
mod hostile;
mod images;
mod load;
mod proxy;
mod responses;
mod slow_clients;
mod transport;
mod usage;
