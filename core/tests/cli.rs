//! The `cursor-bridge` binary end to end against the fake Cursor.

use tokio::process::Command;

use cursor_bridge_tests::FakeCursor;

#[tokio::test]
async fn models_lists_the_catalogue() {
    let fake = FakeCursor::builder().start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = fake.mint_access_token(std::time::Duration::from_secs(3600));
    let out = Command::new(env!("CARGO_BIN_EXE_cursor-bridge"))
        .args(["models", "--json"])
        .env("CURSOR_BRIDGE_HOME", dir.path())
        .env("CURSOR_BRIDGE_API_URL", fake.url())
        .env("CURSOR_ACCESS_TOKEN", token)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.as_array().unwrap().len() >= 3);
}
