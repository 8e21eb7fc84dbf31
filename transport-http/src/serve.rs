//! [`serve`] and [`serve_with`]: an HTTP/1.1 server for the router that bounds what a client
//! on the open internet can hold — see [`ServeSettings`].
//!
//! Each connection is watched: the bytes it moves (read or written) and whether a request is
//! being handled. A connection is closed when
//! - its first request head is not complete [`header_read_timeout`](ServeSettings::header_read_timeout)
//!   after it was accepted, or a later head is not complete that long after its first byte;
//! - no byte moved for [`idle_timeout`](ServeSettings::idle_timeout) — between requests,
//!   while a request body or the answer is under way, or while a turn runs.
//!
//! At most [`max_connections`](ServeSettings::max_connections) are open; past that, new
//! connections are not accepted until one closes, and a warning is logged (at most once a
//! minute while the limit holds).

use crate::settings::ServeSettings;
use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

/// How often the connection-limit warning may repeat while the limit holds.
const LIMIT_WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// Serves `app` on `addr` with [`ServeSettings::default`] until the process ends.
pub async fn serve(addr: impl ToSocketAddrs, app: Router) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    serve_with(listener, app, ServeSettings::default()).await
}

/// Serves `app` on `listener` with `settings` until the process ends.
///
/// ```no_run
/// # async fn run(app: transport_http::axum::Router) -> std::io::Result<()> {
/// let mut settings = transport_http::ServeSettings::default();
/// settings.max_connections = 200;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3978").await?;
/// transport_http::serve_with(listener, app, settings).await
/// # }
/// ```
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    settings: ServeSettings,
) -> io::Result<()> {
    let max = settings.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let mut warned: Option<Instant> = None;
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if warned.is_none_or(|at| at.elapsed() >= LIMIT_WARNING_INTERVAL) {
                    tracing::warn!(
                        max_connections = max,
                        "connection limit reached: new connections wait until one closes"
                    );
                    warned = Some(Instant::now());
                }
                slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| io::Error::other("connection slots closed"))?
            }
        };
        let stream = loop {
            match listener.accept().await {
                Ok((stream, _)) => break stream,
                Err(e) => accept_failed(e).await,
            }
        };
        let app = app.clone();
        tokio::spawn(async move {
            connection(stream, app, settings).await;
            drop(slot);
        });
    }
}

/// Accept errors: a connection reset before it was accepted is nothing; anything else
/// (`EMFILE`: out of file descriptors) is logged, and accepting pauses for a second.
async fn accept_failed(e: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %e, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until it ends or a timeout closes it.
async fn connection(stream: TcpStream, app: Router, settings: ServeSettings) {
    let _ = stream.set_nodelay(true);
    let watch = Arc::new(Watch::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        watch: watch.clone(),
    });
    let service = Tracked {
        inner: TowerToHyperService::new(app),
        watch: watch.clone(),
    };
    let conn = http1::Builder::new()
        .keep_alive(true)
        .header_read_timeout(None)
        .serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    loop {
        let deadline = watch.deadline(&settings);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = watch.changed.notified() => {}
            () = tokio::time::sleep_until(deadline) => {
                if watch.deadline(&settings) <= Instant::now() {
                    tracing::debug!("closing a connection: timed out");
                    return;
                }
            }
        }
    }
}

/// What a connection is doing, for its timeouts.
#[derive(Debug)]
struct Watch {
    state: Mutex<State>,
    /// Woken when the deadline may have moved earlier (a head starts, a request begins or ends).
    changed: Notify,
}

#[derive(Debug)]
struct State {
    /// A request is being handled: its head was read, its answer not produced yet.
    busy: bool,
    /// Requests answered on this connection.
    served: u64,
    /// When the connection was accepted, or the last answer was produced.
    since: Instant,
    /// When the first byte of the next request head arrived.
    head_started: Option<Instant>,
    /// When the last byte moved, either way.
    last_io: Instant,
}

fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(365 * 24 * 3600))
}

impl Watch {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(State {
                busy: false,
                served: 0,
                since: now,
                head_started: None,
                last_io: now,
            }),
            changed: Notify::new(),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn deadline(&self, s: &ServeSettings) -> Instant {
        self.with(|st| match (st.busy, st.served, st.head_started) {
            (true, _, _) => after(st.last_io, s.idle_timeout),
            (false, 0, _) => after(st.since, s.header_read_timeout),
            (false, _, Some(head)) => after(head, s.header_read_timeout),
            (false, _, None) => after(st.last_io.max(st.since), s.idle_timeout),
        })
    }

    fn moved(&self, read: bool) {
        let now = Instant::now();
        let head_started = self.with(|st| {
            st.last_io = now;
            let starts = read && !st.busy && st.served > 0 && st.head_started.is_none();
            if starts {
                st.head_started = Some(now);
            }
            starts
        });
        if head_started {
            self.changed.notify_one();
        }
    }

    fn request_begins(&self) {
        self.with(|st| {
            st.busy = true;
            st.head_started = None;
        });
        self.changed.notify_one();
    }

    fn request_ends(&self) {
        self.with(|st| {
            st.busy = false;
            st.served += 1;
            st.since = Instant::now();
            st.head_started = None;
        });
        self.changed.notify_one();
    }
}

/// The socket, reporting the bytes it moves to the watch.
struct Watched {
    inner: TcpStream,
    watch: Arc<Watch>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.watch.moved(true);
        }
        poll
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.moved(false);
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.watch.moved(false);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The router, telling the watch when a request begins and when its answer is ready.
struct Tracked {
    inner: TowerToHyperService<Router>,
    watch: Arc<Watch>,
}

/// Marks the end of a request when dropped, however its handling ends.
struct RequestEnds(Arc<Watch>);

impl Drop for RequestEnds {
    fn drop(&mut self) {
        self.0.request_ends();
    }
}

type Answer = hyper::Response<Body>;

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = Answer;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Answer, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        self.watch.request_begins();
        let ends = RequestEnds(self.watch.clone());
        let answer = self.inner.call(request);
        Box::pin(async move {
            let answer = answer.await;
            drop(ends);
            answer
        })
    }
}
