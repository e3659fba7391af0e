//! The `x-cursor-client-version` resolved at run time (reference §9.10), end to end
//! against the fake: the installed Cursor CLI's builds, the installer script the fake
//! serves at `/install`, the 24 h cache in the data dir, and the re-resolve-and-retry-once
//! when Cursor refuses the version as outdated — through the client and the real proxy.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::Harness;
use common::proxy::Proxy;
use cursor_bridge_core::cursor::version::{BUILT_IN, VersionSource};
use cursor_bridge_core::cursor::{CursorClient, CursorError};
use cursor_bridge_tests::{DEFAULT_INSTALLER_BUILD, FakeCursor, OutdatedShape};

const INSTALLER_VERSION: &str = "cli-2026.07.23-e383d2b";

/// A client built from settings as the CLI builds it, with `settings_toml` in its
/// settings file (plus an empty CLI versions directory unless the toml names one), in
/// `dir`, signed in with a fresh token pair. A second call on the same `dir` is a restart.
async fn client_in(fake: &FakeCursor, dir: &Path, settings_toml: &str) -> CursorClient {
    let mut toml = settings_toml.to_string();
    if !toml.contains("cursor_cli_versions_dir") {
        let empty = dir.join("no-cli-installed");
        std::fs::create_dir_all(&empty).expect("empty versions dir");
        toml.push_str(&format!(
            "cursor_cli_versions_dir = {:?}\n",
            empty.display().to_string()
        ));
    }
    std::fs::write(dir.join("settings.toml"), toml).expect("settings file");
    let client = common::client_from(&common::env_for(&fake.url(), dir));
    common::sign_in(&client, fake).await;
    client
}

/// The version the fake saw on its last unary call.
fn last_version(fake: &FakeCursor) -> Option<String> {
    fake.unary_calls()
        .last()
        .and_then(|c| c.header("x-cursor-client-version").map(str::to_string))
}

/// An outdated build that a cache a minute old holds, in the tests of Cursor's refusal.
const CACHED_OUTDATED: &str = "cli-2026.02.01-aaaaaaa";

/// A fake that refuses, as outdated, client versions of builds before `min_build`.
async fn refusing_before(min_build: &str) -> FakeCursor {
    FakeCursor::builder()
        .min_client_version(min_build)
        .start()
        .await
}

/// [`client_in`] with default settings, started from a minute-old cache of
/// [`CACHED_OUTDATED`] in `dir`.
async fn client_from_outdated_cache(fake: &FakeCursor, dir: &Path) -> CursorClient {
    seed_cache(dir, CACHED_OUTDATED, Duration::from_secs(60));
    client_in(fake, dir, "").await
}

/// Writes the installer cache as an earlier run would have left it, `age` ago.
fn seed_cache(dir: &Path, version: &str, age: Duration) {
    let fetched_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        - age.as_secs();
    std::fs::write(
        dir.join("client-version.json"),
        serde_json::json!({"version": version, "fetchedAt": fetched_at}).to_string(),
    )
    .expect("cache file");
}

#[tokio::test]
async fn auto_version_comes_from_the_installer_script_and_a_restart_reuses_the_cache() {
    let fake = FakeCursor::builder().start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(&fake, dir.path(), "").await;
    assert_eq!(
        client.http().client_version().current().source,
        VersionSource::BuiltIn,
        "nothing known before the network step, which never blocks start-up"
    );
    let v = client.http().client_version().settle().await;
    assert_eq!(
        (v.version.as_str(), v.source),
        (INSTALLER_VERSION, VersionSource::Installer)
    );
    client.account().await.unwrap();
    assert_eq!(last_version(&fake).as_deref(), Some(INSTALLER_VERSION));
    assert_eq!(fake.installer_fetches(), 1);
    assert!(dir.path().join("client-version.json").exists());

    // A restart within 24 h: the cached answer, at once, no second fetch.
    let again = client_in(&fake, dir.path(), "").await;
    let v = again.http().client_version().current();
    assert_eq!(
        (v.version.as_str(), v.source),
        (INSTALLER_VERSION, VersionSource::Installer)
    );
    again.account().await.unwrap();
    again.http().client_version().settle().await;
    assert_eq!(fake.installer_fetches(), 1, "served from the cache");
}

#[tokio::test]
async fn a_day_old_cache_is_fetched_again() {
    let fake = FakeCursor::builder().start().await;
    let dir = tempfile::tempdir().unwrap();
    seed_cache(
        dir.path(),
        "cli-2026.05.01-aaaaaaa",
        Duration::from_secs(25 * 3600),
    );
    let client = client_in(&fake, dir.path(), "").await;
    assert_eq!(
        client.http().client_version().settle().await.version,
        INSTALLER_VERSION
    );
    assert_eq!(fake.installer_fetches(), 1);
}

#[tokio::test]
async fn the_newest_installed_cli_build_wins_over_the_installer() {
    let fake = FakeCursor::builder().start().await;
    let dir = tempfile::tempdir().unwrap();
    let versions = dir.path().join("cursor-agent/versions");
    for b in [
        "2026.05.01-1111111",
        "2026.08.02-abcdef1",
        "2026.06.30-2222222",
    ] {
        std::fs::create_dir_all(versions.join(b)).unwrap();
    }
    let toml = format!(
        "cursor_cli_versions_dir = {:?}\n",
        versions.display().to_string()
    );
    let client = client_in(&fake, dir.path(), &toml).await;
    let v = client.http().client_version().settle().await;
    assert_eq!(
        (v.version.as_str(), v.source),
        ("cli-2026.08.02-abcdef1", VersionSource::InstalledCli)
    );
    client.account().await.unwrap();
    assert_eq!(
        last_version(&fake).as_deref(),
        Some("cli-2026.08.02-abcdef1")
    );
    assert_eq!(
        fake.installer_fetches(),
        0,
        "no network when a CLI is installed"
    );
}

#[tokio::test]
async fn a_pinned_version_is_sent_as_is_and_nothing_is_fetched() {
    let fake = FakeCursor::builder().start().await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_in(
        &fake,
        dir.path(),
        "client_version = \"cli-2026.09.09-9999999\"\n",
    )
    .await;
    client.account().await.unwrap();
    assert_eq!(
        last_version(&fake).as_deref(),
        Some("cli-2026.09.09-9999999")
    );
    assert_eq!(
        client.http().client_version().current().source,
        VersionSource::Setting
    );
    assert_eq!(fake.installer_fetches(), 0);
}

/// Regression: Cursor's June 2026 refusal (`resource_exhausted` "no longer supported")
/// used to surface as a usage limit. Now the version is re-resolved past the cache and
/// the call retried once, invisibly.
#[tokio::test]
async fn an_outdated_client_error_re_resolves_past_the_cache_and_retries_once() {
    let fake = refusing_before("2026.07.01").await;
    let dir = tempfile::tempdir().unwrap();
    let client = client_from_outdated_cache(&fake, dir.path()).await;
    assert_eq!(
        client.http().client_version().current().version,
        CACHED_OUTDATED,
        "the cached (now outdated) answer is used first"
    );
    let me = client.account().await.expect("the retry succeeds");
    assert_eq!(me.email, "dev@example.com");
    assert_eq!(fake.outdated_rejections(), 1);
    assert_eq!(fake.installer_fetches(), 1, "re-resolved past the cache");
    assert_eq!(last_version(&fake).as_deref(), Some(INSTALLER_VERSION));
    // From now on straight to the new version.
    client.models().await.unwrap();
    assert_eq!(fake.outdated_rejections(), 1);
}

/// April 2026's shape ("Update Required" in `ErrorDetails`, `failed_precondition`) is
/// recognised the same way.
#[tokio::test]
async fn an_update_required_refusal_is_retried_the_same_way() {
    let fake = FakeCursor::builder()
        .min_client_version("2026.07.01")
        .outdated_shape(OutdatedShape::UpdateRequired)
        .start()
        .await;
    let dir = tempfile::tempdir().expect("dir");
    let client = client_from_outdated_cache(&fake, dir.path()).await;
    client.account().await.expect("the retry succeeds");
    assert_eq!(fake.outdated_rejections(), 1);
    assert_eq!(last_version(&fake).as_deref(), Some(INSTALLER_VERSION));
}

/// The refusal arriving on the agent run itself (an end-of-stream `resource_exhausted`
/// frame): the run is started again with a fresh version, and the user sees an answer.
#[tokio::test]
async fn an_outdated_run_is_retried_with_a_fresh_version_through_the_proxy() {
    let h = Harness::new(FakeCursor::builder().start().await).await;
    // A client that starts from the seeded cache (the harness's own started before it).
    let client = client_from_outdated_cache(&h.fake, h.dir.path()).await;
    let h = Harness { client, ..h };
    let p = Proxy::start(h).await;
    p.warm_models().await;
    // Cursor raises its bar mid-session: the next call to meet it is the run.
    p.fake().set_min_client_version(Some("2026.07.01"));
    let res = p
        .post(&serde_json::json!({
            "model": "auto",
            "messages": [{"role": "user", "content": "hi"}],
        }))
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.expect("body");
    assert!(body.contains("the fake Cursor"), "{body}");
    let runs = p.fake().runs();
    let versions: Vec<_> = runs
        .iter()
        .map(|r| {
            r.header("x-cursor-client-version")
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        versions,
        [CACHED_OUTDATED, INSTALLER_VERSION],
        "refused once, then retried with the fresh version"
    );
    assert_eq!(p.fake().outdated_rejections(), 1);
}

#[tokio::test]
async fn an_outdated_pin_fails_once_with_exact_advice() {
    let fake = refusing_before("2026.07.01").await;
    let dir = tempfile::tempdir().unwrap();
    let pin = format!("client_version = {BUILT_IN:?}\n");
    let client = client_in(&fake, dir.path(), &pin).await;
    let err = client.account().await.unwrap_err();
    assert!(matches!(err, CursorError::OutdatedClient { .. }), "{err:?}");
    assert_eq!(
        fake.outdated_rejections(),
        1,
        "a pin has nothing else to retry with"
    );
    let text = err.to_string();
    for needle in [
        "cursor-agent update",
        "client_version",
        "CURSOR_BRIDGE_CLIENT_VERSION",
        BUILT_IN,
    ] {
        assert!(text.contains(needle), "{needle:?} missing from: {text}");
    }
}

#[tokio::test]
async fn when_even_the_newest_version_is_refused_the_error_says_what_to_do() {
    let fake = refusing_before("2026.08.01").await;
    assert!(DEFAULT_INSTALLER_BUILD < "2026.08.01");
    let dir = tempfile::tempdir().unwrap();
    let client = client_from_outdated_cache(&fake, dir.path()).await;
    let err = client.plan_usage().await.unwrap_err();
    assert_eq!(err.kind(), "outdated_client", "{err:?}");
    assert_eq!(fake.outdated_rejections(), 2, "one retry, not more");
    assert!(err.to_string().contains(INSTALLER_VERSION), "{err}");
}
