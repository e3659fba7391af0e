//! The generated protobuf code, quarantined: everything else says `pb::…`.
//! The `.proto` files in `proto/` are the source of truth; the module tree mirrors the
//! protobuf packages so prost's cross-package paths resolve.
#![allow(clippy::all, missing_docs, clippy::unwrap_used)]

/// `agent.*` packages.
pub mod agent {
    /// `agent.v1`: the agent run stream, exec/KV/interaction messages, models.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/agent.v1.rs"));
    }
}

/// `aiserver.*` packages.
pub mod aiserver {
    /// `aiserver.v1`: BidiAppend transport, error details, the IDE model catalogue.
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/aiserver.v1.rs"));
    }
}

pub use agent::v1 as agent_v1;
pub use aiserver::v1 as aiserver_v1;
