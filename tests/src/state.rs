//! The fake's shared state: immutable [`Config`] from the builder, mutable [`State`]
//! behind one `std::sync::Mutex` (never held across an `.await`; every critical section is
//! a few map operations), and a version counter that wakes `wait_for*` helpers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::{FakeModel, FakeUsage, FakeUser};
use crate::record::{RecordedCall, RecordedRun};
use crate::script::Turn;
use crate::tokens;

/// The OAuth client id Cursor's refresh endpoint expects (reference §1.3).
pub const CLIENT_ID: &str = "KbZUR41cY7W6zRSdpSUJ7I7mLYBKOCmB";

/// What the fake's CLI installer script installs unless told otherwise.
pub const DEFAULT_INSTALLER_BUILD: &str = "2026.07.23-e383d2b";

/// June 2026's answer to an outdated client (reference §9.10): `resource_exhausted`,
/// which only the text tells apart from a usage limit.
pub const OUTDATED_MESSAGE: &str =
    "Your version of Cursor is no longer supported. Please update to the latest version.";

/// The shapes in which Cursor refused outdated clients during 2026 (reference §9.10).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutdatedShape {
    /// June: `resource_exhausted` with [`OUTDATED_MESSAGE`] and no details (HTTP 429).
    #[default]
    NoLongerSupported,
    /// April: `failed_precondition` whose `ErrorDetails` is `ERROR_OUTDATED_CLIENT`,
    /// titled "Update Required" (HTTP 400), the message the bare "Error".
    UpdateRequired,
}

impl OutdatedShape {
    /// The HTTP status of a unary refusal and the Connect error.
    pub(crate) fn error(self) -> (u16, crate::script::EndError) {
        use crate::script::EndError;
        match self {
            OutdatedShape::NoLongerSupported => {
                (429, EndError::new("resource_exhausted", OUTDATED_MESSAGE))
            }
            OutdatedShape::UpdateRequired => (
                400,
                EndError::new("failed_precondition", "Error").detail(
                    crate::ErrorKind::OutdatedClient,
                    "Update Required",
                    "Please update Cursor to the latest version to continue.",
                ),
            ),
        }
    }
}

/// Knobs fixed at build time.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub access_token_ttl: Duration,
    pub user: FakeUser,
    pub models: Vec<FakeModel>,
    pub usage: FakeUsage,
    pub oauth_token_disabled: bool,
    /// `/auth/exchange_user_api_key` refuses refresh tokens (API keys still work).
    pub exchange_refresh_disabled: bool,
    /// The build (`YYYY.MM.DD-hash`) the CLI installer script at `/install` names;
    /// `None`: `/install` answers 404.
    pub installer_build: Option<String>,
    pub refresh_delay: Duration,
    pub auto_approve_logins: bool,
    pub gzip_frames: bool,
    /// Write every frame in body chunks of at most this many bytes (0 = whole frames).
    pub split_writes: usize,
    pub reply_timeout: Duration,
    pub long_reply_timeout: Duration,
    pub require_stream_close: bool,
    pub run_auth_failure_as_http: bool,
    /// How long the fake keeps reading a client's request body after it ended its side.
    pub drain_grace: Duration,
    /// Refuse the `BidiAppend` with this `append_seqno` (every run) with this error.
    pub fail_append: Option<(i64, InjectedError)>,
    /// How long a run waits after its `run_request` before playing the turn.
    pub run_start_delay: Duration,
    /// How long a `RunSSE` takes to be seen (its request id registered, its headers sent).
    pub run_sse_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(3600),
            user: FakeUser::default(),
            models: FakeModel::default_catalogue(),
            usage: FakeUsage::default(),
            oauth_token_disabled: false,
            exchange_refresh_disabled: false,
            installer_build: Some(DEFAULT_INSTALLER_BUILD.into()),
            refresh_delay: Duration::ZERO,
            auto_approve_logins: false,
            gzip_frames: false,
            split_writes: 0,
            reply_timeout: Duration::from_secs(10),
            long_reply_timeout: Duration::from_secs(60),
            require_stream_close: true,
            run_auth_failure_as_http: false,
            drain_grace: Duration::from_secs(2),
            fail_append: None,
            run_start_delay: Duration::ZERO,
            run_sse_delay: Duration::ZERO,
        }
    }
}

/// One browser login in progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct Login {
    /// The PKCE challenge, once known (from the page, the approve form or the URL).
    pub challenge: Option<String>,
    pub approved: bool,
}

/// A refresh token the fake issued.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refresh {
    pub revoked: bool,
}

/// An injected unary failure.
#[derive(Debug, Clone)]
pub(crate) struct InjectedError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Remaining uses; `None` = forever.
    pub remaining: Option<usize>,
}

/// Everything that changes while the fake runs.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub turns: VecDeque<Turn>,
    pub runs: Vec<RecordedRun>,
    pub calls: Vec<RecordedCall>,
    /// Issued access tokens → exp (unix seconds). Revoked tokens are removed.
    pub access_tokens: HashMap<String, u64>,
    pub refresh_tokens: HashMap<String, Refresh>,
    pub api_keys: HashSet<String>,
    pub logins: HashMap<String, Login>,
    /// uuids in the order they were first polled.
    pub polled: Vec<String>,
    pub polls: usize,
    pub poll_failures_left: usize,
    pub pkce_mismatches: usize,
    /// Calls to `/oauth/token`.
    pub refresh_calls: usize,
    /// Calls to `/auth/exchange_user_api_key`, with an API key or a refresh token.
    pub exchange_calls: usize,
    /// Those of `exchange_calls` that carried something other than a known API key (a
    /// refresh attempt).
    pub exchange_refresh_calls: usize,
    /// Authenticated RPCs refuse `x-cursor-client-version` builds older than this
    /// `YYYY.MM.DD` (and any version not of the `cli-YYYY.MM.DD-hash` form).
    pub min_client_build: Option<String>,
    /// How an outdated client is refused.
    pub outdated_shape: OutdatedShape,
    /// Requests refused for an outdated `x-cursor-client-version`.
    pub outdated_rejections: usize,
    /// `GET /install` requests.
    pub installer_fetches: usize,
    pub models_calls: usize,
    /// The fake's view of the client's blob store: everything it set, by blob id.
    pub blobs: HashMap<Vec<u8>, Bytes>,
    pub unary_errors: HashMap<String, InjectedError>,
    /// HTTP/1.1 runs by request id: where `RunSSE` and the `BidiAppend`s meet.
    pub bidi: HashMap<String, crate::slot::Slot>,
    /// `(request id, append_seqno)` of appends refused because no `RunSSE` had opened
    /// their request id yet.
    pub appends_before_run_sse: Vec<(String, i64)>,
    /// Injected failures for the next `Run` starts (see [`RunFailure`]).
    pub run_failures: Option<RunFailure>,
    /// SHA-256 of every checkpoint the fake sent, to tell a run continued from one.
    pub issued_checkpoints: HashSet<Vec<u8>>,
}

/// The next `remaining` runs fail before their turn is played: with `status` 200 as a
/// stream holding only `error`'s end-of-stream frame, otherwise as a bare HTTP `status`
/// with `error` as Connect JSON.
#[derive(Debug, Clone)]
pub(crate) struct RunFailure {
    pub remaining: usize,
    pub status: u16,
    pub error: crate::script::EndError,
}

impl RunFailure {
    /// How the run is recorded.
    pub fn end(&self) -> crate::record::RunEnd {
        match self.status {
            200 => crate::record::RunEnd::Error {
                code: self.error.code.clone(),
                message: self.error.message.clone(),
            },
            s => crate::record::RunEnd::Http(s),
        }
    }
}

/// The cheap-clone handle every handler and task holds.
#[derive(Debug)]
pub(crate) struct Shared {
    pub cfg: Config,
    state: Mutex<State>,
    /// Bumped after every recorded change; `wait_for*` subscribe to it.
    version: watch::Sender<u64>,
    /// Cancelled when the fake shuts down: run drivers and body readers stop.
    pub shutdown: CancellationToken,
    secret: [u8; 16],
}

impl Shared {
    pub fn new(cfg: Config, state: State) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            state: Mutex::new(state),
            version: watch::channel(0).0,
            shutdown: CancellationToken::new(),
            secret: rand::random(),
        })
    }

    /// Locks the state for reading or a change that needs no wake-up.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock poisons it; the data is still usable for a fake.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a change and wakes waiters.
    pub fn update<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let r = f(&mut self.lock());
        self.version.send_modify(|v| *v += 1);
        r
    }

    /// Applies a change to one run's record.
    pub fn update_run(&self, index: usize, f: impl FnOnce(&mut RecordedRun)) {
        self.update(|s| {
            if let Some(r) = s.runs.get_mut(index) {
                f(r)
            }
        })
    }

    /// Uses up one injected run failure, if any is left.
    pub fn take_run_failure(&self) -> Option<RunFailure> {
        self.update(|s| {
            let f = s.run_failures.as_mut().filter(|f| f.remaining > 0)?;
            f.remaining -= 1;
            Some(f.clone())
        })
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Mints and remembers an access token living `ttl`.
    pub fn mint_access(&self, ttl: Duration) -> String {
        self.mint_access_at(tokens::exp_in(ttl))
    }

    /// Mints and remembers an access token expiring at `exp` (unix seconds).
    pub fn mint_access_at(&self, exp: u64) -> String {
        let t = tokens::mint(&self.secret, &self.cfg.user.auth_id(), exp, "session");
        self.update(|s| s.access_tokens.insert(t.clone(), exp));
        t
    }

    /// An `id_token` (not accepted as a bearer token).
    pub fn mint_id_token(&self) -> String {
        tokens::mint(
            &self.secret,
            &self.cfg.user.auth_id(),
            tokens::exp_in(self.cfg.access_token_ttl),
            "id",
        )
    }

    /// Mints and remembers a refresh token.
    pub fn mint_refresh(&self) -> String {
        let t = tokens::opaque("rt");
        self.update(|s| {
            s.refresh_tokens
                .insert(t.clone(), Refresh { revoked: false })
        });
        t
    }

    /// Checks `x-cursor-client-version` against [`State::min_client_build`]: a
    /// `cli-YYYY.MM.DD-hash` at least that new (the July 2026 rule: a `cli-` prefix).
    pub fn check_client_version(
        &self,
        headers: &HeaderMap,
    ) -> Result<(), (u16, crate::script::EndError)> {
        let (min, shape) = {
            let s = self.lock();
            (s.min_client_build.clone(), s.outdated_shape)
        };
        let Some(min) = min else {
            return Ok(());
        };
        let sent = headers
            .get("x-cursor-client-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let date = sent
            .strip_prefix("cli-")
            .and_then(|b| b.split_once('-'))
            .map(|(date, _)| date)
            .filter(|d| d.len() == 10 && d.as_bytes()[4] == b'.' && d.as_bytes()[7] == b'.');
        if date.is_some_and(|d| d >= min.as_str()) {
            return Ok(());
        }
        self.update(|s| s.outdated_rejections += 1);
        Err(shape.error())
    }

    /// Checks `authorization: Bearer <token>`: issued by this fake, not revoked, not
    /// expired. The error text is for the Connect error message.
    pub fn check_bearer(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Err("missing authorization header".into());
        };
        let Some(token) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
            return Err("authorization is not a Bearer token".into());
        };
        let Some(exp) = self.lock().access_tokens.get(token).copied() else {
            return Err("unknown or revoked access token".into());
        };
        if exp <= tokens::now_unix() {
            return Err("access token expired".into());
        }
        Ok(())
    }
}
