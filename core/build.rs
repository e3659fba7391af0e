//! Stamps the build with the git commit it was built from (`crate::COMMIT`), shown with
//! the version by `cursor-bridge --version` and the app's footer.
//!
//! Outside a git checkout (a source tarball) or without git the commit is `unknown`.
//! Cargo reruns this when HEAD moves (a commit, a checkout): see [`watched_git_files`].

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")?;
    let out = Command::new("git")
        .args(args)
        .current_dir(manifest)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

/// HEAD, and where the branch it names is stored: its loose ref file, or (a branch only
/// in `packed-refs`) that file and the directory the loose ref will appear in. Watching
/// only existing paths: cargo reruns a build script every time for a missing one.
fn watched_git_files() -> Vec<String> {
    let path = |name: &str| git(&["rev-parse", "--git-path", name]);
    let mut watched: Vec<String> = path("HEAD").into_iter().collect();
    if let Some(loose) = git(&["symbolic-ref", "-q", "HEAD"]).and_then(|b| path(&b)) {
        if Path::new(&loose).exists() {
            watched.push(loose);
        } else {
            watched.extend(path("packed-refs"));
            watched.extend(Path::new(&loose).parent().map(|d| d.display().to_string()));
        }
    }
    watched.retain(|p| Path::new(p).exists());
    watched
}

fn main() {
    let commit = git(&["rev-parse", "--short=10", "HEAD"]);
    if commit.is_some() {
        for path in watched_git_files() {
            println!("cargo:rerun-if-changed={path}");
        }
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
    let commit = commit.unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=CURSOR_BRIDGE_COMMIT={commit}");
}
