//! The fake channel: a loopback Connector service (an axum server in the test process) that
//! records every activity the bots send, numbered in arrival order, and answers `200`.
//! It can hold requests past a count unanswered, to freeze a sender mid-batch.

use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use transport_http::axum::body::Bytes;
use transport_http::axum::extract::State;
use transport_http::axum::http::Uri;
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
}

/// The fake channel; clones share the recording.
#[derive(Clone)]
pub struct FakeChannel {
    inner: Arc<Inner>,
    url: String,
}

impl FakeChannel {
    /// Serves on a fresh 127.0.0.1 port.
    pub async fn start() -> Self {
        let inner = Arc::new(Inner {
            answer_first: AtomicUsize::new(usize::MAX),
            ..Inner::default()
        });
        let app = Router::new()
            .fallback(any(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { transport_http::axum::serve(listener, app).await });
        Self { inner, url }
    }

    /// The service URL to put in activities.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Everything received so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.inner.arrivals.lock().unwrap().clone()
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

async fn handle(State(inner): State<Arc<Inner>>, uri: Uri, body: Bytes) -> Json<Value> {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let seq = {
        let mut arrivals = inner.arrivals.lock().unwrap();
        let seq = arrivals.len() + 1;
        arrivals.push(Arrival {
            seq,
            path: uri.path().to_owned(),
            conversation: text(&body["conversation"]["id"]),
            user: text(&body["recipient"]["id"]),
            text: text(&body["text"]),
            held: seq > inner.answer_first.load(Ordering::SeqCst),
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
    Json(json!({ "id": format!("r{seq}") }))
}
