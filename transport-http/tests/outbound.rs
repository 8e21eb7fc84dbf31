//! The outbound connector against a loopback fake Connector service: retries, typed errors,
//! the token cache, and where the token may go.

mod common;

use botcore::{Address, ChannelAccount, Connector, DeliveryError, Message};
use common::*;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use storage_memory::MemoryStorage;
use transport_http::axum::body::Bytes;
use transport_http::axum::extract::State;
use transport_http::axum::http::{HeaderMap, Method, StatusCode, Uri};
use transport_http::axum::response::{IntoResponse, Response};
use transport_http::axum::{Router, routing::any};
use transport_http::{HttpSettings, HttpTransport, RetrySettings};

#[derive(Debug, Clone)]
struct Request {
    method: Method,
    path: String,
    auth: Option<String>,
    body: Value,
}

#[derive(Debug, Clone)]
struct Scripted {
    status: u16,
    retry_after: Option<&'static str>,
    body: Value,
    delay: Duration,
}

fn reply(status: u16, body: Value) -> Scripted {
    Scripted {
        status,
        retry_after: None,
        body,
        delay: Duration::ZERO,
    }
}

/// A fake Connector service and token endpoint that count what they get.
#[derive(Clone, Default)]
struct Fake {
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Scripted>>>,
    token_forms: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    async fn start() -> (Self, SocketAddr) {
        let fake = Self::default();
        let app = Router::new().fallback(any(handle)).with_state(fake.clone());
        (fake, serve(app).await)
    }

    fn then(&self, s: Scripted) -> &Self {
        self.script.lock().unwrap().push_back(s);
        self
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    fn tokens_issued(&self) -> usize {
        self.token_forms.lock().unwrap().len()
    }
}

async fn handle(
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

fn settings(addr: SocketAddr) -> HttpSettings {
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

fn address(service_url: &str) -> Address {
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

async fn setup() -> (Fake, SocketAddr, transport_http::HttpConnector) {
    let (fake, addr) = Fake::start().await;
    let connector = HttpTransport::new(settings(addr)).unwrap().connector();
    (fake, addr, connector)
}

#[tokio::test]
async fn replies_and_new_messages_go_to_the_right_urls_with_one_cached_token() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    let r = c.send(&Message::to(&a).text("echo: hi")).await.unwrap();
    assert_eq!(r.activity_id.as_deref(), Some("act-1"));
    assert_eq!(r.conversation_id, "a:conv/1");
    c.send(&Message::to(&a.without_reply()).text("proactive"))
        .await
        .unwrap();

    let reqs = fake.requests();
    assert_eq!(
        reqs[0].path,
        "/v3/conversations/a%3Aconv%2F1/activities/act-in"
    );
    assert_eq!(reqs[1].path, "/v3/conversations/a%3Aconv%2F1/activities");
    assert_eq!(reqs[0].body["replyToId"], "act-in");
    assert_eq!(reqs[0].body["from"]["id"], "28:bot");
    assert_eq!(reqs[0].body["recipient"]["name"], "Ann");
    assert_eq!(reqs[1].body.get("replyToId"), None);
    assert!(reqs.iter().all(|r| r.auth.as_deref() == Some("Bearer t1")));
    assert_eq!(fake.tokens_issued(), 1, "the token is cached");
    let form = fake.token_forms.lock().unwrap()[0].clone();
    for part in [
        "grant_type=client_credentials",
        "client_id=app-id",
        "client_secret=app-secret",
        "scope=https%3A%2F%2Fapi.botframework.com%2F.default",
    ] {
        assert!(form.contains(part), "{form} lacks {part}");
    }
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after() {
    let (fake, addr, c) = setup().await;
    fake.then(Scripted {
        retry_after: Some("1"),
        ..reply(429, json!({}))
    });
    let started = Instant::now();
    let r = c
        .send(&Message::to(&address(&format!("http://{addr}"))).text("x"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(r.activity_id.as_deref(), Some("act-2"));
    assert_eq!(
        fake.requests().len(),
        2,
        "delivered exactly once after one throttled attempt"
    );
}

#[tokio::test]
async fn throttling_gives_up_after_bounded_attempts_and_waits() {
    let (fake, addr, c) = setup().await;
    for _ in 0..3 {
        fake.then(Scripted {
            retry_after: Some("0"),
            ..reply(429, json!({}))
        });
    }
    let e = c
        .send(&Message::to(&address(&format!("http://{addr}"))).text("x"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Throttled {
            retry_after: Some(Duration::ZERO)
        }
    );
    assert_eq!(fake.requests().len(), 3, "max_attempts");

    fake.script.lock().unwrap().clear();
    fake.then(Scripted {
        retry_after: Some("60"),
        ..reply(429, json!({}))
    });
    let started = Instant::now();
    let e = c
        .send(&Message::to(&address(&format!("http://{addr}"))).text("x"))
        .await
        .unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Throttled {
            retry_after: Some(Duration::from_secs(60))
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a wait over max_wait is not slept"
    );
    assert_eq!(fake.requests().len(), 4);
    assert!(e.is_retry_safe());
}

#[tokio::test]
async fn server_errors_and_timeouts_are_ambiguous_and_never_replayed() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    fake.then(reply(500, json!({"error": {"code": "ServiceError"}})));
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Ambiguous(_)), "{e:?}");
    assert!(!e.is_retry_safe());
    assert_eq!(fake.requests().len(), 1);

    fake.then(Scripted {
        delay: Duration::from_secs(2),
        ..reply(200, json!({"id": "late"}))
    });
    let started = Instant::now();
    let e = c.send(&Message::to(&a).text("slow")).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Ambiguous(_)), "{e:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the request timeout applies"
    );
    assert_eq!(
        fake.requests().len(),
        2,
        "the timed-out request was not sent again"
    );
}

#[tokio::test]
async fn refusals_are_permanent_with_the_channels_code() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    fake.then(reply(
        403,
        json!({"error": {"code": "BotBlocked", "message": "blocked"}}),
    ));
    fake.then(reply(
        404,
        json!({"error": {"code": "ConversationNotFound"}}),
    ));
    fake.then(reply(400, json!("not an error object")));
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Permanent {
            status: 403,
            code: Some("BotBlocked".into())
        }
    );
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Permanent {
            status: 404,
            code: Some("ConversationNotFound".into())
        }
    );
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(
        e,
        DeliveryError::Permanent {
            status: 400,
            code: None
        }
    );
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_401_fetches_a_fresh_token_and_retries_once() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    fake.then(reply(401, json!({})));
    c.send(&Message::to(&a).text("x")).await.unwrap();
    let auths: Vec<_> = fake
        .requests()
        .into_iter()
        .map(|r| r.auth.unwrap())
        .collect();
    assert_eq!(auths, ["Bearer t1", "Bearer t2"]);
    assert_eq!(fake.tokens_issued(), 2);

    fake.then(reply(401, json!({})));
    fake.then(reply(401, json!({})));
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert!(matches!(e, DeliveryError::Auth(_)), "{e:?}");
    assert_eq!(fake.requests().len(), 4, "one retry, not more");
    assert_eq!(fake.tokens_issued(), 3);
}

#[tokio::test]
async fn the_token_never_goes_to_a_service_url_that_is_not_allowed() {
    let (fake, addr, c) = setup().await;
    // Same server, but under a host name the allow-list does not name.
    let a = address(&format!("http://localhost:{}", addr.port()));
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert!(matches!(e, DeliveryError::ServiceUrlNotAllowed(_)), "{e:?}");
    let e = c.start_conversation(&a.without_reply()).await.unwrap_err();
    assert!(matches!(e, DeliveryError::ServiceUrlNotAllowed(_)), "{e:?}");
    assert!(fake.requests().is_empty(), "no request was made");
    assert_eq!(fake.tokens_issued(), 0, "no token was even fetched");
}

#[tokio::test]
async fn without_credentials_no_token_is_sent() {
    let (fake, addr) = Fake::start().await;
    let c = HttpTransport::new(HttpSettings::without_auth())
        .unwrap()
        .connector();
    c.send(&Message::to(&address(&format!("http://{addr}"))).text("x"))
        .await
        .unwrap();
    assert_eq!(fake.requests()[0].auth, None);
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn connection_failures_are_retried_then_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = listener.local_addr().unwrap();
    drop(listener);
    let (fake, addr) = Fake::start().await;
    let c = HttpTransport::new(settings(addr)).unwrap().connector();
    let started = Instant::now();
    let e = c
        .send(&Message::to(&address(&format!("http://{closed}"))).text("x"))
        .await
        .unwrap_err();
    assert!(matches!(e, DeliveryError::Unreachable(_)), "{e:?}");
    assert!(e.is_retry_safe());
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "backed off between attempts (20 + 40 ms)"
    );
    assert_eq!(fake.tokens_issued(), 1);
}

#[tokio::test]
async fn conversations_are_started_updated_and_deleted() {
    let (fake, addr, c) = setup().await;
    let mut a = address(&format!("http://{addr}")).without_reply();
    a.conversation = None;
    a.extra
        .insert("channelData".into(), json!({"tenant": {"id": "tenant-1"}}));
    fake.then(reply(201, json!({"id": "new-conv", "activityId": "x"})));
    let started = c.start_conversation(&a).await.unwrap();
    assert_eq!(started.conversation_id(), Some("new-conv"));
    assert_eq!(started.tenant_id(), Some("tenant-1"));
    let req = &fake.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v3/conversations")
    );
    assert_eq!(
        req.body["members"],
        json!([{"id": "29:ann", "name": "Ann"}])
    );
    assert_eq!(req.body["bot"]["id"], "28:bot");
    assert_eq!(req.body["isGroup"], false);
    assert_eq!(req.body["tenantId"], "tenant-1");
    assert_eq!(req.body["channelData"]["tenant"]["id"], "tenant-1");

    c.update("act-9", &Message::to(&started).text("edited"))
        .await
        .unwrap();
    c.delete(&started, "act-9").await.unwrap();
    let reqs = fake.requests();
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("PUT", "/v3/conversations/new-conv/activities/act-9")
    );
    assert_eq!(reqs[1].body["id"], "act-9");
    assert_eq!(reqs[1].body["text"], "edited");
    assert_eq!(
        (reqs[2].method.as_str(), reqs[2].path.as_str()),
        ("DELETE", "/v3/conversations/new-conv/activities/act-9")
    );
}

/// A service URL outside the allow-list becomes usable once a request with a valid channel
/// token for it came in — and the bot's replies then carry the bot's token.
#[tokio::test]
async fn a_validated_inbound_service_url_is_trusted_for_replies() {
    let (fake, addr) = Fake::start().await;
    let keys = KeyServer::start(vec![jwk(KEY1_PEM, "k1", &["msteams"])]).await;
    let mut s = settings(addr);
    s.app_id = APP_ID.into();
    s.auth_enabled = true;
    s.openid_metadata_url = keys.metadata_url();
    s.allowed_service_urls = Vec::new();
    let transport = HttpTransport::new(s).unwrap();
    let (bot, _seen) = test_bot(transport.connector(), MemoryStorage::new());
    let app = serve(transport.router(bot)).await;
    let service_url = format!("http://{addr}/");

    let c = transport.connector();
    let e = c
        .send(&Message::to(&address(&service_url)).text("too early"))
        .await
        .unwrap_err();
    assert!(matches!(e, DeliveryError::ServiceUrlNotAllowed(_)), "{e:?}");
    assert!(fake.requests().is_empty());

    let token = sign(KEY1_PEM, "k1", &claims(&service_url));
    let resp = reqwest::Client::new()
        .post(format!("http://{app}/api/messages"))
        .bearer_auth(token)
        .json(&activity(&service_url, "msteams", "c9", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v3/conversations/c9/activities/c9-m");
    assert_eq!(reqs[0].body["text"], "echo: hi");
    assert_eq!(reqs[0].auth.as_deref(), Some("Bearer t1"));
}

#[tokio::test]
async fn concurrent_sends_on_a_cold_cache_fetch_one_token() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    let sends: Vec<_> = (0..12)
        .map(|i| {
            let (c, m) = (c.clone(), Message::to(&a).text(format!("m{i}")));
            tokio::spawn(async move { c.send(&m).await })
        })
        .collect();
    for s in sends {
        s.await.unwrap().unwrap();
    }
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(fake.requests().len(), 12);
}
