//! One version for the workspace, the app and its packages: `[workspace.package]` in the
//! root `Cargo.toml` is the source, and the two files that must repeat it say the same.
//! `tauri.conf.json` names the version the bundler writes into the .deb/.rpm (its CLI
//! cannot read a virtual workspace's version); `ui/package.json` is the web UI's.

use std::path::Path;

fn version_in(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
    let text = std::fs::read_to_string(&path).expect("the file exists");
    let json: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    json["version"]
        .as_str()
        .unwrap_or_else(|| panic!("{file} has a \"version\" string"))
        .to_string()
}

#[test]
fn tauri_conf_and_ui_package_carry_the_workspace_version() {
    let workspace = env!("CARGO_PKG_VERSION");
    assert_eq!(
        version_in("tauri.conf.json"),
        workspace,
        "tauri.conf.json's version (the packages') differs from the workspace's"
    );
    assert_eq!(
        version_in("ui/package.json"),
        workspace,
        "ui/package.json's version differs from the workspace's"
    );
}
