//! Where an HTTP/1.1 run's two halves meet: the `Slot` a `RunSSE` opens under its request
//! id and the `BidiAppend`s fill. Shared state (`state::Shared` holds the slots) and the
//! handlers (`bidi`) both use it, so it sits below both.

use cursor_bridge_core::pb::agent_v1 as pb;
use tokio::sync::mpsc;

/// Where a `RunSSE` and its appends meet.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) tx: mpsc::UnboundedSender<Append>,
    /// Taken by the `RunSSE` that claims the slot.
    pub(crate) rx: Option<mpsc::UnboundedReceiver<Append>>,
    pub(crate) next_seqno: i64,
    pub(crate) accepted: usize,
    /// Why the run failed, once an append was refused; later appends are refused too.
    pub(crate) failed: Option<String>,
}

impl Slot {
    pub(crate) fn new() -> Slot {
        let (tx, rx) = mpsc::unbounded_channel();
        Slot {
            tx,
            rx: Some(rx),
            next_seqno: 0,
            accepted: 0,
            failed: None,
        }
    }

    pub(crate) fn fail(&mut self, why: String, append: Append) {
        self.failed = Some(why);
        let _ = self.tx.send(append);
    }
}

/// What the append handler queues for the run.
// Almost every value is a `Msg`; boxing would only add an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum Append {
    /// A message and its encoding.
    Msg(pb::AgentClientMessage, Vec<u8>),
    /// A protocol violation: recorded, and the script stops with `invalid_argument`.
    Violation(String),
    /// An injected failure: recorded; the script goes on until the client gives up.
    Refused(String),
}
