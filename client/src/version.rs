//! The `x-cursor-client-version` we present, resolved at run time (reference §9.10).
//!
//! Cursor gated client versions several times in 2026, so a version baked into a release
//! goes stale. The chain, first answer wins:
//! 1. the `client_version` setting (or `CURSOR_BRIDGE_CLIENT_VERSION`) when it is not
//!    `"auto"`: the user's pin;
//! 2. the newest installed Cursor CLI build: its versions directory
//!    (`~/.local/share/cursor-agent/versions/<YYYY.MM.DD-hash>/`) names each build;
//! 3. the version Cursor's public CLI installer script downloads (an HTTP GET of a URL
//!    that is a setting), cached for 24 h in the data dir so restarts do not refetch;
//! 4. the built-in [`BUILT_IN`].
//!
//! Only steps 1, 2 and a fresh cache run at start-up; the network step runs in the
//! background on first use (never blocking a request or start-up) and again once a day.
//! When Cursor answers "outdated client", [`ClientVersion::after_rejection`] re-resolves
//! without the cache and skipping the rejected value, so the caller can retry once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use url::Url;

/// The setting's value that asks for run-time resolution.
pub const AUTO: &str = "auto";
/// The last resort: a CLI version known to work when this release was made.
pub const BUILT_IN: &str = "cli-2026.01.09-231024f";
/// How long a resolved version (and the installer script's answer on disk) is trusted.
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
/// The installer script is small; a slow answer is not worth waiting for.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the version in use came from.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSource {
    /// `client_version` in the settings or `CURSOR_BRIDGE_CLIENT_VERSION`.
    Setting,
    /// The newest build in the Cursor CLI's versions directory.
    InstalledCli,
    /// Cursor's public CLI installer script (possibly from the 24 h cache).
    Installer,
    /// [`BUILT_IN`].
    BuiltIn,
}

impl VersionSource {
    /// For `status` and the UI.
    pub fn describe(self) -> &'static str {
        match self {
            VersionSource::Setting => "pinned in the settings",
            VersionSource::InstalledCli => "newest installed Cursor CLI",
            VersionSource::Installer => "Cursor's CLI installer",
            VersionSource::BuiltIn => "built in",
        }
    }
}

/// A version and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    /// The version string, sent as `x-cursor-client-version`.
    pub version: String,
    /// Where it came from.
    pub source: VersionSource,
}

/// Where to look; built from the settings (see `Settings::client_version_config`).
#[derive(Debug, Clone, Default)]
pub struct VersionConfig {
    /// A pinned version: nothing else is consulted.
    pub pinned: Option<String>,
    /// The Cursor CLI's versions directory; `None` skips step 2.
    pub cli_versions_dir: Option<PathBuf>,
    /// Cursor's CLI installer script; `None` skips step 3.
    pub installer_url: Option<Url>,
    /// Where the installer's answer is cached; `None` keeps it in memory only.
    pub cache_file: Option<PathBuf>,
}

/// Cheap-clone handle to the version in use. Every Cursor header reads it.
///
/// Lock choice: a `std::sync::Mutex` around the current value, held only to copy it;
/// a `tokio::sync::Mutex` makes re-resolution single-flight, so twenty requests meeting
/// one "outdated client" answer fetch the installer script once.
#[derive(Clone, Debug)]
pub struct ClientVersion {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: VersionConfig,
    current: Mutex<Current>,
    resolving: tokio::sync::Mutex<()>,
    background: AtomicBool,
    /// Built on first fetch; `None` if it cannot be built (then the step is skipped).
    http: OnceLock<Option<reqwest::Client>>,
}

#[derive(Debug, Clone)]
struct Current {
    resolved: Resolved,
    at: Instant,
    /// Every step has had its say (the network step included).
    settled: bool,
}

/// The installer's answer as cached on disk.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheEntry {
    version: String,
    /// Unix seconds.
    fetched_at: u64,
}

impl ClientVersion {
    /// Always `version` (tests, and a pin).
    pub(crate) fn fixed(version: impl Into<String>) -> ClientVersion {
        ClientVersion::new(VersionConfig {
            pinned: Some(version.into()),
            ..VersionConfig::default()
        })
    }

    /// Resolves what it can without the network (pin, installed CLI, fresh cache) now;
    /// the rest happens in the background on first use.
    pub fn new(config: VersionConfig) -> ClientVersion {
        let (resolved, settled) = match local(&config, None, true) {
            Some(r) => (r, true),
            None => (
                Resolved {
                    version: BUILT_IN.into(),
                    source: VersionSource::BuiltIn,
                },
                config.installer_url.is_none(),
            ),
        };
        ClientVersion {
            inner: Arc::new(Inner {
                config,
                current: Mutex::new(Current {
                    resolved,
                    at: Instant::now(),
                    settled,
                }),
                resolving: tokio::sync::Mutex::new(()),
                background: AtomicBool::new(false),
                http: OnceLock::new(),
            }),
        }
    }

    /// The version to send now. Never waits: when the value is unsettled or older than
    /// [`CACHE_TTL`], a background task resolves it again for the calls that follow.
    pub fn value(&self) -> String {
        let cur = self.snapshot();
        if (!cur.settled || cur.at.elapsed() >= CACHE_TTL) && self.inner.config.pinned.is_none() {
            self.resolve_in_background();
        }
        cur.resolved.version
    }

    /// The version in use and its source, for `status` and the UI.
    pub fn current(&self) -> Resolved {
        self.snapshot().resolved
    }

    /// Waits (at most the fetch timeout) for the network step if it has not run yet, so
    /// `status` shows what requests will send.
    pub async fn settle(&self) -> Resolved {
        if !self.snapshot().settled {
            self.resolve(false, None).await;
        }
        self.current()
    }

    /// Cursor refused `rejected` as outdated: resolves again without the cache, skipping
    /// `rejected`, and switches to the answer if it is newer. Returns the version to retry
    /// with, or `None` when there is nothing newer (a pin, or no source knows better): an
    /// older one would only be refused as well, so the current value is kept.
    pub(crate) async fn after_rejection(&self, rejected: &str) -> Option<String> {
        let _one = self.inner.resolving.lock().await;
        let cur = self.snapshot().resolved;
        if cur.version != rejected && newer(&cur.version, rejected) {
            // Someone already moved on while we waited.
            return Some(cur.version);
        }
        let found = self.chain(true, Some(rejected)).await;
        if !newer(&found.version, rejected) {
            return None;
        }
        self.store(found.clone());
        Some(found.version)
    }

    fn snapshot(&self) -> Current {
        self.inner
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn resolve_in_background(&self) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.inner.background.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        rt.spawn(async move {
            me.resolve(false, None).await;
            me.inner.background.store(false, Ordering::SeqCst);
        });
    }

    /// Runs the whole chain (single-flight) and stores the answer.
    async fn resolve(&self, bypass_cache: bool, avoid: Option<&str>) -> Resolved {
        let _one = self.inner.resolving.lock().await;
        if !bypass_cache && avoid.is_none() {
            // Someone resolved while we waited for the lock.
            let cur = self.snapshot();
            if cur.settled && cur.at.elapsed() < CACHE_TTL {
                return cur.resolved;
            }
        }
        let resolved = self.chain(bypass_cache, avoid).await;
        self.store(resolved.clone());
        resolved
    }

    /// The chain's answer, skipping `avoid`; caches an installer answer on disk.
    async fn chain(&self, bypass_cache: bool, avoid: Option<&str>) -> Resolved {
        let cfg = &self.inner.config;
        if let Some(r) = local(cfg, avoid, !bypass_cache) {
            return r;
        }
        match self.fetch_installer().await {
            Some(v) if Some(v.as_str()) != avoid => {
                if let Some(path) = &cfg.cache_file {
                    write_cache(path, &v);
                }
                Resolved {
                    version: v,
                    source: VersionSource::Installer,
                }
            }
            _ => Resolved {
                version: BUILT_IN.into(),
                source: VersionSource::BuiltIn,
            },
        }
    }

    fn store(&self, resolved: Resolved) {
        let mut cur = self.inner.current.lock().unwrap_or_else(|p| p.into_inner());
        if cur.resolved != resolved {
            tracing::info!(
                version = %resolved.version,
                source = resolved.source.describe(),
                "Cursor client version"
            );
        }
        *cur = Current {
            resolved,
            at: Instant::now(),
            settled: true,
        };
    }

    async fn fetch_installer(&self) -> Option<String> {
        let url = self.inner.config.installer_url.clone()?;
        let http = self
            .inner
            .http
            .get_or_init(|| {
                let _ = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder()
                    .timeout(FETCH_TIMEOUT)
                    .connect_timeout(FETCH_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::limited(5))
                    .build()
                    .ok()
            })
            .as_ref()?;
        let answer = async {
            let resp = http.get(url).send().await.ok()?;
            if !resp.status().is_success() {
                tracing::debug!(status = resp.status().as_u16(), "CLI installer script");
                return None;
            }
            let text = resp.text().await.ok()?;
            newest_build_in(&text).map(|b| format!("cli-{b}"))
        };
        let v = answer.await;
        if v.is_none() {
            tracing::debug!("Cursor's CLI installer script named no version");
        }
        v
    }
}

impl From<&str> for ClientVersion {
    fn from(v: &str) -> ClientVersion {
        ClientVersion::fixed(v)
    }
}

/// Whether `a` is worth trying after `b` was refused as too old: a later build date
/// when both are `cli-YYYY.MM.DD-…`, else merely a different value.
fn newer(a: &str, b: &str) -> bool {
    let date = |v: &str| {
        let b = v.strip_prefix("cli-")?;
        build_at(b.as_bytes()).map(|_| b[..10].to_string())
    };
    match (date(a), date(b)) {
        (Some(x), Some(y)) => x > y,
        _ => a != b,
    }
}

/// Steps 1, 2 and (with `use_cache`) the cached step 3, skipping `avoid`.
fn local(cfg: &VersionConfig, avoid: Option<&str>, use_cache: bool) -> Option<Resolved> {
    if let Some(v) = &cfg.pinned {
        return Some(Resolved {
            version: v.clone(),
            source: VersionSource::Setting,
        });
    }
    let differs = |v: &String| Some(v.as_str()) != avoid;
    if let Some(v) = cfg
        .cli_versions_dir
        .as_deref()
        .and_then(newest_installed)
        .filter(differs)
    {
        return Some(Resolved {
            version: v,
            source: VersionSource::InstalledCli,
        });
    }
    if use_cache
        && let Some(v) = cfg
            .cache_file
            .as_deref()
            .and_then(read_cache)
            .filter(differs)
    {
        return Some(Resolved {
            version: v,
            source: VersionSource::Installer,
        });
    }
    None
}

/// `cli-<name>` of the newest `YYYY.MM.DD-hash` entry in the CLI's versions directory.
pub(crate) fn newest_installed(dir: &Path) -> Option<String> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| build_at(name.as_bytes()) == Some(name.len()))
        .max()
        .map(|name| format!("cli-{name}"))
}

/// The newest `YYYY.MM.DD-<hex>` build named anywhere in `text` (the installer script
/// downloads `…/lab/<build>/<os>/<arch>/…`).
pub(crate) fn newest_build_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len())
        .filter(|&i| i == 0 || !bytes[i - 1].is_ascii_alphanumeric())
        .filter_map(|i| build_at(&bytes[i..]).map(|n| &text[i..i + n]))
        .max()
        .map(str::to_string)
}

/// The length of a `YYYY.MM.DD-<7+ lowercase hex>` build name at the start of `b`.
fn build_at(b: &[u8]) -> Option<usize> {
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let ok = digits(0..4)
        && b.get(4) == Some(&b'.')
        && digits(5..7)
        && b.get(7) == Some(&b'.')
        && digits(8..10)
        && b.get(10) == Some(&b'-');
    if !ok {
        return None;
    }
    let hex = b[11..]
        .iter()
        .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
        .count();
    let end = 11 + hex;
    let boundary = b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
    (hex >= 7 && boundary).then_some(end)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cached installer answer, if younger than [`CACHE_TTL`].
fn read_cache(path: &Path) -> Option<String> {
    let entry: CacheEntry = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    let age = unix_now().checked_sub(entry.fetched_at)?;
    (age < CACHE_TTL.as_secs() && entry.version.starts_with("cli-")).then_some(entry.version)
}

fn write_cache(path: &Path, version: &str) {
    let entry = CacheEntry {
        version: version.into(),
        fetched_at: unix_now(),
    };
    let write = || -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(&entry).unwrap_or_default())?;
        std::fs::rename(tmp, path)
    };
    if let Err(e) = write() {
        tracing::debug!(error = %e, "could not cache the Cursor client version");
    }
}

/// The Cursor CLI's versions directory for the user whose home is `home`.
pub fn default_cli_versions_dir(home: &Path) -> PathBuf {
    home.join(".local/share/cursor-agent/versions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_names_are_found_in_an_installer_script() {
        let script = "#!/usr/bin/env bash\nset -euo pipefail\n\
            DOWNLOAD_URL=\"https://downloads.cursor.com/lab/2026.07.23-e383d2b/${OS}/${ARCH}/agent-cli-package.tar.gz\"\n\
            # older: 2025.11.25-d5b3271\n";
        assert_eq!(
            newest_build_in(script).as_deref(),
            Some("2026.07.23-e383d2b")
        );
        assert_eq!(newest_build_in("version 1.2.3, 2026.07.23-xyz"), None);
        assert_eq!(newest_build_in("x12026.07.23-e383d2b"), None);
        assert_eq!(newest_build_in(""), None);
    }

    #[test]
    fn the_newest_installed_build_wins_and_stray_entries_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "2025.11.25-d5b3271",
            "2026.07.23-e383d2b",
            "latest",
            "2026.99.99-zz",
        ] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("2027.01.01-abcdef0"), "a file").unwrap();
        assert_eq!(
            newest_installed(dir.path()).as_deref(),
            Some("cli-2026.07.23-e383d2b")
        );
        assert_eq!(newest_installed(&dir.path().join("missing")), None);
    }

    #[test]
    fn chain_order_pin_then_installed_then_cache_then_built_in() {
        let dir = tempfile::tempdir().unwrap();
        let versions = dir.path().join("versions");
        let cache = dir.path().join("client-version.json");
        let cfg = |pinned: Option<&str>| VersionConfig {
            pinned: pinned.map(str::to_string),
            cli_versions_dir: Some(versions.clone()),
            installer_url: None,
            cache_file: Some(cache.clone()),
        };
        let cv = ClientVersion::new(cfg(None));
        assert_eq!(cv.current().source, VersionSource::BuiltIn);
        assert_eq!(cv.value(), BUILT_IN);
        write_cache(&cache, "cli-2026.05.01-aaaaaaa");
        assert_eq!(
            ClientVersion::new(cfg(None)).current(),
            Resolved {
                version: "cli-2026.05.01-aaaaaaa".into(),
                source: VersionSource::Installer
            }
        );
        std::fs::create_dir_all(versions.join("2026.03.01-bbbbbbb")).unwrap();
        assert_eq!(
            ClientVersion::new(cfg(None)).current().source,
            VersionSource::InstalledCli
        );
        assert_eq!(
            ClientVersion::new(cfg(Some("cli-pinned"))).current(),
            Resolved {
                version: "cli-pinned".into(),
                source: VersionSource::Setting
            }
        );
    }

    #[test]
    fn a_stale_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("client-version.json");
        let old = CacheEntry {
            version: "cli-2026.05.01-aaaaaaa".into(),
            fetched_at: unix_now() - CACHE_TTL.as_secs() - 1,
        };
        std::fs::write(&cache, serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(read_cache(&cache), None);
    }

    #[test]
    fn only_a_later_build_is_worth_a_retry() {
        assert!(newer("cli-2026.07.23-e383d2b", "cli-2026.01.09-231024f"));
        assert!(!newer(BUILT_IN, "cli-2026.07.23-e383d2b"));
        assert!(!newer("cli-2026.07.23-e383d2b", "cli-2026.07.23-e383d2b"));
        assert!(newer("cli-2026.07.23-e383d2b", "1.0.0"));
    }

    #[tokio::test]
    async fn a_rejected_pin_offers_nothing_else() {
        let cv = ClientVersion::fixed("cli-2020.01.01-0000000");
        assert_eq!(cv.after_rejection("cli-2020.01.01-0000000").await, None);
    }
}
