//! The content-addressed blob store Cursor's agent reads and writes through KV messages
//! (reference §3.7): blob id = SHA-256 of the data. One store lives as long as the
//! conversation it serves, so a later run can resume from a checkpoint whose blob ids
//! point into it.
//!
//! Lock choice: a `std::sync::Mutex` — every critical section is a map lookup or insert,
//! never held across an `.await`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// Cheap-clone handle to one conversation's blobs.
#[derive(Clone, Debug, Default)]
pub struct BlobStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug, Default)]
struct Inner {
    blobs: HashMap<Bytes, Bytes>,
    bytes: usize,
}

/// The id Cursor uses for `data`.
pub fn blob_id(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

impl BlobStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `data` under the id the server chose (normally its SHA-256).
    pub fn put(&self, id: Bytes, data: Bytes) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let added = data.len();
        if let Some(old) = g.blobs.insert(id, data) {
            g.bytes -= old.len();
        }
        g.bytes += added;
    }

    /// Stores `data` under its SHA-256 and returns the id.
    pub fn put_content(&self, data: Bytes) -> [u8; 32] {
        let id = blob_id(&data);
        self.put(Bytes::copy_from_slice(&id), data);
        id
    }

    /// The blob with this id, if we have it.
    pub fn get(&self, id: &[u8]) -> Option<Bytes> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blobs
            .get(id)
            .cloned()
    }

    /// Number of blobs held.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blobs
            .len()
    }

    /// True when no blob is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every `(id, data)` pair held (cheap: the bytes are shared), for the conversation
    /// store to keep after the run.
    pub fn entries(&self) -> Vec<(Bytes, Bytes)> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blobs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Total payload bytes held (for memory accounting of parked conversations).
    pub fn total_bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_addressed_roundtrip_and_accounting() {
        let s = BlobStore::new();
        let id = s.put_content(Bytes::from_static(b"hello"));
        assert_eq!(
            hex::encode(id),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(s.get(&id).as_deref(), Some(&b"hello"[..]));
        assert_eq!(s.get(&[0u8; 32]), None);
        s.put(Bytes::copy_from_slice(&id), Bytes::from_static(b"hi"));
        assert_eq!((s.len(), s.total_bytes()), (1, 2));
    }
}
