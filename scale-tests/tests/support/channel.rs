//! The fake channel: a loopback Connector service (an axum server in the test process) that
//! records every activity the bots send, numbered in arrival order, and answers `200`.
//! It can hold requests past a count unanswered, to freeze a sender mid-batch; refuse every
//! request with a status ([`FakeChannel::refuse_with`]), every request to some users
//! ([`FakeChannel::refuse_user`]) or every message whose text starts with some words
//! ([`FakeChannel::refuse_text`]); or stop listening, so that connections are refused
//! ([`FakeChannel::go_offline`]), until [`FakeChannel::recover`].

use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};
use transport_http::axum::body::Bytes;
use transport_http::axum::extract::State;
use transport_http::axum::http::{StatusCode, Uri};
use transport_http::axum::response::{IntoResponse, Response};
use transport_http::axum::routing::any;
use transport_http::axum::{Json, Router};

/// One activity a bot sent.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// 1-based arrival number.
    pub seq: usize,
    pub path: String,
    pub conversation: String,
    /// The recipient (the user).
    pub user: String,
    pub text: String,
    /// Whether the channel answered it (false: held, and the sender died waiting).
    pub held: bool,
    /// The status the channel answered (or will answer, once released) with.
    pub status: u16,
}

impl Arrival {
    /// Whether the channel accepted the activity (answered, with a `2xx`).
    pub fn accepted(&self) -> bool {
        !self.held && (200..300).contains(&self.status)
    }
}

#[derive(Default)]
struct Inner {
    arrivals: Mutex<Vec<Arrival>>,
    /// Requests after this many are held until [`FakeChannel::release`].
    answer_first: AtomicUsize,
    released: AtomicBool,
    release: Notify,
    /// How long each answer takes, in ms (a network round trip).
    delay_ms: AtomicUsize,
    /// The status every request is refused with (`0`: none, requests are accepted).
    refuse: AtomicU16,
    /// Users every request to is refused, with a status and a Bot Framework error code.
    refused_users: Mutex<HashMap<String, (u16, String)>>,
    /// Text prefixes every message starting with is refused, with a status and an error code.
    refused_texts: Mutex<Vec<(String, u16, String)>>,
}

/// The server: its address, and how to stop it while it listens.
struct Listening {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

/// The fake channel; clones share the recording.
#[derive(Clone)]
pub struct FakeChannel {
    inner: Arc<Inner>,
    listening: Arc<Mutex<Listening>>,
    url: String,
}

impl FakeChannel {
    /// Serves on a fresh 127.0.0.1 port.
    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            answer_first: AtomicUsize::new(usize::MAX),
            ..Inner::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = serve(listener, inner.clone());
        let listening = Listening {
            addr,
            stop: Some(stop),
        };
        Self {
            inner,
            listening: Arc::new(Mutex::new(listening)),
            url: format!("http://{addr}"),
        }
    }

    /// The service URL to put in activities.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Everything received so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.inner.arrivals.lock().unwrap().clone()
    }

    /// What the channel accepted so far, in arrival order.
    pub fn accepted(&self) -> Vec<Arrival> {
        let arrivals = self.inner.arrivals.lock().unwrap();
        arrivals.iter().filter(|a| a.accepted()).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.inner.arrivals.lock().unwrap().len()
    }

    /// Answers the first `n` requests (counting those already answered) and holds the rest.
    pub fn hold_after(&self, n: usize) {
        self.inner.released.store(false, Ordering::SeqCst);
        self.inner.answer_first.store(n, Ordering::SeqCst);
    }

    /// Makes every answer take `delay` (like a real channel's round trip).
    pub fn set_delay(&self, delay: Duration) {
        let ms = usize::try_from(delay.as_millis()).unwrap_or(usize::MAX);
        self.inner.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Answers the held requests and every later one.
    pub fn release(&self) {
        self.inner.answer_first.store(usize::MAX, Ordering::SeqCst);
        self.inner.released.store(true, Ordering::SeqCst);
        self.inner.release.notify_waiters();
    }

    /// Refuses every request with `status` (recorded, not accepted) until [`Self::recover`]:
    /// `429` with `Retry-After: 0`, `4xx` with a Bot Framework error body.
    pub fn refuse_with(&self, status: u16) {
        assert!(status >= 400, "{status} is not a refusal");
        self.inner.refuse.store(status, Ordering::SeqCst);
    }

    /// Refuses every request whose recipient is `user` with `status` and error `code` (e.g.
    /// `403` `ConversationBlockedByUser`), for as long as the channel runs.
    pub fn refuse_user(&self, user: &str, status: u16, code: &str) {
        assert!(status >= 400, "{status} is not a refusal");
        let mut refused = self.inner.refused_users.lock().unwrap();
        refused.insert(user.to_owned(), (status, code.to_owned()));
    }

    /// Refuses every message whose text starts with `prefix` with `status` and error `code`
    /// (e.g. `400` `BadSyntax`), for as long as the channel runs.
    pub fn refuse_text(&self, prefix: &str, status: u16, code: &str) {
        assert!(status >= 400, "{status} is not a refusal");
        let mut refused = self.inner.refused_texts.lock().unwrap();
        refused.push((prefix.to_owned(), status, code.to_owned()));
    }

    /// Stops listening (connections are refused) and closes the open connections, until
    /// [`Self::recover`]; returns once a connection attempt is refused.
    pub async fn go_offline(&self) {
        let (addr, stop) = {
            let mut listening = self.listening.lock().unwrap();
            (listening.addr, listening.stop.take())
        };
        if let Some(stop) = stop {
            let _ = stop.send(());
        }
        super::wait_until(
            Duration::from_secs(10),
            "the channel stops listening",
            || async move {
                tokio::net::TcpStream::connect(addr)
                    .await
                    .is_err()
                    .then_some(())
            },
        )
        .await;
    }

    /// Accepts requests again (listening again on the same port if it went offline).
    pub async fn recover(&self) {
        self.inner.refuse.store(0, Ordering::SeqCst);
        let addr = {
            let listening = self.listening.lock().unwrap();
            if listening.stop.is_some() {
                return;
            }
            listening.addr
        };
        let listener = super::wait_until(
            Duration::from_secs(10),
            "listen on the channel's port again",
            || async move { tokio::net::TcpListener::bind(addr).await.ok() },
        )
        .await;
        let stop = serve(listener, self.inner.clone());
        self.listening.lock().unwrap().stop = Some(stop);
    }

    /// Waits until at least `n` activities arrived and none arrived for `quiet`.
    pub async fn wait_for(&self, n: usize, quiet: Duration, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let (mut last, mut since) = (self.len(), Instant::now());
        loop {
            let now = self.len();
            if now != last {
                (last, since) = (now, Instant::now());
            }
            if now >= n && since.elapsed() >= quiet {
                return now;
            }
            assert!(
                Instant::now() < deadline,
                "the channel got {now} activities within {timeout:?}, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Serves the channel on `listener` until the returned sender fires: then the listener is
/// closed and open connections are shut down.
fn serve(listener: tokio::net::TcpListener, inner: Arc<Inner>) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    let app = Router::new().fallback(any(handle)).with_state(inner);
    tokio::spawn(async move {
        transport_http::axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                // A channel dropped without going offline keeps serving, as before.
                if stopped.await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
            .await
    });
    stop
}

async fn handle(State(inner): State<Arc<Inner>>, uri: Uri, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let user = text(&body["recipient"]["id"]);
    let by_text = {
        let texts = inner.refused_texts.lock().unwrap();
        let activity_text = body["text"].as_str().unwrap_or_default();
        let rule = texts
            .iter()
            .find(|(p, _, _)| activity_text.starts_with(p.as_str()));
        rule.map(|(_, status, code)| (*status, code.clone()))
    };
    let by_user = inner.refused_users.lock().unwrap().get(&user).cloned();
    let (refuse, code) = match by_user.or(by_text) {
        Some((status, code)) => (status, Some(code)),
        None => (inner.refuse.load(Ordering::SeqCst), None),
    };
    let seq = {
        let mut arrivals = inner.arrivals.lock().unwrap();
        let seq = arrivals.len() + 1;
        arrivals.push(Arrival {
            seq,
            path: uri.path().to_owned(),
            conversation: text(&body["conversation"]["id"]),
            user,
            text: text(&body["text"]),
            held: seq > inner.answer_first.load(Ordering::SeqCst),
            status: if refuse == 0 { 200 } else { refuse },
        });
        seq
    };
    if seq > inner.answer_first.load(Ordering::SeqCst) {
        loop {
            let notified = inner.release.notified();
            if inner.released.load(Ordering::SeqCst) {
                break;
            }
            notified.await;
        }
    }
    let delay = inner.delay_ms.load(Ordering::SeqCst) as u64;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if refuse != 0 {
        return refusal(refuse, code);
    }
    Json(json!({ "id": format!("r{seq}") })).into_response()
}

/// The answer of a channel refusing a request with `status` (and error code `error`, else
/// the status's reason).
fn refusal(status: u16, error: Option<String>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let error = error.unwrap_or_else(|| code.canonical_reason().unwrap_or("Refused").into());
    let body = Json(json!({ "error": { "code": error } }));
    if code == StatusCode::TOO_MANY_REQUESTS {
        return (code, [("retry-after", "0")], body).into_response();
    }
    (code, body).into_response()
}
