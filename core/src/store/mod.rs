//! Persistent state: where credentials live, the local API key, and the usage ledger.

pub mod credentials;
pub mod ledger;
pub(crate) mod local_key;
