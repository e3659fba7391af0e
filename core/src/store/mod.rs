//! Persistent state: where credentials live.

pub mod credentials;
pub mod local_key;
