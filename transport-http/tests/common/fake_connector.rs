//! A loopback fake Connector service and token endpoint for the outbound tests: it records
//! every request, answers as scripted, and issues numbered tokens.

use super::serve;
use botcore::{Address, ChannelAccount};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use transport_http::axum::body::Bytes;
use transport_http::axum::extract::State;
use transport_http::axum::http::{HeaderMap, Method, StatusCode, Uri};
use transport_http::axum::response::{IntoResponse, Response};
use transport_http::axum::{Router, routing::any};
use transport_http::{HttpSettings, HttpTransport, RetrySettings};

/// A request the fake Connector service got.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub auth: Option<String>,
    pub body: Value,
}

/// How the fake Connector service answers one request.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub retry_after: Option<&'static str>,
    pub body: Value,
    pub delay: Duration,
}

/// An answer with `status` and `body`, at once.
pub fn reply(status: u16, body: Value) -> Scripted {
    Scripted {
        status,
        retry_after: None,
        body,
        delay: Duration::ZERO,
    }
}

/// A fake Connector service and token endpoint that count what they get.
#[derive(Clone, Default)]
pub struct Fake {
    requests: Arc<Mutex<Vec<Request>>>,
    /// Answers still to give, in order.
    pub script: Arc<Mutex<VecDeque<Scripted>>>,
    /// The form body of every token request.
    pub token_forms: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    /// Starts the fake on a fresh loopback port.
    pub async fn start() -> (Self, SocketAddr) {
        let fake = Self::default();
        let app = Router::new().fallback(any(handle)).with_state(fake.clone());
        (fake, serve(app).await)
    }

    /// Queues the answer to the next Connector request not yet scripted.
    pub fn then(&self, s: Scripted) -> &Self {
        self.script.lock().unwrap().push_back(s);
        self
    }

    /// Every Connector request so far (token requests are not counted).
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many tokens the token endpoint issued.
    pub fn tokens_issued(&self) -> usize {
        self.token_forms.lock().unwrap().len()
    }
}

/// Answers a token request, or records a Connector request and answers it as scripted
/// (by default 200 with a fresh activity id).
pub async fn handle(
    State(f): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if uri.path() == "/token" {
        let mut forms = f.token_forms.lock().unwrap();
        forms.push(String::from_utf8_lossy(&body).into_owned());
        let body = json!({"token_type": "Bearer", "expires_in": 3600, "access_token": format!("t{}", forms.len())});
        return transport_http::axum::Json(body).into_response();
    }
    let n = {
        let mut reqs = f.requests.lock().unwrap();
        reqs.push(Request {
            method,
            path: uri.path().to_owned(),
            auth: headers
                .get("authorization")
                .map(|h| h.to_str().unwrap().to_owned()),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        });
        reqs.len()
    };
    let scripted = f
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| reply(200, json!({"id": format!("act-{n}")})));
    tokio::time::sleep(scripted.delay).await;
    let mut r = (
        StatusCode::from_u16(scripted.status).unwrap(),
        transport_http::axum::Json(scripted.body),
    )
        .into_response();
    if let Some(ra) = scripted.retry_after {
        r.headers_mut().insert("retry-after", ra.parse().unwrap());
    }
    r
}

/// Transport settings for the fake at `addr`: no inbound auth, its token endpoint, only
/// 127.0.0.1 allowed, a 500 ms request timeout and three quick attempts.
pub fn settings(addr: SocketAddr) -> HttpSettings {
    let mut s = HttpSettings::new("app-id", "app-secret");
    s.auth_enabled = false;
    s.token_endpoint = format!("http://{addr}/token");
    s.allowed_service_urls = vec!["127.0.0.1".into()];
    s.request_timeout = Duration::from_millis(500);
    s.retry = RetrySettings {
        max_attempts: 3,
        max_wait: Duration::from_secs(2),
        connect_backoff: Duration::from_millis(20),
    };
    s
}

/// A Teams user's address in conversation `a:conv/1`, replying to `act-in`.
pub fn address(service_url: &str) -> Address {
    let mut a = Address::new(
        "msteams",
        ChannelAccount::new("29:ann").with_name("Ann"),
        ChannelAccount::new("28:bot"),
    )
    .with_conversation("a:conv/1")
    .with_service_url(service_url);
    a.id = Some("act-in".into());
    a
}

/// A fake service and a connector configured for it.
pub async fn setup() -> (Fake, SocketAddr, transport_http::HttpConnector) {
    let (fake, addr) = Fake::start().await;
    let connector = HttpTransport::new(settings(addr)).unwrap().connector();
    (fake, addr, connector)
}
