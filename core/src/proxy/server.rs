//! The accept loop: one listening socket, held for as long as its owner wants, serving
//! each new connection with the [`Generation`] in its slot — a proxy run's router, or the
//! "stopped" answer — so a stop, a restart or a key rotation never frees the port for
//! another local user to take and pose as the proxy (issue 15).
//!
//! Every connection is bounded (slowloris, floods):
//! - at most `max_connections` are open at once; the next ones wait in the listen backlog
//!   until one closes (accepting and closing them would only make well-behaved clients
//!   fail during a burst);
//! - a connection must start its first request within `header_read_timeout_secs` — zero
//!   bytes, half a request line and half an HTTP/2 preface are all cut — and hyper's
//!   HTTP/1 header timer, restarted whenever a connection goes idle, bounds every later
//!   request's headers and the idle keep-alive wait alike;
//! - HTTP/2 connections are pinged, so a peer that vanished is noticed.
//!
//! Swapping generations never drops the socket: connections accepted before the swap keep
//! the generation they started with until it is retired (idle keep-alive connections close
//! at once, busy ones after their response), so the client's next connection meets the new
//! one.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::settings::Settings;

/// HTTP/2 liveness pings: every 20 s, and a peer that does not answer within 20 s is gone.
const H2_PING: Duration = Duration::from_secs(20);

/// The connection bounds of a generation, from the settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    header_read: Duration,
    max_connections: usize,
}

impl Limits {
    pub(crate) fn from_settings(s: &Settings) -> Limits {
        Limits {
            header_read: Duration::from_secs(s.header_read_timeout_secs.max(1)),
            max_connections: usize::try_from(s.max_connections.max(1)).unwrap_or(usize::MAX),
        }
    }
}

/// What serves the connections accepted while it is in a socket's slot. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Generation(Arc<GenerationInner>);

struct GenerationInner {
    router: Router,
    limits: Limits,
    http: auto::Builder<TokioExecutor>,
    /// Cancelled when it is retired: its connections finish their response and close.
    retire: CancellationToken,
    /// Its open connections.
    conns: TaskTracker,
}

impl Generation {
    pub(crate) fn new(router: Router, limits: Limits) -> Generation {
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read);
        http.http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(H2_PING)
            .keep_alive_timeout(H2_PING);
        Generation(Arc::new(GenerationInner {
            router,
            limits,
            http,
            retire: CancellationToken::new(),
            conns: TaskTracker::new(),
        }))
    }

    /// Asks its connections to finish: idle ones close now, busy ones after their response.
    pub(crate) fn retire(&self) {
        self.0.retire.cancel();
        self.0.conns.close();
    }

    /// Retires it and waits up to `grace` for its connections to close; true if they did.
    pub(crate) async fn drain(&self, grace: Duration) -> bool {
        self.retire();
        tokio::time::timeout(grace, self.0.conns.wait())
            .await
            .is_ok()
    }

    /// Serves one accepted connection until it closes (or is cut), holding `permit`.
    fn serve(&self, tcp: TcpStream, permit: tokio::sync::OwnedSemaphorePermit) {
        let g = self.clone();
        self.0.conns.spawn(async move {
            let _permit = permit;
            g.connection(tcp).await;
        });
    }

    async fn connection(&self, tcp: TcpStream) {
        // Without TCP_NODELAY every small SSE write can wait ~40 ms for the peer's ACK.
        let _ = tcp.set_nodelay(true);
        let started = Arc::new(Notify::new());
        let service = FirstRequest {
            inner: TowerToHyperService::new(self.0.router.clone()),
            started: started.clone(),
        };
        let conn = self.0.http.serve_connection(TokioIo::new(tcp), service);
        let mut conn = std::pin::pin!(conn);
        // Until its first request starts, hyper's HTTP/1 timer may not run yet (the
        // protocol is still being sniffed from the first bytes), so this one does.
        tokio::select! {
            _ = conn.as_mut() => return,
            () = started.notified() => {}
            () = tokio::time::sleep(self.0.limits.header_read) => {
                tracing::debug!("closed a connection that sent no request in time");
                return;
            }
            () = self.0.retire.cancelled() => return,
        }
        tokio::select! {
            _ = conn.as_mut() => return,
            () = self.0.retire.cancelled() => {}
        }
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// The hyper service of a connection: the generation's router, noting its first request.
#[derive(Clone)]
struct FirstRequest<S> {
    inner: S,
    started: Arc<Notify>,
}

impl<R, S: hyper::service::Service<R>> hyper::service::Service<R> for FirstRequest<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, req: R) -> Self::Future {
        // A stored permit: the connection task sees it whenever it next looks.
        self.started.notify_one();
        self.inner.call(req)
    }
}

/// A listening socket and its accept loop. Dropping it stops accepting; [`Socket::close`]
/// also says when the port is free.
pub(crate) struct Socket {
    addr: SocketAddr,
    slot: Arc<Slot>,
    close: CancellationToken,
    /// One accept loop per listener (the configured address and its loopback twin).
    accept: Vec<JoinHandle<()>>,
    /// Cancelled when the accept loop has ended, for whatever reason.
    ended: CancellationToken,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// The generation new connections get, and the connection cap.
struct Slot {
    current: Mutex<Generation>,
    permits: Arc<Semaphore>,
    /// What `permits` was sized for (changed by a generation with other limits).
    cap: Mutex<usize>,
}

impl Socket {
    /// Starts accepting on `listener` and its `twins` (served alike, e.g. `[::1]` beside
    /// `127.0.0.1`), serving `first`.
    pub(crate) fn open(
        listener: TcpListener,
        twins: Vec<TcpListener>,
        first: Generation,
    ) -> std::io::Result<Socket> {
        let addr = listener.local_addr()?;
        let cap = first.0.limits.max_connections;
        let slot = Arc::new(Slot {
            current: Mutex::new(first),
            permits: Arc::new(Semaphore::new(cap)),
            cap: Mutex::new(cap),
        });
        let close = CancellationToken::new();
        let ended = CancellationToken::new();
        let accept = std::iter::once(listener)
            .chain(twins)
            .map(|l| tokio::spawn(accept_loop(l, slot.clone(), close.clone(), ended.clone())))
            .collect();
        Ok(Socket {
            addr,
            slot,
            close,
            accept,
            ended,
        })
    }

    /// Where it listens.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves new connections with `next`; returns the generation it replaces, whose
    /// connections stay until the caller retires or drains it.
    pub(crate) fn install(&self, next: Generation) -> Generation {
        self.slot.resize(next.0.limits.max_connections);
        std::mem::replace(&mut *lock(&self.slot.current), next)
    }

    /// Resolves when the accept loop has ended ([`Socket::close`], or a panic).
    pub(crate) fn ended(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.ended.clone().cancelled_owned()
    }

    /// Stops accepting and releases the port (free when this returns); gives back the
    /// generation it served, whose connections are still open.
    pub(crate) async fn close(mut self) -> Generation {
        self.close.cancel();
        for task in std::mem::take(&mut self.accept) {
            let _ = task.await;
        }
        lock(&self.slot.current).clone()
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.close.cancel();
    }
}

impl Slot {
    /// Sizes the connection cap to `cap`: more room at once; less as connections close.
    fn resize(&self, cap: usize) {
        let mut current = lock(&self.cap);
        if cap > *current {
            self.permits.add_permits(cap - *current);
        } else if cap < *current {
            let fewer = u32::try_from(*current - cap).unwrap_or(u32::MAX);
            let permits = self.permits.clone();
            tokio::spawn(async move {
                if let Ok(p) = permits.acquire_many_owned(fewer).await {
                    p.forget();
                }
            });
        }
        *current = cap;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept_loop(
    listener: TcpListener,
    slot: Arc<Slot>,
    close: CancellationToken,
    ended: CancellationToken,
) {
    let _ended = ended.drop_guard();
    let mut at_cap_logged = false;
    loop {
        let permit = match slot.permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !at_cap_logged {
                    tracing::warn!(
                        "max_connections reached: new connections wait until one closes"
                    );
                    at_cap_logged = true;
                }
                tokio::select! {
                    p = slot.permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    () = close.cancelled() => return,
                }
            }
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = close.cancelled() => return,
        };
        match accepted {
            Ok((tcp, _peer)) => {
                at_cap_logged = false;
                let generation = lock(&slot.current).clone();
                generation.serve(tcp, permit);
            }
            // Out of descriptors (EMFILE) and the like: wait a little instead of spinning.
            Err(e) => {
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                    () = close.cancelled() => return,
                }
            }
        }
    }
}
