//! A real OS-keychain round trip through `KeyringStore`.
//!
//! Needs a reachable keychain, so it runs only when `CURSOR_BRIDGE_TEST_KEYCHAIN=1` (CI sets
//! it under `dbus-run-session` with an unlocked gnome-keyring); otherwise it says it is
//! skipped and passes. Locally:
//! `HOME=$(mktemp -d) dbus-run-session -- bash -c 'printf ci | gnome-keyring-daemon --unlock
//! --components=secrets >/dev/null; CURSOR_BRIDGE_TEST_KEYCHAIN=1 cargo test -p
//! cursor-bridge-core --test keychain'`.

use cursor_bridge_core::store::credentials::{CredentialStore, Credentials, KeyringStore};

#[test]
fn keyring_roundtrip_when_secret_service_present() {
    if std::env::var("CURSOR_BRIDGE_TEST_KEYCHAIN").as_deref() != Ok("1") {
        eprintln!("skipped: set CURSOR_BRIDGE_TEST_KEYCHAIN=1 with a reachable OS keychain to run");
        return;
    }
    // A unique service, so parallel runs and a developer's real entry are never touched.
    let service = format!("cursor-bridge-test-{}", uuid::Uuid::new_v4());
    let store = KeyringStore::new(&service, "cursor-session");
    assert_eq!(store.load().expect("load before save"), None);

    let first = Credentials {
        access_token: "access-1".into(),
        refresh_token: Some("refresh-1".into()),
        api_key: None,
    };
    store.save(&first).expect("save");
    assert_eq!(store.load().expect("load"), Some(first));

    // Saving again updates the one entry in place (no delete + recreate).
    let second = Credentials {
        access_token: "access-2".into(),
        refresh_token: Some("refresh-2".into()),
        api_key: Some("key-2".into()),
    };
    store.save(&second).expect("update");
    assert_eq!(store.load().expect("load after update"), Some(second));

    // A second handle on the same entry sees the same secret.
    let again = KeyringStore::new(&service, "cursor-session");
    assert_eq!(
        again
            .load()
            .expect("load via second handle")
            .unwrap()
            .access_token,
        "access-2"
    );

    store.delete().expect("delete");
    assert_eq!(store.load().expect("load after delete"), None);
    store.delete().expect("deleting nothing is fine");
}
