//! Client connections, bounded: the counting acceptor that refuses a connection over the global
//! cap or over the per-IP cap of connections that have not authenticated, and the deadlines of
//! each connection (contract §2 "Hostile clients").
//!
//! Why here and not in hyper or tower: hyper's `header_read_timeout` starts when hyper waits for
//! a head, so on a keep-alive connection it also runs while the connection is idle (an idle
//! connection would close after 10 s, not 60 s), and it cannot tell an upgraded WebSocket from
//! a slow client. A tower layer sees requests, not connections, so it can neither cap sockets
//! nor time a head that never ends. So every accepted socket is wrapped in a [`TimedIo`] that
//! knows its connection's [`Phase`]: waiting for a head (10 s from its first byte, or from the
//! accept), idle between requests (60 s without a byte either way), busy with a request (the
//! handler and the body deadline bound it), or upgraded (the WebSocket's ping and idle timeout
//! bound it). Requests tell the connection where it is through the [`Connection`] in their
//! extensions. Must not: read or decide anything about what a request asks.

/// The largest request body the hub reads.
pub const BODY_LIMIT: usize = 64 * 1024;

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use dashmap::DashMap;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tracing::debug;

use crate::config::HttpLimits;
use crate::metrics::{CONNECTIONS_OPEN, CONNECTIONS_REFUSED, CONNECTIONS_TIMED_OUT};

/// The bounds every connection is held to, and the counts they are checked against.
#[derive(Debug)]
pub struct ConnLimits {
    header_timeout: Duration,
    idle_timeout: Duration,
    body_timeout: Duration,
    max_connections: usize,
    max_per_ip: usize,
    open: AtomicUsize,
    /// Open connections per client IP that have not authenticated.
    anonymous: DashMap<IpAddr, usize>,
}

/// Why a connection was refused at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    TooManyConnections,
    TooManyFromThisAddress,
}

impl ConnLimits {
    pub fn new(limits: HttpLimits) -> Arc<Self> {
        Arc::new(ConnLimits {
            header_timeout: Duration::from_secs(limits.header_timeout_seconds),
            idle_timeout: Duration::from_secs(limits.idle_timeout_seconds),
            body_timeout: Duration::from_secs(limits.body_timeout_seconds),
            max_connections: limits.max_connections,
            max_per_ip: limits.max_connections_per_ip,
            open: AtomicUsize::new(0),
            anonymous: DashMap::new(),
        })
    }

    /// Open client connections.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Admits a new connection from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<Connection>, Refused> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= self.max_connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::TooManyConnections);
        }
        {
            let mut count = self.anonymous.entry(ip).or_insert(0);
            if *count >= self.max_per_ip {
                drop(count);
                self.open.fetch_sub(1, Ordering::AcqRel);
                return Err(Refused::TooManyFromThisAddress);
            }
            *count += 1;
        }
        metrics::gauge!(CONNECTIONS_OPEN).increment(1.0);
        Ok(Arc::new(Connection {
            ip,
            limits: Arc::clone(self),
            authenticated: AtomicBool::new(false),
            phase: Mutex::new(Phase::Head {
                deadline: Instant::now() + self.header_timeout,
            }),
        }))
    }

    fn release_anonymous(&self, ip: IpAddr) {
        let emptied = self.anonymous.get_mut(&ip).is_some_and(|mut count| {
            *count = count.saturating_sub(1);
            *count == 0
        });
        if emptied {
            self.anonymous.remove_if(&ip, |_, count| *count == 0);
        }
    }
}

/// Where a connection is between requests, and so which deadline it is held to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A request head is arriving (or the first is awaited after the accept).
    Head { deadline: Instant },
    /// Requests are being answered; their own deadlines bound them.
    Busy { in_flight: u32 },
    /// A keep-alive connection with nothing in flight.
    Idle { deadline: Instant },
    /// Taken over by a WebSocket, whose heartbeat bounds it.
    Upgraded,
}

/// One client connection, shared by its socket and its requests.
#[derive(Debug)]
pub struct Connection {
    ip: IpAddr,
    limits: Arc<ConnLimits>,
    authenticated: AtomicBool,
    phase: Mutex<Phase>,
}

impl Connection {
    fn phase(&self) -> MutexGuard<'_, Phase> {
        // Nothing under this lock panics; a poisoned lock still holds a valid phase.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How long a request's body may take to arrive in full.
    pub fn body_timeout(&self) -> Duration {
        self.limits.body_timeout
    }

    /// A request on this connection presented valid credentials: it no longer counts against
    /// its address's cap for anonymous connections.
    pub fn authenticated(&self) {
        if !self.authenticated.swap(true, Ordering::AcqRel) {
            self.limits.release_anonymous(self.ip);
        }
    }

    /// The connection now carries a WebSocket.
    pub fn upgraded(&self) {
        *self.phase() = Phase::Upgraded;
    }

    fn request_started(&self) {
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy { in_flight } => Phase::Busy {
                in_flight: in_flight + 1,
            },
            Phase::Upgraded => Phase::Upgraded,
            Phase::Head { .. } | Phase::Idle { .. } => Phase::Busy { in_flight: 1 },
        };
    }

    fn request_finished(&self) {
        let mut phase = self.phase();
        if let Phase::Busy { in_flight } = *phase {
            *phase = if in_flight > 1 {
                Phase::Busy {
                    in_flight: in_flight - 1,
                }
            } else {
                Phase::Idle {
                    deadline: Instant::now() + self.limits.idle_timeout,
                }
            };
        }
    }

    /// Bytes came in: on an idle connection they start a head, which must end in time.
    fn on_read(&self) {
        let mut phase = self.phase();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Head {
                deadline: Instant::now() + self.limits.header_timeout,
            };
        }
    }

    /// Bytes went out: an idle connection still being written to is not idle.
    fn on_write(&self) {
        let mut phase = self.phase();
        if let Phase::Idle { .. } = *phase {
            *phase = Phase::Idle {
                deadline: Instant::now() + self.limits.idle_timeout,
            };
        }
    }

    /// When the connection is closed if nothing changes, and why.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        match *self.phase() {
            Phase::Head { deadline } => Some((deadline, "header")),
            Phase::Idle { deadline } => Some((deadline, "idle")),
            Phase::Busy { .. } | Phase::Upgraded => None,
        }
    }
}

/// Gives the connection's counts back when its socket is dropped.
#[derive(Debug)]
struct Release(Arc<Connection>);

impl Drop for Release {
    fn drop(&mut self) {
        let conn = &self.0;
        if !conn.authenticated.load(Ordering::Acquire) {
            conn.limits.release_anonymous(conn.ip);
        }
        conn.limits.open.fetch_sub(1, Ordering::AcqRel);
        metrics::gauge!(CONNECTIONS_OPEN).decrement(1.0);
    }
}

/// A socket held to its connection's deadlines: a read that waits past the deadline fails
/// with `TimedOut`, and hyper closes the connection.
#[derive(Debug)]
pub struct TimedIo<T> {
    inner: T,
    release: Release,
    sleep: Pin<Box<Sleep>>,
    armed_for: Option<Instant>,
}

impl<T> TimedIo<T> {
    fn new(inner: T, conn: Arc<Connection>) -> Self {
        TimedIo {
            inner,
            release: Release(conn),
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            armed_for: None,
        }
    }

    fn conn(&self) -> &Connection {
        &self.release.0
    }

    /// Whether the connection's deadline has passed (registering for a wake-up if not).
    fn expired(&mut self, cx: &mut Context<'_>) -> Option<&'static str> {
        let (deadline, what) = self.conn().deadline()?;
        if self.armed_for != Some(deadline) {
            self.sleep.as_mut().reset(deadline);
            self.armed_for = Some(deadline);
        }
        self.sleep.as_mut().poll(cx).is_ready().then_some(what)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.conn().on_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => match this.expired(cx) {
                Some(what) => {
                    metrics::counter!(CONNECTIONS_TIMED_OUT, "phase" => what).increment(1);
                    debug!(phase = what, "closing a connection past its deadline");
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("{what} timeout"),
                    )))
                }
                None => Poll::Pending,
            },
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.conn().on_write();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            this.conn().on_write();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The acceptor under TLS: admits or refuses each TCP connection and ties it to its
/// [`Connection`], which every request on it finds in its extensions.
#[derive(Clone, Debug)]
pub struct CountingAcceptor {
    limits: Arc<ConnLimits>,
}

impl CountingAcceptor {
    pub fn new(limits: Arc<ConnLimits>) -> Self {
        CountingAcceptor { limits }
    }
}

impl<S> axum_server::accept::Accept<TcpStream, S> for CountingAcceptor {
    type Stream = TimedIo<TcpStream>;
    type Service = Tracked<S>;
    type Future = std::future::Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .map_err(|err| (err, "no peer address"))
            .and_then(|peer| {
                self.limits.admit(peer.ip()).map_err(|refused| {
                    let reason = match refused {
                        Refused::TooManyConnections => "total",
                        Refused::TooManyFromThisAddress => "per_ip",
                    };
                    metrics::counter!(CONNECTIONS_REFUSED, "cap" => reason).increment(1);
                    debug!(peer = %peer, cap = reason, "connection refused at the cap");
                    (
                        io::Error::new(io::ErrorKind::ConnectionRefused, "connection cap"),
                        reason,
                    )
                })
            });
        std::future::ready(match admitted {
            Ok(conn) => {
                let _ = stream.set_nodelay(true);
                let service = Tracked {
                    inner: service,
                    conn: Arc::clone(&conn),
                };
                Ok((TimedIo::new(stream, conn), service))
            }
            Err((err, _)) => Err(err),
        })
    }
}

/// The connection's service: marks each request in flight and gives it the [`Connection`].
#[derive(Clone, Debug)]
pub struct Tracked<S> {
    inner: S,
    conn: Arc<Connection>,
}

/// Marks a request finished when its answer is ready, or when it is dropped unanswered.
struct InFlight(Arc<Connection>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

impl<S, B> tower::Service<axum::http::Request<B>> for Tracked<S>
where
    S: tower::Service<axum::http::Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        self.conn.request_started();
        let in_flight = InFlight(Arc::clone(&self.conn));
        req.extensions_mut().insert(Arc::clone(&self.conn));
        let answer = self.inner.call(req);
        Box::pin(async move {
            let answer = answer.await;
            drop(in_flight);
            answer
        })
    }
}

/// The connection a request came on, when it came through the [`CountingAcceptor`].
pub fn of(extensions: &axum::http::Extensions) -> Option<&Arc<Connection>> {
    extensions.get::<Arc<Connection>>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_per_ip: usize) -> Arc<ConnLimits> {
        ConnLimits::new(HttpLimits {
            header_timeout_seconds: 10,
            idle_timeout_seconds: 60,
            body_timeout_seconds: 30,
            max_connections,
            max_connections_per_ip: max_per_ip,
        })
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

    #[test]
    fn anonymous_connections_are_capped_per_address_and_authenticated_ones_are_not() {
        let limits = limits(100, 2);
        let first = limits.admit(A).ok();
        let second = limits.admit(A).ok();
        assert!(first.is_some() && second.is_some());
        assert_eq!(limits.admit(A).err(), Some(Refused::TooManyFromThisAddress));
        assert!(limits.admit(B).is_ok(), "another address has its own cap");
        // An authenticated connection frees its place for another anonymous one.
        if let Some(first) = &first {
            first.authenticated();
            first.authenticated();
        }
        let third = limits.admit(A).ok();
        assert!(third.is_some());
        assert_eq!(limits.admit(A).err(), Some(Refused::TooManyFromThisAddress));
        // Closing gives places back, once each.
        drop(first.map(Release));
        assert_eq!(limits.admit(A).err(), Some(Refused::TooManyFromThisAddress));
        drop(second.map(Release));
        assert!(limits.admit(A).is_ok());
    }

    #[test]
    fn the_global_cap_counts_every_open_connection() {
        let limits = limits(2, 100);
        let first = limits.admit(A).ok().map(Release);
        let _second = limits.admit(B).ok().map(Release);
        assert_eq!(limits.admit(B).err(), Some(Refused::TooManyConnections));
        assert_eq!(limits.open(), 2);
        drop(first);
        assert_eq!(limits.open(), 1);
        assert!(limits.admit(A).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_held_to_the_deadline_of_its_phase() {
        let limits = limits(10, 10);
        let conn = limits.admit(A).ok().unwrap_or_else(|| panic!("admitted"));
        let head = conn.deadline().map(|(_, what)| what);
        assert_eq!(head, Some("header"), "the first head is awaited at once");
        conn.request_started();
        conn.request_started();
        assert_eq!(
            conn.deadline(),
            None,
            "busy: the request's own deadlines apply"
        );
        conn.request_finished();
        assert_eq!(conn.deadline(), None, "one request still in flight");
        conn.request_finished();
        let idle = conn.deadline();
        assert_eq!(idle.map(|(_, what)| what), Some("idle"));
        tokio::time::sleep(Duration::from_secs(5)).await;
        conn.on_write();
        let later = conn.deadline().map(|(at, _)| at);
        assert!(later > idle.map(|(at, _)| at), "writing keeps it alive");
        conn.on_read();
        assert_eq!(conn.deadline().map(|(_, what)| what), Some("header"));
        conn.upgraded();
        conn.request_finished();
        assert_eq!(conn.deadline(), None, "a WebSocket has its own heartbeat");
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_waits_past_the_deadline_fails() {
        let limits = limits(10, 10);
        let conn = limits.admit(A).ok().unwrap_or_else(|| panic!("admitted"));
        let (client, server) = tokio::io::duplex(64);
        let mut io = TimedIo::new(server, conn);
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let read = tokio::io::AsyncReadExt::read(&mut io, &mut buf).await;
        assert_eq!(read.err().map(|e| e.kind()), Some(io::ErrorKind::TimedOut));
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        drop(client);
        drop(io);
        assert_eq!(limits.open(), 0);
    }
}
