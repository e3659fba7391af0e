//! The status every front end renders, computed from the parts and published on a
//! `watch` channel: the shell re-renders the tray from it and emits `status-changed`.

use tokio::sync::{Mutex, watch};

use super::{App, Status};

/// The status channel and the lock that makes computing and sending a status one step.
pub(super) struct Publisher {
    sender: watch::Sender<Status>,
    /// Held across computing the status (which awaits the credential store) and sending
    /// it, on purpose: two changes racing cannot leave the older status as the last one
    /// sent. An async mutex, so a waiting publisher parks instead of blocking a worker.
    one_at_a_time: Mutex<()>,
}

impl Publisher {
    pub(super) fn new(initial: Status) -> Publisher {
        Publisher {
            sender: watch::channel(initial).0,
            one_at_a_time: Mutex::new(()),
        }
    }
}

impl App {
    /// The status, re-sent on every change (the tray and the `status-changed` event).
    pub fn subscribe(&self) -> watch::Receiver<Status> {
        self.inner.status.sender.subscribe()
    }

    /// The current status (also published to subscribers if it changed).
    pub async fn status(&self) -> Status {
        self.publish().await
    }

    async fn compute_status(&self) -> Status {
        let client = self.client();
        let has_creds = match client.tokens().current().await {
            Ok(c) => c.is_some(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the stored credentials");
                false
            }
        };
        let session = &self.inner.session;
        let signed_in = has_creds && !session.expired();
        Status {
            signed_in,
            account: if signed_in { session.account() } else { None },
            proxy: self.inner.proxy.status(&self.settings()),
            launch_at_login: self.read_launch_at_login().await,
            version: crate::VERSION.to_string(),
            commit: crate::COMMIT.to_string(),
            client_version: client.http().client_version().current().into(),
            sign_in: session.progress(),
            guard: (&self.guard_status()).into(),
        }
    }

    /// Recomputes the status and sends it to subscribers when it changed.
    pub(super) async fn publish(&self) -> Status {
        let publisher = &self.inner.status;
        let _one_at_a_time = publisher.one_at_a_time.lock().await;
        let status = self.compute_status().await;
        publisher.sender.send_if_modified(|cur| {
            if *cur == status {
                false
            } else {
                *cur = status.clone();
                true
            }
        });
        status
    }

    /// Publishes the status from a synchronous context (the call observer).
    pub(super) fn publish_soon(&self) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let app = self.clone();
            rt.spawn(async move {
                app.publish().await;
            });
        }
    }

    /// The OpenAI base URL clients use, `http://<host>:<port>/v1`: where the proxy
    /// listens, else where it would.
    pub fn base_url(&self) -> String {
        self.inner.proxy.status(&self.settings()).base_url
    }
}
