//! Private files after a real run: the data directory 0700, and every file a chat leaves
//! there (ledger with its WAL and shared memory, conversation store, local key,
//! credentials) 0600 — tightened when an older version left them looser.

use crate::common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use common::Harness;
use common::proxy::{Proxy, fake_playing};
use cursor_bridge_core::config::settings::Paths;
use cursor_bridge_tests::Turn;
use serde_json::json;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[tokio::test]
async fn a_chat_leaves_only_owner_readable_files_and_tightens_loose_ones() {
    let h = Harness::signed_in(fake_playing(vec![Turn::reply("Paris.")]).await).await;
    let paths = Paths::resolve(&h.env).expect("paths");
    // As an older version (or a 022 umask) left them: world-readable.
    chmod(&paths.data_dir, 0o755);
    std::fs::write(paths.ledger_file(), b"").expect("an old empty ledger");
    chmod(&paths.ledger_file(), 0o644);

    let mut p = Proxy::start_with(h, |s| s.conversation_store_persist = true).await;
    let res = p
        .post(&json!({"model": "auto", "messages": [{"role": "user", "content": "capital?"}]}))
        .await;
    assert_eq!(res.status(), 200);
    // The WAL and shared-memory files exist while a connection is open (the proxy's).
    assert_eq!(mode(&paths.data_dir), 0o700, "the data directory");
    let data = paths.data_dir.display().to_string();
    for name in ["ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"] {
        assert_eq!(mode(&paths.data_dir.join(name)), 0o600, "{data}/{name}");
    }
    p.stop().await;
    for entry in std::fs::read_dir(&paths.data_dir).expect("list") {
        let path = entry.expect("entry").path();
        // A public Cursor version number, nothing private (the 0700 directory covers it).
        let public = path.ends_with("client-version.json");
        if path.is_file() && !public {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    assert!(
        paths.conversations_file().exists(),
        "the store was written, so the loop above checked it"
    );
}
