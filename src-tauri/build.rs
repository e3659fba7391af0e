//! Tauri's build step for a config at the repository root.
//!
//! tauri-build 2.6 reads `tauri.conf.json` from the build script's working directory and
//! has no config-path attribute, so the step runs from the repository root: paths in the
//! config (icons, `frontendDist`) are then relative to the config, as Tauri intends, and
//! `generate_context!("../tauri.conf.json")` in `lib.rs` reads the same file. Tauri's
//! generated schemas land in `<root>/gen/` (ignored by git).

fn main() {
    // Read at run time, not with `env!`: cargo reuses a compiled build script across
    // clones sharing one target dir, and a path baked in at compile time then points
    // at whichever clone built it first (or at nothing once that clone is gone).
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = std::path::Path::new(&manifest).join("..");
    println!("cargo:rerun-if-changed=../tauri.conf.json");
    println!("cargo:rerun-if-changed=capabilities");
    println!("cargo:rerun-if-changed=../icons");
    std::env::set_current_dir(&root).expect("the repository root exists");
    tauri_build::try_build(
        tauri_build::Attributes::new().capabilities_path_pattern("src-tauri/capabilities/**/*"),
    )
    .expect("tauri build step (tauri.conf.json at the repository root)");
}
