//! Serving connections: the accept loop, the cap on open connections, per-connection timeouts, and a
//! shutdown that is bounded in time.
//!
//! `axum::serve` has none of these, and a client that opens connections and sends nothing, or one
//! header line every few seconds, could otherwise hold every file descriptor. hyper parses HTTP; this
//! module only decides how long a connection may wait and which one goes when there is no room.
//!
//! hyper's own `header_read_timeout` starts as soon as a connection waits for a request, so it would
//! bound the idle time between keep-alive requests and the time to send one request's headers with a
//! single number. They are two settings here: a connection waiting for its next request may stay
//! `idle_timeout`; once the first byte of a request has arrived, its headers must be complete within
//! `header_read_timeout`. The body is the handler's business (`body_read_timeout`). Each connection's
//! task looks at it every quarter of the shorter timeout rather than being woken by each request,
//! which would cost a timer per request.
//!
//! At `max_connections`, a new connection evicts the one that has waited longest for a request (idle
//! or still sending headers): it has nothing in flight, so closing it loses nothing, and a slow or
//! idle client can never keep out a new one. Only when every open connection has a request in flight
//! do new connections wait in the listen backlog.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::http::RequestGuard;
use crate::state::AppState;

/// File descriptors kept free of connections: the listener, snapshots, reference files, the
/// runtime's own.
const FD_RESERVE: u64 = 64;

/// Backoff after an accept error that is likely to repeat (out of file descriptors or memory).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(5);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// How often a busy connection looks again, while the server stops, whether its request is done.
const STOPPING_POLL: Duration = Duration::from_millis(50);

/// How often the accept loop looks again when every connection is busy and none can be evicted.
const FULL_POLL: Duration = Duration::from_millis(20);

/// Serves `listener` until `stop` turns true, then closes idle connections at once, lets busy ones
/// finish for at most `shutdown_grace`, and closes the rest. The listener is closed first, so no new
/// connection is accepted after `stop`.
pub async fn serve(
    listener: TcpListener,
    app: RequestGuard,
    state: AppState,
    mut stop: watch::Receiver<bool>,
) {
    let fd_cap = connection_limit_from_fds();
    let configured = state.config_for_request().server.max_connections;
    if let Some(cap) = fd_cap.filter(|&cap| cap < configured) {
        tracing::warn!(
            max_connections = configured,
            effective = cap,
            "the open-file limit leaves room for fewer connections than max_connections"
        );
    }
    let epoch = Instant::now();
    let mut open: HashMap<tokio::task::Id, Arc<Conn>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut fd_warned: Option<Instant> = None;
    loop {
        let server = state.config_for_request().server.clone();
        let cap = fd_cap.map_or(server.max_connections, |c| c.min(server.max_connections));
        let evictable = |c: &Arc<Conn>| c.is_waiting() && !c.evicted.load(Ordering::Relaxed);
        // Past the cap only while an evicted connection closes: wait for it before accepting more, so
        // a burst of new connections never runs the process out of file descriptors.
        let over = open.len() > cap;
        if over || (open.len() == cap && !open.values().any(evictable)) {
            // Otherwise every connection has a request in flight: new ones wait in the backlog.
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                Some(done) = tasks.join_next_with_id() => forget(&mut open, done),
                _ = tokio::time::sleep(FULL_POLL) => {
                    if over {
                        evict_longest_waiting(&open);
                    }
                }
            }
            continue;
        }
        let conn_stop = stop.clone();
        let mut pause = None;
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            Some(done) = tasks.join_next_with_id() => forget(&mut open, done),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    if open.len() >= cap {
                        evict_longest_waiting(&open);
                    }
                    let conn = Arc::new(Conn::new(epoch));
                    let timeouts = Timeouts {
                        header_read: server.header_read_timeout,
                        idle: server.idle_timeout,
                    };
                    let task = tasks.spawn(serve_connection(
                        stream,
                        app.clone(),
                        conn.clone(),
                        epoch,
                        timeouts,
                        conn_stop,
                    ));
                    open.insert(task.id(), conn);
                }
                Err(e) if is_connection_error(&e) => {
                    // That connection was reset before it was accepted; the next one is unaffected.
                }
                Err(e) => {
                    // Out of file descriptors (or memory): make room and wait instead of spinning.
                    if fd_warned.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                        tracing::error!(
                            error = %e,
                            open = open.len(),
                            "accept failed; closing the connection that waited longest and backing off"
                        );
                        fd_warned = Some(Instant::now());
                    }
                    evict_longest_waiting(&open);
                    pause = Some(backoff);
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            },
        }
        if let Some(pause) = pause {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
    drop(listener);
    let grace = state.config_for_request().server.shutdown_grace;
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = tasks.len(),
            grace = ?grace,
            "requests still in flight after shutdown_grace; closing their connections"
        );
        tasks.shutdown().await;
    }
}

fn forget(
    open: &mut HashMap<tokio::task::Id, Arc<Conn>>,
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
) {
    let id = match done {
        Ok((id, ())) => id,
        Err(e) => {
            if e.is_panic() {
                tracing::error!(error = %e, "a connection task panicked");
            }
            e.id()
        }
    };
    open.remove(&id);
}

/// Closes the connection that has waited longest for a request, if any is waiting.
fn evict_longest_waiting(open: &HashMap<tokio::task::Id, Arc<Conn>>) {
    let oldest = open
        .values()
        .filter(|c| c.is_waiting() && !c.evicted.load(Ordering::Relaxed))
        .min_by_key(|c| c.waiting_since.load(Ordering::Relaxed));
    if let Some(conn) = oldest {
        conn.evicted.store(true, Ordering::Relaxed);
        conn.evict.notify_one();
    }
}

/// Errors of `accept` that concern one connection only.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// How many connections the open-file limit leaves room for, when it can be read.
fn connection_limit_from_fds() -> Option<usize> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes the struct it is given.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        if ok && limit.rlim_cur != libc::RLIM_INFINITY {
            #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every platform.
            let usable = (limit.rlim_cur as u64).saturating_sub(FD_RESERVE).max(1);
            return Some(usize::try_from(usable).unwrap_or(usize::MAX));
        }
    }
    None
}

#[derive(Clone, Copy)]
struct Timeouts {
    header_read: Duration,
    idle: Duration,
}

/// What the accept loop and the connection's own task know of one connection. Times are
/// milliseconds since the accept loop's epoch, plus one, so that 0 can mean "not set".
struct Conn {
    /// Requests being handled on this connection.
    busy: AtomicU32,
    /// Since when the connection waits for its next request: accepted, or its last response ready.
    waiting_since: AtomicU64,
    /// When the first byte of the next request arrived; 0 while none has.
    head_since: AtomicU64,
    /// Closes the connection now, to make room for a new one.
    evict: Notify,
    /// Eviction was asked for: not a candidate again.
    evicted: std::sync::atomic::AtomicBool,
}

impl Conn {
    fn new(epoch: Instant) -> Conn {
        Conn {
            busy: AtomicU32::new(0),
            waiting_since: AtomicU64::new(millis(epoch)),
            head_since: AtomicU64::new(0),
            evict: Notify::new(),
            evicted: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// No request in flight: the connection is idle or its client is still sending headers.
    fn is_waiting(&self) -> bool {
        self.busy.load(Ordering::Acquire) == 0
    }

    /// When the connection should be closed if nothing changes; `None` while a request is in flight.
    fn deadline(&self, epoch: Instant, timeouts: Timeouts) -> Option<Instant> {
        if !self.is_waiting() {
            return None;
        }
        let at = |ms: u64, limit: Duration| epoch + Duration::from_millis(ms - 1) + limit;
        match self.head_since.load(Ordering::Acquire) {
            0 => Some(at(
                self.waiting_since.load(Ordering::Acquire),
                timeouts.idle,
            )),
            head => Some(at(head, timeouts.header_read)),
        }
    }
}

fn millis(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// One connection: hyper serves it while this task closes it when it waits too long, is evicted, or
/// the server stops.
async fn serve_connection(
    stream: TcpStream,
    app: RequestGuard,
    conn: Arc<Conn>,
    epoch: Instant,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) {
    let io = TokioIo::new(Watched {
        stream,
        conn: conn.clone(),
        epoch,
    });
    let service = Tracked {
        app,
        conn: conn.clone(),
        epoch,
    };
    let connection = hyper::server::conn::http1::Builder::new()
        // Header and idle timeouts are kept here (see the module docs).
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    // The task looks at its connection at least this often rather than being woken by every request,
    // which would cost a timer per request: a header deadline is noticed at most a quarter of
    // `header_read_timeout` late.
    let tick = (timeouts.header_read.min(timeouts.idle) / 4).max(Duration::from_millis(10));
    let mut stopping = false;
    loop {
        if stopping && conn.is_waiting() {
            return; // The request in flight has its answer; the server is stopping.
        }
        let now = Instant::now();
        let wake = match conn.deadline(epoch, timeouts) {
            Some(deadline) => deadline.min(now + tick),
            None if stopping => now + STOPPING_POLL,
            None => now + tick,
        };
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            _ = conn.evict.notified() => {
                tracing::debug!("connection closed to make room for a new one");
                return;
            }
            _ = tokio::time::sleep_until(wake) => {
                if conn.deadline(epoch, timeouts).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!("connection closed: no complete request in time");
                    return;
                }
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                // Finish the request in flight, then close instead of keeping the connection alive
                // (a connection with nothing in flight closes at the top of the loop).
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The socket, noting when the first byte of a request arrives while no request is in flight.
struct Watched {
    stream: TcpStream,
    conn: Arc<Conn>,
    epoch: Instant,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before
            && self.conn.is_waiting()
            && self.conn.head_since.load(Ordering::Relaxed) == 0
        {
            self.conn
                .head_since
                .store(millis(self.epoch), Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The API as hyper calls it, marking the connection busy from a request's headers to its response.
struct Tracked {
    app: RequestGuard,
    conn: Arc<Conn>,
    epoch: Instant,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = InFlight;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> InFlight {
        self.conn.busy.fetch_add(1, Ordering::AcqRel);
        self.conn.head_since.store(0, Ordering::Release);
        let busy = Busy {
            conn: self.conn.clone(),
            epoch: self.epoch,
        };
        let mut app = self.app.clone();
        InFlight {
            response: tower_service::Service::call(&mut app, request.map(Body::new)),
            _busy: busy,
        }
    }
}

/// A request's response, holding the connection busy until it is ready (or dropped).
pub struct InFlight {
    response: <RequestGuard as tower_service::Service<axum::extract::Request>>::Future,
    _busy: Busy,
}

impl Future for InFlight {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.response.as_mut().poll(cx)
    }
}

struct Busy {
    conn: Arc<Conn>,
    epoch: Instant,
}

impl Drop for Busy {
    fn drop(&mut self) {
        // Waiting starts again when the last request in flight has its response.
        self.conn
            .waiting_since
            .store(millis(self.epoch), Ordering::Release);
        self.conn.busy.fetch_sub(1, Ordering::AcqRel);
    }
}
