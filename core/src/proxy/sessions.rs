//! Cursor streams parked on tool calls.
//!
//! When a step ends with tool calls, the live [`ChatRun`] is parked here keyed by every
//! tool-call id of that step; the engine keeps it alive with heartbeats. The client's next
//! request carrying `tool` results for those ids takes it back and the results go onto
//! the same stream. Parked runs expire after a TTL and are bounded in number, oldest
//! evicted first; dropping a run cancels it on Cursor's side.
//!
//! Lock choice: one `std::sync::Mutex` over two small maps. Critical sections are map
//! operations only (never an await), and dropping evicted runs happens after the lock is
//! released.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cursor::chat::ChatRun;

/// A run waiting for tool results.
#[derive(Debug)]
pub struct Parked {
    pub run: ChatRun,
    /// The tool-call ids of the step that parked it.
    pub call_ids: Vec<String>,
    /// The model name the client used (echoed in the continuation's chunks).
    pub model: String,
    /// Completion tokens already reported, so the continuation reports only its own.
    pub completion_tokens_reported: u64,
    /// When it was parked (for the TTL).
    pub parked_at: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    next: u64,
    by_call: HashMap<String, u64>,
    parked: BTreeMap<u64, Parked>,
}

impl Inner {
    fn remove(&mut self, key: u64) -> Option<Parked> {
        let p = self.parked.remove(&key)?;
        for id in &p.call_ids {
            self.by_call.remove(id);
        }
        Some(p)
    }

    fn take_expired(&mut self, ttl: Duration, now: Instant) -> Vec<Parked> {
        let expired: Vec<u64> = self
            .parked
            .iter()
            .filter(|(_, p)| now.duration_since(p.parked_at) >= ttl || p.run.handle().is_finished())
            .map(|(k, _)| *k)
            .collect();
        expired.into_iter().filter_map(|k| self.remove(k)).collect()
    }
}

/// The parking lot.
#[derive(Debug)]
pub struct Sessions {
    inner: Mutex<Inner>,
    ttl: Duration,
    max: usize,
}

impl Sessions {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Sessions {
            inner: Mutex::new(Inner::default()),
            ttl,
            max: max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks a run. Expired runs and, beyond the bound, the oldest are evicted (and so
    /// cancelled).
    pub fn park(&self, parked: Parked) {
        let evicted = {
            let mut inner = self.lock();
            let mut evicted = inner.take_expired(self.ttl, Instant::now());
            let key = inner.next;
            inner.next += 1;
            for id in &parked.call_ids {
                // An id parked twice: the newer run wins; the older loses that id.
                inner.by_call.insert(id.clone(), key);
            }
            inner.parked.insert(key, parked);
            while inner.parked.len() > self.max {
                let Some(oldest) = inner.parked.keys().next().copied() else {
                    break;
                };
                if let Some(p) = inner.remove(oldest) {
                    tracing::info!(
                        "evicting the oldest parked Cursor stream (limit {})",
                        self.max
                    );
                    evicted.push(p);
                }
            }
            evicted
        };
        drop(evicted);
    }

    /// Takes the run waiting for any of these tool-call ids, if one is live.
    pub fn take(&self, call_ids: &[String]) -> Option<Parked> {
        let (found, expired) = {
            let mut inner = self.lock();
            let expired = inner.take_expired(self.ttl, Instant::now());
            let key = call_ids
                .iter()
                .find_map(|id| inner.by_call.get(id).copied());
            (key.and_then(|k| inner.remove(k)), expired)
        };
        drop(expired);
        found
    }

    /// Cancels expired runs; called periodically by the server.
    pub fn sweep(&self) -> usize {
        let expired = self.lock().take_expired(self.ttl, Instant::now());
        let n = expired.len();
        drop(expired);
        n
    }

    /// Number of parked runs.
    pub fn len(&self) -> usize {
        self.lock().parked.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every parked run (the proxy stops).
    pub fn clear(&self) {
        let all = {
            let mut inner = self.lock();
            inner.by_call.clear();
            std::mem::take(&mut inner.parked)
        };
        drop(all);
    }
}
