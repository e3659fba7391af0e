//! The conversation store: the last checkpoint and blob store of each finished
//! conversation, keyed by [`super::history::prefix_key`] of the messages it answered
//! (the request's messages plus the answer produced), so the next user turn of the same
//! conversation continues from Cursor's own checkpoint instead of a rebuilt history.
//!
//! It holds the user's prompts and code, so it is bounded three ways (entries, bytes,
//! age; oldest evicted first), keeps only the newest checkpoint of each conversation,
//! and is written to `<data_dir>/conversations.json` (atomically, mode 0600) only when
//! persistence is on — off, an existing file is deleted. A file that does not parse is
//! ignored with a warning: losing it only costs a structured rebuild.
//!
//! Lock choice: a `std::sync::Mutex` over one map (lookups, inserts, evictions; never held
//! across an `.await` or while writing the file). Writes run on the blocking pool; one
//! at a time (`writing`), coalesced through `dirty`, each from a fresh snapshot.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::cursor::blobs::BlobStore;

/// Fixed cost of one entry beyond its data (key, id, map slot).
const ENTRY_OVERHEAD: usize = 128;
const FILE_VERSION: u32 = 1;

/// How much the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most conversations kept (setting `conversation_store_max`).
    pub max_entries: usize,
    /// The most bytes of checkpoints and blobs kept, entry overhead included (setting
    /// `conversation_store_max_bytes`); a single conversation larger than this is not kept.
    pub max_bytes: u64,
    /// How long an entry lives after it was saved (setting `conversation_store_ttl_hours`).
    pub ttl: Duration,
}

// Here rather than in `config`, so that settings depend on nothing of ours: the settings
// know their numbers, the store knows what it builds from them.
impl crate::config::settings::Settings {
    /// The bounds of the conversation store (this module).
    pub fn conversation_limits(&self) -> Limits {
        Limits {
            max_entries: self.conversation_store_max as usize,
            max_bytes: self.conversation_store_max_bytes,
            ttl: Duration::from_secs(self.conversation_store_ttl_hours.saturating_mul(3600)),
        }
    }
}

/// A stored checkpoint, ready to continue from.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The serialized `ConversationStateStructure` Cursor sent last, verbatim.
    pub checkpoint: Bytes,
    /// Every blob the conversation's runs read or wrote.
    pub blobs: BlobStore,
    /// The conversation id the runs used (the continuation keeps it).
    pub conversation_id: String,
}

#[derive(Debug, Clone)]
struct Entry {
    checkpoint: Bytes,
    blobs: Vec<(Bytes, Bytes)>,
    conversation_id: String,
    saved_at_ms: i64,
    bytes: usize,
}

impl Entry {
    fn is_expired(&self, ttl: Duration, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.saved_at_ms)
            >= i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)
    }
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<[u8; 32], Entry>,
    bytes: u64,
}

/// Cheap-clone handle to the store.
#[derive(Debug, Clone)]
pub struct ConversationStore {
    inner: Arc<Mutex<Inner>>,
    limits: Limits,
    /// Where it is persisted; `None` keeps it in memory only.
    file: Option<PathBuf>,
    dirty: Arc<AtomicBool>,
    writing: Arc<Mutex<()>>,
}

/// The on-disk form (binary data base64-encoded).
#[derive(Serialize, Deserialize)]
struct FileForm {
    version: u32,
    entries: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    key: String,
    conversation_id: String,
    saved_at_ms: i64,
    checkpoint: String,
    /// `[id, data]` pairs.
    blobs: Vec<[String; 2]>,
}

/// The store's file in `data_dir`.
pub(crate) fn file_in(data_dir: &Path) -> PathBuf {
    data_dir.join(crate::config::settings::CONVERSATIONS_FILE)
}

/// Deletes the persisted store in `data_dir`; `true` when there was one.
pub fn forget_file(data_dir: &Path) -> std::io::Result<bool> {
    match std::fs::remove_file(file_in(data_dir)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

fn now_ms() -> i64 {
    crate::store::ledger::unix_now_ms()
}

impl ConversationStore {
    /// An in-memory store.
    pub(crate) fn in_memory(limits: Limits) -> Self {
        ConversationStore {
            inner: Arc::default(),
            limits,
            file: None,
            dirty: Arc::default(),
            writing: Arc::default(),
        }
    }

    /// The store of `data_dir`: loaded from its file when `persist` is on (a damaged
    /// file is ignored with a warning), the file deleted when it is off.
    pub fn open(data_dir: &Path, persist: bool, limits: Limits) -> Self {
        let mut store = Self::in_memory(limits);
        let path = file_in(data_dir);
        if !persist {
            if let Err(e) = forget_file(data_dir) {
                tracing::warn!(
                    "conversation store persistence is off but {} could not be deleted: {e}",
                    path.display()
                );
            }
            return store;
        }
        match std::fs::read(&path) {
            Ok(bytes) => match decode_file(&bytes) {
                Ok(entries) => {
                    let mut g = store.lock();
                    for (k, e) in entries {
                        g.bytes += e.bytes as u64;
                        g.map.insert(k, e);
                    }
                    evict(&mut g, &limits, now_ms());
                }
                Err(e) => tracing::warn!(
                    "ignoring the conversation store {} ({e}); conversations continue from \
                     their rebuilt history",
                    path.display()
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("cannot read the conversation store {}: {e}", path.display()),
        }
        store.file = Some(path);
        store
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The checkpoint stored under `key`, unless it expired.
    pub(crate) fn get(&self, key: &[u8; 32]) -> Option<Stored> {
        let g = self.lock();
        let e = g.map.get(key)?;
        if e.is_expired(self.limits.ttl, now_ms()) {
            return None;
        }
        let blobs = BlobStore::new();
        for (id, data) in &e.blobs {
            blobs.put(id.clone(), data.clone());
        }
        Some(Stored {
            checkpoint: e.checkpoint.clone(),
            blobs,
            conversation_id: e.conversation_id.clone(),
        })
    }

    /// Keeps `stored` under `key`, replacing the conversation's older checkpoint, and
    /// schedules a write of the file.
    pub fn put(&self, key: [u8; 32], stored: &Stored) {
        let blobs = stored.blobs.entries();
        let bytes = ENTRY_OVERHEAD
            + stored.checkpoint.len()
            + stored.conversation_id.len()
            + blobs.iter().map(|(i, d)| i.len() + d.len()).sum::<usize>();
        if bytes as u64 > self.limits.max_bytes {
            tracing::info!(
                bytes,
                "a conversation checkpoint is larger than conversation_store_max_bytes; not kept"
            );
            return;
        }
        {
            let mut g = self.lock();
            let older: Vec<[u8; 32]> = g
                .map
                .iter()
                .filter(|(_, e)| e.conversation_id == stored.conversation_id)
                .map(|(k, _)| *k)
                .collect();
            for k in older {
                if let Some(e) = g.map.remove(&k) {
                    g.bytes -= e.bytes as u64;
                }
            }
            let entry = Entry {
                checkpoint: stored.checkpoint.clone(),
                blobs,
                conversation_id: stored.conversation_id.clone(),
                saved_at_ms: now_ms(),
                bytes,
            };
            g.bytes += bytes as u64;
            if let Some(old) = g.map.insert(key, entry) {
                g.bytes -= old.bytes as u64;
            }
            evict(&mut g, &self.limits, now_ms());
        }
        self.schedule_write();
    }

    /// Forgets everything, in memory and on disk; the number of conversations dropped.
    pub(crate) fn clear(&self) -> std::io::Result<usize> {
        let n = {
            let mut g = self.lock();
            let n = g.map.len();
            *g = Inner::default();
            n
        };
        if let Some(path) = &self.file {
            let _w = self.writing.lock().unwrap_or_else(|p| p.into_inner());
            self.dirty.store(false, Ordering::SeqCst);
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Conversations held.
    pub(crate) fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// True when nothing is held.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held (the figure bounded by `max_bytes`).
    #[cfg(test)]
    pub(crate) fn total_bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// True when it was opened as `persist` and `limits` ask (else reopen it).
    pub(crate) fn opened_as(&self, persist: bool, limits: Limits) -> bool {
        self.file.is_some() == persist && self.limits == limits
    }

    fn schedule_write(&self) {
        if self.file.is_none() {
            return;
        }
        self.dirty.store(true, Ordering::SeqCst);
        let me = self.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(move || me.flush());
            }
            Err(_) => me.flush(),
        }
    }

    /// Writes the file now if anything changed since the last write (also called when the
    /// proxy stops). A failed write is logged; the store keeps serving from memory.
    pub fn flush(&self) {
        let Some(path) = &self.file else { return };
        let _w = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if !self.dirty.swap(false, Ordering::SeqCst) {
            return;
        }
        let bytes = {
            let g = self.lock();
            encode_file(&g)
        };
        if let Err(e) = crate::config::settings::write_atomic(path, &bytes, true) {
            tracing::warn!(
                "cannot write the conversation store {}: {e}",
                path.display()
            );
        }
    }
}

/// Drops expired entries, then the oldest until the count and byte bounds hold.
fn evict(g: &mut Inner, limits: &Limits, now: i64) {
    let expired: Vec<[u8; 32]> = g
        .map
        .iter()
        .filter(|(_, e)| e.is_expired(limits.ttl, now))
        .map(|(k, _)| *k)
        .collect();
    for k in expired {
        if let Some(e) = g.map.remove(&k) {
            g.bytes -= e.bytes as u64;
        }
    }
    while g.map.len() > limits.max_entries || g.bytes > limits.max_bytes {
        let Some(oldest) = g
            .map
            .iter()
            .min_by_key(|(_, e)| e.saved_at_ms)
            .map(|(k, _)| *k)
        else {
            break;
        };
        if let Some(e) = g.map.remove(&oldest) {
            g.bytes -= e.bytes as u64;
        }
    }
}

fn encode_file(g: &Inner) -> Vec<u8> {
    let entries = g
        .map
        .iter()
        .map(|(k, e)| FileEntry {
            key: hex::encode(k),
            conversation_id: e.conversation_id.clone(),
            saved_at_ms: e.saved_at_ms,
            checkpoint: B64.encode(&e.checkpoint),
            blobs: e
                .blobs
                .iter()
                .map(|(i, d)| [B64.encode(i), B64.encode(d)])
                .collect(),
        })
        .collect();
    serde_json::to_vec(&FileForm {
        version: FILE_VERSION,
        entries,
    })
    .unwrap_or_default()
}

fn decode_file(bytes: &[u8]) -> Result<Vec<([u8; 32], Entry)>, String> {
    let form: FileForm = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if form.version != FILE_VERSION {
        return Err(format!("unknown version {}", form.version));
    }
    let b64 = |s: &str| B64.decode(s).map(Bytes::from).map_err(|e| e.to_string());
    form.entries
        .into_iter()
        .map(|f| {
            let key: [u8; 32] = hex::decode(&f.key)
                .ok()
                .and_then(|k| k.try_into().ok())
                .ok_or("a key is not 32 hex bytes")?;
            let checkpoint = b64(&f.checkpoint)?;
            let blobs = f
                .blobs
                .iter()
                .map(|[i, d]| Ok((b64(i)?, b64(d)?)))
                .collect::<Result<Vec<_>, String>>()?;
            let bytes = ENTRY_OVERHEAD
                + checkpoint.len()
                + f.conversation_id.len()
                + blobs.iter().map(|(i, d)| i.len() + d.len()).sum::<usize>();
            Ok((
                key,
                Entry {
                    checkpoint,
                    blobs,
                    conversation_id: f.conversation_id,
                    saved_at_ms: f.saved_at_ms,
                    bytes,
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_entries: 3,
        max_bytes: 1 << 20,
        ttl: Duration::from_secs(3600),
    };

    fn stored(id: &str, blob: &'static [u8]) -> Stored {
        let blobs = BlobStore::new();
        blobs.put_content(Bytes::from_static(blob));
        Stored {
            checkpoint: Bytes::from(format!("state of {id}")),
            blobs,
            conversation_id: id.into(),
        }
    }

    #[test]
    fn keeps_the_newest_checkpoint_of_a_conversation_and_evicts_the_oldest() {
        let s = ConversationStore::in_memory(LIMITS);
        s.put([1; 32], &stored("a", b"one"));
        s.put([2; 32], &stored("a", b"two"));
        assert!(s.get(&[1; 32]).is_none(), "replaced by the newer turn");
        let got = s.get(&[2; 32]).unwrap();
        assert_eq!(got.checkpoint, "state of a");
        assert_eq!(got.blobs.len(), 1);
        for (k, id) in [(3u8, "b"), (4, "c"), (5, "d")] {
            std::thread::sleep(Duration::from_millis(2));
            s.put([k; 32], &stored(id, b"x"));
        }
        assert_eq!(s.len(), 3);
        assert!(s.get(&[2; 32]).is_none(), "the oldest went first");
        assert_eq!(s.clear().unwrap(), 3);
        assert!(s.is_empty());
        assert_eq!(s.total_bytes(), 0);
    }

    #[test]
    fn bytes_and_age_bound_it() {
        let small = Limits {
            max_bytes: 400,
            ..LIMITS
        };
        let s = ConversationStore::in_memory(small);
        s.put([1; 32], &stored("a", &[7; 200]));
        std::thread::sleep(Duration::from_millis(2));
        s.put([2; 32], &stored("b", &[8; 200]));
        assert_eq!(s.len(), 1, "two do not fit in 400 bytes");
        assert!(s.get(&[2; 32]).is_some());
        s.put([3; 32], &stored("c", &[9; 500]));
        assert!(s.get(&[3; 32]).is_none(), "larger than the whole budget");
        let stale = ConversationStore::in_memory(Limits {
            ttl: Duration::ZERO,
            ..LIMITS
        });
        stale.put([1; 32], &stored("a", b"x"));
        assert!(stale.get(&[1; 32]).is_none());
    }

    #[test]
    fn persists_roundtrip_private_and_ignores_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let s = ConversationStore::open(dir.path(), true, LIMITS);
        s.put([1; 32], &stored("a", b"blob"));
        s.flush();
        let path = file_in(dir.path());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = ConversationStore::open(dir.path(), true, LIMITS);
        let got = again.get(&[1; 32]).unwrap();
        assert_eq!(got.conversation_id, "a");
        assert_eq!(
            got.blobs
                .get(&crate::cursor::blobs::blob_id(b"blob"))
                .as_deref(),
            Some(&b"blob"[..])
        );
        std::fs::write(&path, b"{not json").unwrap();
        assert!(ConversationStore::open(dir.path(), true, LIMITS).is_empty());
        let off = ConversationStore::open(dir.path(), false, LIMITS);
        off.put([1; 32], &stored("a", b"blob"));
        off.flush();
        assert!(!path.exists(), "persistence off: nothing on disk");
    }
}
