//! Responses kept in memory for `previous_response_id`: each response's conversation (its
//! input after the earlier responses' items, then its output) under its `resp_…` id.
//!
//! Bounded three ways, so a client that stores every response cannot grow the proxy
//! without limit: at most [`MAX_RESPONSES`] entries and [`MAX_BYTES`] of text (the oldest
//! go first), each kept for [`TTL`]. A chain of responses holds its history once per link,
//! which the byte bound covers. Nothing is written to disk (conversation text stays in
//! memory, as OpenAI's `store: false` clients expect of a local proxy); a restart forgets
//! them, and an id that is gone answers 404 `previous_response_not_found`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::request::{Item, Part};

/// The most responses kept.
pub(crate) const MAX_RESPONSES: usize = 512;
/// The most text kept, over all responses (64 MiB).
pub(crate) const MAX_BYTES: usize = 64 << 20;
/// How long a response is kept (as long as a Codex session is idle, at most, in practice).
pub(crate) const TTL: Duration = Duration::from_secs(6 * 3600);

struct Entry {
    items: Arc<Vec<Item>>,
    bytes: usize,
    at: Instant,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Entry>,
    /// Ids oldest first (each once: ids are fresh).
    order: VecDeque<String>,
    bytes: usize,
    /// The skipped tool types already logged (each is logged once per proxy run).
    logged_skips: HashSet<String>,
}

/// The store (a std mutex: held for map operations only, never across an await).
pub(crate) struct ResponseStore {
    inner: Mutex<Inner>,
    max_responses: usize,
    max_bytes: usize,
    ttl: Duration,
}

impl std::fmt::Debug for ResponseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseStore").finish_non_exhaustive()
    }
}

/// The text an item holds, roughly its memory.
fn size(items: &[Item]) -> usize {
    items
        .iter()
        .map(|i| match i {
            Item::Message { content, .. } => content
                .iter()
                .map(|p| match p {
                    Part::Text(t) => t.len(),
                    Part::Image { param, .. } => param.len(),
                })
                .sum::<usize>(),
            Item::FunctionCall {
                call_id,
                name,
                arguments,
            } => call_id.len() + name.len() + arguments.len(),
            Item::FunctionCallOutput { call_id, output } => call_id.len() + output.len(),
        } + 32)
        .sum()
}

impl ResponseStore {
    /// A store with the default bounds.
    pub(crate) fn new() -> Self {
        Self::with_limits(MAX_RESPONSES, MAX_BYTES, TTL)
    }

    /// A store with these bounds.
    pub(crate) fn with_limits(max_responses: usize, max_bytes: usize, ttl: Duration) -> Self {
        ResponseStore {
            inner: Mutex::new(Inner::default()),
            max_responses,
            max_bytes,
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere cannot leave the maps half-updated in a way that matters here.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `items` under `id` (a response larger than the byte bound is not kept).
    pub(crate) fn put(&self, id: String, items: Vec<Item>) {
        let bytes = size(&items);
        if bytes > self.max_bytes {
            return;
        }
        let mut g = self.lock();
        g.bytes += bytes;
        g.order.push_back(id.clone());
        g.map.insert(
            id,
            Entry {
                items: Arc::new(items),
                bytes,
                at: Instant::now(),
            },
        );
        while g.map.len() > self.max_responses || g.bytes > self.max_bytes {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            if let Some(e) = g.map.remove(&old) {
                g.bytes -= e.bytes;
            }
        }
    }

    /// The conversation kept under `id`, unless it is unknown or expired.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Vec<Item>>> {
        let mut g = self.lock();
        let expired = g.map.get(id)?.at.elapsed() >= self.ttl;
        if expired {
            if let Some(e) = g.map.remove(id) {
                g.bytes -= e.bytes;
            }
            g.order.retain(|o| o != id);
            return None;
        }
        g.map.get(id).map(|e| e.items.clone())
    }

    /// True the first time a tool type is skipped in this proxy run (it is logged then).
    pub(crate) fn first_skip(&self, kind: &str) -> bool {
        let mut g = self.lock();
        if g.logged_skips.contains(kind) {
            return false;
        }
        g.logged_skips.insert(kind.to_string())
    }

    /// How many responses are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Vec<Item> {
        vec![Item::FunctionCallOutput {
            call_id: String::new(),
            output: t.into(),
        }]
    }

    #[test]
    fn the_oldest_go_first_past_the_count_or_byte_bound() {
        let s = ResponseStore::with_limits(2, 1000, TTL);
        s.put("a".into(), text("1"));
        s.put("b".into(), text("2"));
        s.put("c".into(), text("3"));
        assert!(s.get("a").is_none());
        assert_eq!(s.get("c").unwrap().as_slice(), text("3").as_slice());
        assert_eq!(s.len(), 2);
        s.put("big".into(), text(&"x".repeat(960)));
        assert!(
            s.get("b").is_none() && s.get("c").is_none(),
            "evicted for bytes"
        );
        assert!(s.get("big").is_some());
        s.put("huge".into(), text(&"x".repeat(2000)));
        assert!(s.get("huge").is_none(), "larger than the bound: not kept");
    }

    #[test]
    fn entries_expire() {
        let s = ResponseStore::with_limits(10, 1000, Duration::ZERO);
        s.put("a".into(), text("1"));
        assert!(s.get("a").is_none());
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn each_skipped_tool_type_is_logged_once() {
        let s = ResponseStore::new();
        assert!(s.first_skip("web_search"));
        assert!(!s.first_skip("web_search"));
        assert!(s.first_skip("namespace"));
    }
}
