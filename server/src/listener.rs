//! The HTTP/1.1 server loop, with the limits `axum::serve` lacks: a stranger
//! who opens connections and sends nothing, sends headers a byte at a time
//! or drips a body must not hold a connection, a task and its buffers
//! forever.
//!
//! - `server.header_timeout_secs`: a connection must deliver a complete
//!   request head within this time. The clock runs whenever the connection
//!   waits for a head, so it is also the idle keep-alive limit.
//! - `server.body_timeout_secs`: a request's whole body must arrive within
//!   this time of its head.
//! - `server.max_connections`: connections open at once; beyond it new ones
//!   wait in the kernel's backlog until one closes.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use bytes::Bytes;
use http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{Semaphore, watch},
    time::{Instant, Sleep},
};
use tower::ServiceExt;

use crate::platform::config::ServerSettings;

/// The limits, read from `server.*`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
}

/// Descriptors left for everything but client connections: the database
/// pool, connections to providers, the usage spool, logs.
const RESERVED_FILES: u64 = 512;

impl Limits {
    /// Raises the process's open-file limit as far as the system allows,
    /// and lowers `max_connections` to what that leaves: past it, `accept`
    /// would fail, and so would opening the database or a provider.
    pub fn within_open_file_limit(mut self) -> Self {
        let allowed = match rlimit::increase_nofile_limit(u64::MAX) {
            Ok(allowed) => allowed,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the open-file limit");
                return self;
            }
        };
        let room = usize::try_from(allowed.saturating_sub(RESERVED_FILES))
            .unwrap_or(usize::MAX)
            .max(1);
        if self.max_connections > room {
            tracing::warn!(
                configured = self.max_connections,
                open_files = allowed,
                "server.max_connections lowered to {room} to fit the open-file limit (ulimit -n)"
            );
            self.max_connections = room;
        }
        self
    }
}

impl From<&ServerSettings> for Limits {
    fn from(settings: &ServerSettings) -> Self {
        Self {
            header_timeout: Duration::from_secs(settings.header_timeout_secs),
            body_timeout: Duration::from_secs(settings.body_timeout_secs),
            max_connections: settings.max_connections,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then stops
/// accepting, lets every open connection finish its request in flight, and
/// returns once all are closed. Handlers see the peer as
/// `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let open = Arc::new(Semaphore::new(max_connections));
    let (stop, stopping) = watch::channel(());
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    pause_after_accept_error(&err).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        no_delay(&tcp);
        let connection = http
            .serve_connection(
                TokioIo::new(tcp),
                hyper::service::service_fn(handle(router.clone(), peer, limits.body_timeout)),
            )
            .with_upgrades();
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result),
                _ = stopping.changed() => {
                    // Finish the request in flight, then close.
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await);
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(());
    // Every connection holds a permit until it closes.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _ = open.acquire_many(all).await;
}

/// The service for one connection: tells handlers who the peer is, and
/// puts a deadline on each request's body.
fn handle(
    router: Router,
    peer: SocketAddr,
    body_timeout: Duration,
) -> impl Fn(Request<Incoming>) -> tower::util::Oneshot<Router, Request<Body>> {
    move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let request = request.map(|body| {
            if body.is_end_stream() {
                Body::new(body)
            } else {
                Body::new(Deadline::new(body, Instant::now() + body_timeout))
            }
        });
        router.clone().oneshot(request)
    }
}

/// Stream events are small writes, which Nagle's algorithm would hold back
/// until the peer's delayed ACK (about 40 ms each).
pub fn no_delay(tcp: &TcpStream) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(error = %err, "cannot set TCP_NODELAY");
    }
}

/// `accept` fails for a connection reset before it was accepted (try the
/// next at once) or for want of file descriptors (wait for some to close).
async fn pause_after_accept_error(err: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %err, "cannot accept a connection; pausing for a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Timeouts and clients that hang up are routine: debug, not warnings.
fn log_end(result: hyper::Result<()>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended");
    }
}

/// A request body that fails once `deadline` passes, however steadily its
/// bytes trickle in.
struct Deadline<B> {
    body: B,
    deadline: Instant,
    /// Armed only once the body keeps the reader waiting: most bodies are
    /// whole on the first read and need no timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> Deadline<B> {
    fn new(body: B, deadline: Instant) -> Self {
        Self {
            body,
            deadline,
            timer: None,
        }
    }
}

/// What a handler sees when reading a body that came too slowly.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimeout;

impl<B> HttpBody for Deadline<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let deadline = self.deadline;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout.into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::{
        Router,
        body::{Body, to_bytes},
        routing::{get, post},
    };
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::{TcpListener, TcpStream},
        time::timeout,
    };

    use super::{Limits, serve};

    /// Far longer than any limit below: a connection still open by then
    /// was not closed by the limit under test.
    const PATIENCE: Duration = Duration::from_secs(15);

    async fn start(limits: Limits) -> std::net::SocketAddr {
        let router = Router::new().route("/ok", get(|| async { "ok" })).route(
            "/read",
            post(|body: Body| async move {
                match to_bytes(body, usize::MAX).await {
                    Ok(bytes) => format!("read {} bytes", bytes.len()),
                    Err(err) => format!("failed: {err}"),
                }
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, router, limits, std::future::pending()));
        addr
    }

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(1),
            body_timeout: Duration::from_secs(1),
            max_connections: 1_000,
        }
    }

    /// Reads until the server closes the connection; what it sent.
    async fn read_to_close(tcp: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        timeout(PATIENCE, tcp.read_to_end(&mut answer))
            .await
            .expect("the server kept the connection open")
            .ok();
        String::from_utf8_lossy(&answer).into_owned()
    }

    #[tokio::test]
    async fn three_hundred_half_sent_requests_are_closed_by_the_header_timeout() {
        let addr = start(limits()).await;
        let mut connections = Vec::new();
        for _ in 0..300 {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .await
                .unwrap();
            connections.push(tcp);
        }
        for tcp in &mut connections {
            let answer = read_to_close(tcp).await;
            assert!(!answer.contains("ok"), "a half-sent request was answered");
        }
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed() {
        let addr = start(limits()).await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let answer = read_to_close(&mut tcp).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn a_body_that_trickles_fails_at_the_deadline() {
        let addr = start(limits()).await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
            .await
            .unwrap();
        let answer = read_to_close(&mut tcp).await;
        assert!(
            answer.contains("failed: the request body did not arrive in time"),
            "{answer}"
        );
    }

    #[tokio::test]
    async fn a_body_sent_in_time_is_read_whole() {
        let addr = start(limits()).await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(b"POST /read HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789")
            .await
            .unwrap();
        let answer = read_to_close(&mut tcp).await;
        assert!(answer.contains("read 10 bytes"), "{answer}");
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_wait_until_one_closes() {
        let addr = start(Limits {
            header_timeout: Duration::from_secs(60),
            max_connections: 2,
            ..limits()
        })
        .await;
        let mut first = TcpStream::connect(addr).await.unwrap();
        let _second = TcpStream::connect(addr).await.unwrap();
        // Accepted once the first two are, so it waits in the backlog.
        let mut third = TcpStream::connect(addr).await.unwrap();
        third
            .write_all(b"GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut byte = [0; 1];
        assert!(
            timeout(Duration::from_millis(500), third.read(&mut byte))
                .await
                .is_err(),
            "a third connection was served while two were open"
        );
        first.shutdown().await.unwrap();
        drop(first);
        let answer = read_to_close(&mut third).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
}
