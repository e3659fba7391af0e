//! Cursor streams parked on tool calls.
//!
//! When a step ends with tool calls, the live [`ChatRun`] is parked here keyed by every
//! tool-call id of that step; the engine keeps it alive with heartbeats. The client's next
//! request carrying `tool` results for those ids takes it back and the results go onto
//! the same stream. Parked runs expire after a TTL and are bounded twice, oldest evicted
//! first: in number (`max_parked_streams`) and in the memory they hold
//! (`max_parked_bytes`, see [`Parked::estimate`]). Dropping a run cancels it on Cursor's
//! side; an evicted conversation's next request starts a fresh run from its history.
//!
//! **Ids belong to their run.** The ids handed to the client are minted here
//! ([`mint_call_id`]: 128 random bits from the OS-seeded RNG), never Cursor's ids, so one
//! conversation cannot guess or collide with another's; the entry maps each back to
//! Cursor's id. A continuation takes a run only when it answers **every** id of the step
//! and carries the conversation prefix that produced it ([`super::history::prefix_key`]
//! of that request's messages); anything else — a forged or partial answer — leaves the
//! run parked for its owner (until its TTL) and starts a fresh run from the history.
//!
//! Lock choice: one `std::sync::Mutex` over two small maps. Critical sections are map
//! operations only (never an await), and dropping evicted runs happens after the lock is
//! released.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::cursor::blobs::BlobStore;
use crate::cursor::chat::{ChatRun, ToolCall};
use crate::engine::usage::Usage;

/// What a parked run costs beyond the data we can measure: its driver task, channels,
/// the HTTP/2 stream's buffers and the tool definitions it was started with.
pub(crate) const PARKED_RUN_OVERHEAD: usize = 16 * 1024;

/// A run waiting for tool results.
#[derive(Debug)]
pub struct Parked {
    /// The live run, stopped on its tool calls; dropping it cancels it on Cursor.
    pub run: ChatRun,
    /// The tool-call ids of the step that parked it, as minted for the client.
    pub call_ids: Vec<String>,
    /// Cursor's id of each call, in the order of `call_ids`.
    pub cursor_ids: Vec<String>,
    /// [`super::history::prefix_key`] of the messages of the request that produced the
    /// step: a continuation must carry the same.
    pub prefix: [u8; 32],
    /// The model name the client used (echoed in the continuation's chunks).
    pub model: String,
    /// Usage the run's responses reported so far, so the continuation reports only the rest.
    pub reported: Usage,
    /// When it was parked (for the TTL).
    pub parked_at: Instant,
    /// The conversation's blobs (Cursor's saved state), kept with the run it belongs to.
    pub blobs: BlobStore,
    /// Memory this entry holds, estimated when it was parked ([`Parked::estimate`]).
    pub bytes: usize,
    /// The run's conversation id, for the conversation store once the turn finishes.
    pub conversation_id: String,
}

impl Parked {
    /// Parks `run` under the ids of `calls` (as handed to the client), each minted for
    /// the Cursor id at the same place in `cursor_ids`, with its size estimated now.
    pub fn new(
        run: ChatRun,
        calls: &[ToolCall],
        cursor_ids: Vec<String>,
        model: String,
        reported: Usage,
        blobs: BlobStore,
    ) -> Parked {
        let checkpoint = run.handle().checkpoint().map_or(0, |c| c.len());
        let bytes = Parked::estimate(calls, &model, checkpoint, blobs.total_bytes())
            + cursor_ids.iter().map(String::len).sum::<usize>();
        Parked {
            run,
            call_ids: calls.iter().map(|c| c.call_id.clone()).collect(),
            cursor_ids,
            prefix: [0; 32],
            model,
            reported,
            parked_at: Instant::now(),
            blobs,
            bytes,
            conversation_id: String::new(),
        }
    }

    /// Names the conversation the run belongs to: its id, and the prefix key a
    /// continuation must carry.
    pub(crate) fn in_conversation(mut self, id: impl Into<String>, prefix: [u8; 32]) -> Parked {
        self.conversation_id = id.into();
        self.prefix = prefix;
        self
    }

    /// Cursor's id for the call minted as `minted`.
    pub(crate) fn cursor_id(&self, minted: &str) -> Option<&str> {
        let i = self.call_ids.iter().position(|id| id == minted)?;
        self.cursor_ids.get(i).map(String::as_str)
    }
}

/// A fresh tool-call id for the client: `call_` and 128 random bits in hex, from the
/// OS-seeded RNG, so an id names one call of one run and cannot be guessed.
pub(crate) fn mint_call_id() -> String {
    use std::fmt::Write as _;
    let bits: u128 = rand::random();
    let mut id = String::with_capacity(5 + 32);
    id.push_str("call_");
    // Writing to a `String` cannot fail.
    let _ = write!(id, "{bits:032x}");
    id
}

impl Parked {
    /// The memory a parked run holds: [`PARKED_RUN_OVERHEAD`], the tool calls it waits on
    /// (ids, names, arguments as JSON), the model name, its last checkpoint and the
    /// conversation's blobs. Nothing else grows while a run is parked: the results are
    /// not held here, they go straight onto the stream when they arrive.
    pub fn estimate(
        calls: &[ToolCall],
        model: &str,
        checkpoint_bytes: usize,
        blob_bytes: usize,
    ) -> usize {
        let calls: usize = calls
            .iter()
            .map(|c| c.call_id.len() + c.name.len() + json_len(&c.arguments))
            .sum();
        PARKED_RUN_OVERHEAD + calls + model.len() + checkpoint_bytes + blob_bytes
    }
}

/// The length of `v` written as compact JSON, without writing it.
fn json_len(v: &serde_json::Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    // Writing a `Value` to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut n, v);
    n.0
}

/// What the lot needs to know about an entry.
trait Entry {
    fn call_ids(&self) -> &[String];
    fn prefix(&self) -> [u8; 32];
    fn bytes(&self) -> usize;
    /// Past its TTL, or its run has ended on its own.
    fn is_stale(&self, ttl: Duration, now: Instant) -> bool;
}

impl Entry for Parked {
    fn call_ids(&self) -> &[String] {
        &self.call_ids
    }

    fn prefix(&self) -> [u8; 32] {
        self.prefix
    }

    fn bytes(&self) -> usize {
        self.bytes
    }

    fn is_stale(&self, ttl: Duration, now: Instant) -> bool {
        now.duration_since(self.parked_at) >= ttl || self.run.handle().is_finished()
    }
}

/// The bookkeeping, apart from the lock and the runs (so it is unit-testable).
#[derive(Debug)]
struct Lot<E> {
    next: u64,
    by_call: HashMap<String, u64>,
    /// Oldest first (keys increase).
    parked: BTreeMap<u64, E>,
    /// Σ `bytes()` of `parked`.
    bytes: usize,
}

impl<E> Default for Lot<E> {
    fn default() -> Self {
        Lot {
            next: 0,
            by_call: HashMap::new(),
            parked: BTreeMap::new(),
            bytes: 0,
        }
    }
}

/// The bounds of a lot.
#[derive(Debug, Clone, Copy)]
struct Limits {
    ttl: Duration,
    max: usize,
    max_bytes: usize,
}

impl<E: Entry> Lot<E> {
    fn remove(&mut self, key: u64) -> Option<E> {
        let p = self.parked.remove(&key)?;
        for id in p.call_ids() {
            // Only if the id still points here: a newer entry may have taken it over.
            if self.by_call.get(id) == Some(&key) {
                self.by_call.remove(id);
            }
        }
        self.bytes -= p.bytes();
        Some(p)
    }

    fn take_stale(&mut self, ttl: Duration, now: Instant) -> Vec<E> {
        let stale: Vec<u64> = self
            .parked
            .iter()
            .filter(|(_, p)| p.is_stale(ttl, now))
            .map(|(k, _)| *k)
            .collect();
        stale.into_iter().filter_map(|k| self.remove(k)).collect()
    }

    /// Adds `entry`; returns what had to go: stale entries, then the oldest while over
    /// either bound (the new entry itself last, when it alone is over the byte budget).
    fn insert(&mut self, entry: E, limits: Limits, now: Instant) -> Vec<E> {
        let mut evicted = self.take_stale(limits.ttl, now);
        let key = self.next;
        self.next += 1;
        for id in entry.call_ids() {
            // An id parked twice: the newer run wins; the older loses that id.
            self.by_call.insert(id.clone(), key);
        }
        self.bytes += entry.bytes();
        self.parked.insert(key, entry);
        while self.parked.len() > limits.max || self.bytes > limits.max_bytes {
            let Some(oldest) = self.parked.keys().next().copied() else {
                break;
            };
            if let Some(p) = self.remove(oldest) {
                evicted.push(p);
            }
        }
        evicted
    }

    /// The entry waiting for exactly `call_ids` (all of them, nothing else) under
    /// `prefix`. A mismatch leaves the entry where it is: it still belongs to its owner.
    fn take(&mut self, call_ids: &[String], prefix: [u8; 32]) -> Option<E> {
        let key = call_ids
            .iter()
            .find_map(|id| self.by_call.get(id).copied())?;
        let entry = self.parked.get(&key)?;
        let wanted: HashSet<&String> = entry.call_ids().iter().collect();
        let given: HashSet<&String> = call_ids.iter().collect();
        if wanted != given || entry.prefix() != prefix {
            return None;
        }
        self.remove(key)
    }

    fn clear(&mut self) -> BTreeMap<u64, E> {
        self.by_call.clear();
        self.bytes = 0;
        std::mem::take(&mut self.parked)
    }
}

/// The parking lot.
#[derive(Debug)]
pub struct Sessions {
    inner: Mutex<Lot<Parked>>,
    limits: Limits,
}

impl Sessions {
    /// At most `max` runs holding at most `max_bytes` (estimated), each for `ttl`.
    pub fn new(ttl: Duration, max: usize, max_bytes: u64) -> Self {
        Sessions {
            inner: Mutex::new(Lot::default()),
            limits: Limits {
                ttl,
                max: max.max(1),
                max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX),
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lot<Parked>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Parks a run. Expired runs and, beyond either bound, the oldest are evicted (and so
    /// cancelled).
    pub(crate) fn park(&self, parked: Parked) {
        let (evicted, count, bytes) = {
            let mut inner = self.lock();
            let evicted = inner.insert(parked, self.limits, Instant::now());
            (evicted, inner.parked.len(), inner.bytes)
        };
        if !evicted.is_empty() {
            tracing::info!(
                evicted = evicted.len(),
                parked = count,
                parked_bytes = bytes,
                "cancelled expired or the oldest parked Cursor stream(s) (limits: {} streams, {} bytes)",
                self.limits.max,
                self.limits.max_bytes
            );
        }
        drop(evicted);
    }

    /// Takes the live run waiting for exactly these tool-call ids under `prefix` (the
    /// prefix key of the continuation's messages before the step's assistant message).
    pub(crate) fn take(&self, call_ids: &[String], prefix: [u8; 32]) -> Option<Parked> {
        let (found, expired) = {
            let mut inner = self.lock();
            let expired = inner.take_stale(self.limits.ttl, Instant::now());
            (inner.take(call_ids, prefix), expired)
        };
        drop(expired);
        found
    }

    /// Cancels expired runs; called periodically by the server.
    pub(crate) fn sweep(&self) -> usize {
        let expired = self.lock().take_stale(self.limits.ttl, Instant::now());
        let n = expired.len();
        drop(expired);
        n
    }

    /// Number of parked runs.
    pub(crate) fn len(&self) -> usize {
        self.lock().parked.len()
    }

    /// Estimated memory held by the parked runs ([`Parked::estimate`]).
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Cancels every parked run (the proxy stops).
    pub(crate) fn clear(&self) {
        let all = self.lock().clear();
        drop(all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry of a given size.
    #[derive(Debug)]
    struct E {
        name: &'static str,
        ids: Vec<String>,
        prefix: [u8; 32],
        bytes: usize,
        finished: bool,
        at: Instant,
    }

    impl Entry for E {
        fn call_ids(&self) -> &[String] {
            &self.ids
        }
        fn prefix(&self) -> [u8; 32] {
            self.prefix
        }
        fn bytes(&self) -> usize {
            self.bytes
        }
        fn is_stale(&self, ttl: Duration, now: Instant) -> bool {
            now.duration_since(self.at) >= ttl || self.finished
        }
    }

    fn e(name: &'static str, bytes: usize) -> E {
        E {
            name,
            ids: vec![format!("call_{name}")],
            prefix: P,
            bytes,
            finished: false,
            at: Instant::now(),
        }
    }

    /// The prefix key the test entries are parked under.
    const P: [u8; 32] = [7; 32];

    fn limits(max: usize, max_bytes: usize) -> Limits {
        Limits {
            ttl: Duration::from_secs(600),
            max,
            max_bytes,
        }
    }

    fn names(v: &[E]) -> Vec<&'static str> {
        v.iter().map(|e| e.name).collect()
    }

    #[test]
    fn bytes_are_summed_and_released_on_take() {
        let mut lot = Lot::default();
        let l = limits(10, 1000);
        let now = Instant::now();
        assert!(lot.insert(e("a", 100), l, now).is_empty());
        assert!(lot.insert(e("b", 250), l, now).is_empty());
        assert_eq!(lot.bytes, 350);
        let b = lot.take(&["call_b".into()], P).expect("b is parked");
        assert_eq!(b.name, "b");
        assert_eq!(lot.bytes, 100);
        assert!(lot.take(&["call_b".into()], P).is_none(), "taken once");
        assert_eq!(names(&lot.clear().into_values().collect::<Vec<_>>()), ["a"]);
        assert_eq!(lot.bytes, 0);
    }

    #[test]
    fn over_the_byte_budget_the_oldest_go_first_until_under() {
        let mut lot = Lot::default();
        let l = limits(10, 1000);
        let now = Instant::now();
        for (n, b) in [("a", 300), ("b", 300), ("c", 300)] {
            assert!(lot.insert(e(n, b), l, now).is_empty());
        }
        // 900 + 500 = 1400 > 1000: a (300) goes → 1100, still over: b goes → 800.
        let gone = lot.insert(e("d", 500), l, now);
        assert_eq!(names(&gone), ["a", "b"]);
        assert_eq!(lot.bytes, 800);
        assert_eq!(lot.parked.len(), 2);
        assert!(lot.by_call.contains_key("call_c") && lot.by_call.contains_key("call_d"));
        assert!(!lot.by_call.contains_key("call_a"));
        // Exactly at the budget is within it.
        assert!(lot.insert(e("e", 200), l, now).is_empty());
        assert_eq!(lot.bytes, 1000);
    }

    #[test]
    fn an_entry_bigger_than_the_budget_is_not_kept() {
        let mut lot = Lot::default();
        let l = limits(10, 1000);
        let now = Instant::now();
        assert!(lot.insert(e("a", 100), l, now).is_empty());
        let gone = lot.insert(e("huge", 5000), l, now);
        assert_eq!(names(&gone), ["a", "huge"]);
        assert_eq!((lot.bytes, lot.parked.len(), lot.by_call.len()), (0, 0, 0));
    }

    #[test]
    fn the_count_bound_still_holds_and_stale_entries_go_first() {
        let mut lot = Lot::default();
        let l = limits(2, usize::MAX);
        let now = Instant::now();
        assert!(lot.insert(e("a", 10), l, now).is_empty());
        assert!(lot.insert(e("b", 10), l, now).is_empty());
        // a's run ends on its own: it is swept before counting, so b stays.
        lot.parked
            .values_mut()
            .for_each(|e| e.finished = e.name == "a");
        let gone = lot.insert(e("c", 10), l, now);
        assert_eq!(names(&gone), ["a"]);
        let gone = lot.insert(e("d", 10), l, now);
        assert_eq!(names(&gone), ["b"]);
        assert_eq!(lot.bytes, 20);
        let later = now + Duration::from_secs(601);
        assert_eq!(names(&lot.take_stale(l.ttl, later)), ["c", "d"]);
        assert_eq!(lot.bytes, 0);
    }

    #[test]
    fn an_id_parked_twice_belongs_to_the_newer_entry() {
        let mut lot = Lot::default();
        let l = limits(10, usize::MAX);
        let now = Instant::now();
        let mut older = e("older", 10);
        older.ids.push("call_shared".into());
        let mut newer = e("newer", 10);
        newer.ids.push("call_shared".into());
        lot.insert(older, l, now);
        lot.insert(newer, l, now);
        // Removing the older one must not unmap the id the newer one owns now.
        assert_eq!(
            lot.take(&["call_older".into(), "call_shared".into()], P)
                .map(|e| e.name),
            Some("older")
        );
        assert_eq!(
            lot.take(&["call_shared".into(), "call_newer".into()], P)
                .map(|e| e.name),
            Some("newer")
        );
        assert_eq!((lot.bytes, lot.by_call.len()), (0, 0));
    }

    #[test]
    fn only_every_id_of_the_step_under_its_prefix_takes_the_entry() {
        let mut lot = Lot::default();
        let l = limits(10, usize::MAX);
        let now = Instant::now();
        let mut a = e("a", 10);
        a.ids.push("call_a2".into());
        lot.insert(a, l, now);
        let mut b = e("b", 10);
        b.prefix = [9; 32];
        lot.insert(b, l, now);
        // Some of the ids, extra ids, the right ids under another conversation's prefix,
        // another run's ids mixed in: none of them takes a run, and the runs stay.
        assert!(lot.take(&["call_a".into()], P).is_none());
        assert!(lot.take(&["call_a2".into()], P).is_none());
        assert!(
            lot.take(&["call_a".into(), "call_a2".into(), "call_x".into()], P)
                .is_none()
        );
        assert!(
            lot.take(&["call_a".into(), "call_a2".into()], [9; 32])
                .is_none()
        );
        assert!(
            lot.take(&["call_b".into(), "call_a".into()], [9; 32])
                .is_none()
        );
        assert!(lot.take(&["call_b".into()], P).is_none());
        assert_eq!(lot.parked.len(), 2);
        // The owners, in any order.
        let ids = ["call_a2".into(), "call_a".into()];
        assert_eq!(lot.take(&ids, P).map(|e| e.name), Some("a"));
        assert_eq!(
            lot.take(&["call_b".into()], [9; 32]).map(|e| e.name),
            Some("b")
        );
        assert_eq!((lot.bytes, lot.by_call.len()), (0, 0));
    }

    #[test]
    fn minted_ids_are_128_random_bits() {
        let ids: HashSet<String> = (0..1000).map(|_| mint_call_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let hex = id.strip_prefix("call_").expect("call_ prefix");
            assert_eq!(hex.len(), 32);
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn the_estimate_counts_calls_model_checkpoint_and_blobs() {
        let calls = [
            ToolCall {
                call_id: "call_1".into(),
                name: "read".into(),
                arguments: serde_json::json!({"filePath": "/a"}),
            },
            ToolCall {
                call_id: "call_22".into(),
                name: "bash".into(),
                arguments: serde_json::json!({"command": "x".repeat(1000)}),
            },
        ];
        let args: usize = calls.iter().map(|c| c.arguments.to_string().len()).sum();
        let expected = PARKED_RUN_OVERHEAD + (6 + 4) + (7 + 4) + args + "auto".len() + 300 + 4000;
        assert_eq!(Parked::estimate(&calls, "auto", 300, 4000), expected);
        assert_eq!(
            json_len(&calls[1].arguments),
            calls[1].arguments.to_string().len()
        );
    }
}
