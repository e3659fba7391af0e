//! Persistent state: where credentials live.

pub mod credentials;
