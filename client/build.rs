//! Compiles `proto/` into Rust with prost-build, fed by protox (a pure-Rust protobuf
//! compiler), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not with `env!`: the build-script binary is cached in a target
    // dir shared by clones at different paths, and a baked-in path points at the wrong
    // (possibly deleted) clone.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../proto");
    let files = ["agent/v1/agent.proto", "aiserver/v1/aiserver.proto"];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    prost_build::Config::new().bytes(["."]).compile_fds(fds)?;
    Ok(())
}
