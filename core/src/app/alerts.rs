//! The notification policy: which events deserve a desktop notification, what it says
//! (always with a next step), and deduplication — at most one notification per distinct
//! problem until that problem changes or is resolved. The shell only displays [`Alert`]s.
//!
//! Users of other tray proxies complain about errors nobody sees, and about notification
//! floods; a dead network fails every request, so "notify on every failure" would be a
//! flood. A problem is identified by its [`AlertKind`] plus a small fingerprint (the port
//! for a port clash, rate limit vs. usage limit for quota); the free-text detail (which
//! differs from one failed request to the next) is not part of it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::proxy::PortOwner;

/// The problems we notify about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Cursor no longer takes the session; resolved by the next successful call, a new
    /// sign-in or signing out.
    SessionExpired,
    /// A usage or rate limit; resolved when the plan usage shows room again.
    Quota,
    /// The proxy's port is taken; resolved when the proxy starts.
    PortInUse,
    /// Cursor cannot be reached; resolved by the next successful call.
    UpstreamUnreachable,
    /// The proxy ended on its own; resolved when it starts again.
    ProxyStopped,
    /// Cursor refuses our client version; resolved by the next successful call.
    OutdatedClient,
    /// The spend guard refused requests; resolved by resuming it.
    GuardTripped,
    /// Cursor's plan usage says the included pool is used up (`guard_on_demand = "warn"`).
    OnDemand,
}

/// Something that happened; [`Alerts::raise`] decides whether it becomes a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Cursor refused the token and a refresh did not help.
    SessionExpired,
    /// Cursor's usage or rate limit.
    Quota {
        /// Cursor's error text; the notification adds what to do next.
        message: String,
        /// A rate limit (wait a minute) rather than the plan's usage limit (wait for the
        /// reset); the two are different problems.
        rate_limited: bool,
    },
    /// The proxy port is taken.
    PortInUse {
        /// The address the proxy tried to listen on.
        ip: IpAddr,
        /// The port that is taken; another port is another problem.
        port: u16,
        /// Who holds it, as far as the OS shows it (shown, not part of the identity).
        owner: Option<PortOwner>,
    },
    /// Cursor cannot be reached (network, timeout, Cursor down).
    UpstreamUnreachable {
        /// What failed, shown but not part of the problem's identity.
        message: String,
    },
    /// The proxy ended without being asked to.
    ProxyStopped {
        /// Why it ended, as far as the server task said.
        message: String,
    },
    /// Cursor refused our client version, even after re-resolving it and one retry.
    OutdatedClient {
        /// The client version Cursor refused; a different one is a new problem.
        version: String,
    },
    /// A guard rule tripped (one event per trip: a rule tripping again after a resume is
    /// another trip).
    GuardTripped {
        /// The rule's setting key.
        rule: &'static str,
        /// When it tripped, Unix milliseconds (the trip's identity, with the rule).
        at_ms: i64,
        /// What the agent was told: the rule, the numbers, how to resume.
        message: String,
    },
    /// Requests are billed on demand now; they are still served.
    OnDemand,
}

impl Event {
    /// The problem this event belongs to.
    pub(crate) fn kind(&self) -> AlertKind {
        match self {
            Event::SessionExpired => AlertKind::SessionExpired,
            Event::Quota { .. } => AlertKind::Quota,
            Event::PortInUse { .. } => AlertKind::PortInUse,
            Event::UpstreamUnreachable { .. } => AlertKind::UpstreamUnreachable,
            Event::ProxyStopped { .. } => AlertKind::ProxyStopped,
            Event::OutdatedClient { .. } => AlertKind::OutdatedClient,
            Event::GuardTripped { .. } => AlertKind::GuardTripped,
            Event::OnDemand => AlertKind::OnDemand,
        }
    }

    /// What makes two events of one kind different problems.
    fn fingerprint(&self) -> String {
        match self {
            Event::PortInUse { ip, port, .. } => format!("{ip}:{port}"),
            Event::Quota { rate_limited, .. } => rate_limited.to_string(),
            Event::OutdatedClient { version } => version.clone(),
            Event::GuardTripped { rule, at_ms, .. } => format!("{rule}@{at_ms}"),
            Event::OnDemand
            | Event::SessionExpired
            | Event::UpstreamUnreachable { .. }
            | Event::ProxyStopped { .. } => String::new(),
        }
    }

    fn alert(&self) -> Alert {
        let (title, body) = match self {
            Event::SessionExpired => (
                "Cursor session expired".to_string(),
                "Requests through Cursor Bridge fail until you sign in again: choose \
                 Sign in… in the tray menu."
                    .to_string(),
            ),
            Event::Quota {
                message,
                rate_limited: true,
            } => (
                "Cursor rate limit reached".to_string(),
                format!("{message}. Wait a minute and try again."),
            ),
            Event::Quota { message, .. } => (
                "Cursor usage limit reached".to_string(),
                format!(
                    "{message}. Requests fail until your plan's usage resets; check Plan usage \
                     in Cursor Bridge or raise your limit on cursor.com."
                ),
            ),
            Event::PortInUse { ip, port, owner } => port_in_use(*ip, *port, owner.as_ref()),
            Event::UpstreamUnreachable { message } => (
                "Cannot reach Cursor".to_string(),
                format!(
                    "{message}. Check your internet connection; Cursor Bridge tries again on \
                     the next request."
                ),
            ),
            Event::ProxyStopped { message } => (
                "The proxy stopped unexpectedly".to_string(),
                format!("{message}. Start it again with Start proxy in the tray menu."),
            ),
            Event::OutdatedClient { version } => (
                "Cursor no longer accepts this client version".to_string(),
                format!(
                    "Cursor refused client version {version}, and no newer one was found. \
                     Update Cursor's CLI (run `cursor-agent update`) so Cursor Bridge picks up \
                     its version, or set client_version in settings.toml (or \
                     CURSOR_BRIDGE_CLIENT_VERSION) to a current one; then try again."
                ),
            ),
            Event::GuardTripped { message, .. } => ("Paused by guard".to_string(), message.clone()),
            Event::OnDemand => (
                "Cursor is billing on demand".to_string(),
                "Your Cursor plan's included usage is used up: requests through Cursor Bridge \
                 are now billed on demand. Check Plan usage in Cursor Bridge, or set \
                 guard_on_demand to \"block\" in its settings to refuse them."
                    .to_string(),
            ),
        };
        Alert {
            kind: self.kind(),
            title,
            body,
        }
    }
}

/// The port clash, loud: who holds the port, and when it is another user, that this may
/// be someone posing as the proxy to collect the local key and the prompts.
fn port_in_use(ip: IpAddr, port: u16, owner: Option<&PortOwner>) -> (String, String) {
    let who = owner.map_or_else(
        || "A program Cursor Bridge cannot identify".to_string(),
        |o| o.to_string(),
    );
    let next = "Stop that program, or choose another port in Cursor Bridge's settings, then \
                start the proxy.";
    match owner.filter(|o| o.other_user) {
        Some(o) => (
            format!("Port {port} is held by another user: possible impersonation"),
            format!(
                "{who} listens on {ip}:{port}, and {}. Cursor Bridge did not start there. {next}",
                o.impersonation_warning().unwrap_or_default()
            ),
        ),
        None => (
            format!("Port {port} is already in use"),
            format!("{who} listens on {ip}:{port}, so the proxy could not start. {next}"),
        ),
    }
}

/// One notification to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The problem it is about.
    pub kind: AlertKind,
    /// The notification's headline, a few words.
    pub title: String,
    /// What happened and what to do next.
    pub body: String,
}

/// The dedup state and the channel the shell listens on.
///
/// Lock choice: a `std::sync::Mutex` around a tiny map, never held across an await.
/// Alerts go out on a `broadcast` channel: any number of listeners (the shell, tests);
/// with none, an alert is simply not shown, and the dedup state still advances.
#[derive(Debug)]
pub struct Alerts {
    active: Mutex<HashMap<AlertKind, String>>,
    tx: broadcast::Sender<Alert>,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts::new()
    }
}

impl Alerts {
    /// No problem active and no listener yet.
    pub fn new() -> Alerts {
        Alerts {
            active: Mutex::new(HashMap::new()),
            tx: broadcast::channel(16).0,
        }
    }

    /// Alerts from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Alert> {
        self.tx.subscribe()
    }

    /// Records `event`; returns (and sends) its alert unless this very problem is already
    /// active, i.e. notified and not resolved since.
    pub(crate) fn raise(&self, event: Event) -> Option<Alert> {
        let fingerprint = event.fingerprint();
        {
            let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
            if active.get(&event.kind()) == Some(&fingerprint) {
                return None;
            }
            active.insert(event.kind(), fingerprint);
        }
        let alert = event.alert();
        tracing::warn!(kind = ?alert.kind, title = %alert.title, "alert");
        let _ = self.tx.send(alert.clone());
        Some(alert)
    }

    /// The problem is gone (a call succeeded, the proxy started): the next occurrence
    /// notifies again.
    pub fn resolve(&self, kind: AlertKind) {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&kind);
    }

    /// True while `kind` is notified and unresolved.
    pub fn is_active(&self, kind: AlertKind) -> bool {
        self.active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_notification_per_problem_until_it_changes_or_resolves() {
        let a = Alerts::new();
        let mut rx = a.subscribe();
        let down = |m: &str| Event::UpstreamUnreachable { message: m.into() };
        assert!(a.raise(down("connection refused")).is_some());
        // Another request fails with other words: the same problem, no second popup.
        assert!(a.raise(down("timed out")).is_none());
        let port = |port| Event::PortInUse {
            ip: "127.0.0.1".parse().unwrap(),
            port,
            owner: None,
        };
        assert!(a.raise(port(18741)).is_some());
        assert!(a.raise(port(18741)).is_none());
        // A different port is a different problem.
        let alert = a.raise(port(18742)).unwrap();
        assert!(alert.title.contains("18742") && alert.body.contains("settings"));
        a.resolve(AlertKind::UpstreamUnreachable);
        assert!(!a.is_active(AlertKind::UpstreamUnreachable));
        assert!(a.raise(down("dns")).is_some());
        let seen: Vec<AlertKind> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|a| a.kind)
            .collect();
        assert_eq!(
            seen,
            [
                AlertKind::UpstreamUnreachable,
                AlertKind::PortInUse,
                AlertKind::PortInUse,
                AlertKind::UpstreamUnreachable
            ]
        );
    }

    #[test]
    fn every_alert_says_what_to_do_next() {
        for e in [
            Event::SessionExpired,
            Event::Quota {
                message: "Cursor usage limit reached: x".into(),
                rate_limited: false,
            },
            Event::Quota {
                message: "Cursor rate limit reached: x".into(),
                rate_limited: true,
            },
            Event::PortInUse {
                ip: "127.0.0.1".parse().unwrap(),
                port: 1,
                owner: None,
            },
            Event::PortInUse {
                ip: "127.0.0.1".parse().unwrap(),
                port: 1,
                owner: Some(PortOwner {
                    pid: Some(4242),
                    command: Some("python3".into()),
                    uid: Some(65534),
                    user: Some("nobody".into()),
                    other_user: true,
                }),
            },
            Event::UpstreamUnreachable {
                message: "x".into(),
            },
            Event::ProxyStopped {
                message: "x".into(),
            },
            Event::OutdatedClient {
                version: "cli-2026.01.09-231024f".into(),
            },
            Event::GuardTripped {
                rule: "guard_repeat_limit",
                at_ms: 1,
                message: "… Resume from the Cursor Bridge tray menu …".into(),
            },
            Event::OnDemand,
        ] {
            let a = e.alert();
            assert!(!a.title.is_empty());
            let body = a.body.to_lowercase();
            assert!(
                [
                    "sign in",
                    "try again",
                    "check",
                    "start",
                    "choose",
                    "wait",
                    "resume"
                ]
                .iter()
                .any(|w| body.contains(w)),
                "{a:?} gives no next step"
            );
        }
    }
}
