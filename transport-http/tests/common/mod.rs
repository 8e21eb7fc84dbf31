//! Shared test kit: loopback servers, a recording connector, a bot that counts its turns,
//! RSA signing keys and token minting.
#![allow(dead_code, unreachable_pub)]

use async_trait::async_trait;
use botcore::{
    Address, Bot, Connector, DeliveryError, EventAction, Message, Receipt, StepError, Waterfall,
    prompts,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use transport_http::axum::Router;

pub mod fake_connector;

pub const APP_ID: &str = "test-app-id";
pub const ISSUER: &str = "https://api.botframework.com";
pub const KEY1_PEM: &[u8] = include_bytes!("../fixtures/signing-key-1.pem");
pub const KEY2_PEM: &[u8] = include_bytes!("../fixtures/signing-key-2.pem");

/// Serves `app` on a fresh 127.0.0.1 port, with `transport_http::serve_with` and its
/// default settings.
pub async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let settings = transport_http::ServeSettings::default();
    tokio::spawn(async move {
        transport_http::serve_with(listener, app, settings)
            .await
            .unwrap()
    });
    addr
}

/// Records every message the bot sends instead of sending it.
#[derive(Debug, Default, Clone)]
pub struct RecordingConnector {
    pub sent: Arc<Mutex<Vec<Message>>>,
}

impl RecordingConnector {
    pub fn texts(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.text.clone())
            .collect()
    }
}

#[async_trait]
impl Connector for RecordingConnector {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        let mut sent = self.sent.lock().unwrap();
        sent.push(message.clone());
        Ok(Receipt {
            activity_id: Some(format!("out-{}", sent.len())),
            conversation_id: message
                .address
                .conversation_id()
                .unwrap_or_default()
                .to_owned(),
        })
    }

    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        Ok(address.clone().with_conversation("started"))
    }
}

/// What the test bot saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// Dialog steps run.
    pub turns: Arc<AtomicUsize>,
    /// Non-message activities given to the event handler, by type.
    pub events: Arc<Mutex<Vec<String>>>,
    /// The last message a dialog saw.
    pub last: Arc<Mutex<Option<Message>>>,
}

impl Seen {
    pub fn turns(&self) -> usize {
        self.turns.load(Ordering::SeqCst)
    }
}

/// The bench bot's behaviour: echo, `profile` waterfall, `fail` raises a dialog error.
pub fn test_bot(connector: impl Connector, storage: impl botcore::Storage) -> (Bot, Seen) {
    let seen = Seen::default();
    let s2 = seen.clone();
    let root = Waterfall::new().step(async |s, _| -> Result<(), StepError> {
        let s1 = s.app_data::<Seen>()?;
        s1.turns.fetch_add(1, Ordering::SeqCst);
        *s1.last.lock().unwrap() = Some(s.message().clone());
        let text = s.message().text.trim().to_owned();
        match text.as_str() {
            "profile" => s.begin_dialog("profile"),
            "fail" => Err(botcore::BotError::dialog("boom"))?,
            _ => s.send(format!("echo: {text}")),
        }
        Ok(())
    });
    let profile = Waterfall::new()
        .step(async |s, _| prompts::text(s, "What is your name?"))
        .step(async |s, r| -> Result<(), StepError> {
            s.dialog_data_mut()
                .json_mut()?
                .insert("name".into(), r.value.clone().unwrap_or(Value::Null));
            prompts::number(s, "How old are you?");
            Ok(())
        })
        .step(async |s, r| {
            let name = s
                .dialog_data()
                .json()
                .and_then(|d| d.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let age = r.value.clone().unwrap_or(Value::Null);
            s.send(format!("Thanks {name}, you are {age}."));
            s.end_dialog();
            Ok(())
        });
    let bot = Bot::builder()
        .app_data(seen.clone())
        .dialog("/", root)
        .dialog("profile", profile)
        .on_event(move |m| {
            s2.events.lock().unwrap().push(m.kind.as_str().to_owned());
            EventAction::Ignore
        })
        .storage(storage)
        .connector(connector)
        .build()
        .unwrap();
    (bot, seen)
}

/// A message activity as a channel sends it.
pub fn activity(service_url: &str, channel: &str, conversation: &str, text: &str) -> Value {
    // Every activity a channel sends has its own id (a repeated id is a redelivery).
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "type": "message",
        "id": format!("{conversation}-m{n}"),
        "timestamp": "2024-05-01T10:00:00.000Z",
        "serviceUrl": service_url,
        "channelId": channel,
        "from": {"id": format!("{conversation}-user"), "name": "Ann"},
        "conversation": {"id": conversation},
        "recipient": {"id": "bot-id", "name": "Bot"},
        "locale": "en-US",
        "text": text,
    })
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims of a valid channel token for `service_url`.
pub fn claims(service_url: &str) -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": APP_ID,
        "exp": now + 3600,
        "nbf": now - 10,
        "serviceurl": service_url,
    })
}

/// Signs `claims` with RS256 and key id `kid`.
pub fn sign(pem: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_rsa_pem(pem).unwrap()).unwrap()
}

/// The public JWK of `pem` under `kid`, endorsed for `endorsements`.
pub fn jwk(pem: &[u8], kid: &str, endorsements: &[&str]) -> Value {
    let key = EncodingKey::from_rsa_pem(pem).unwrap();
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    let v = serde_json::to_value(&jwk).unwrap();
    json!({"kty": "RSA", "use": "sig", "kid": kid, "n": v["n"], "e": v["e"], "endorsements": endorsements})
}

/// base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A loopback OpenID metadata + key set server whose keys can be changed.
#[derive(Clone)]
pub struct KeyServer {
    pub addr: SocketAddr,
    pub keys: Arc<Mutex<Vec<Value>>>,
    pub metadata_fetches: Arc<AtomicUsize>,
    pub jwks_fetches: Arc<AtomicUsize>,
}

impl KeyServer {
    pub async fn start(keys: Vec<Value>) -> Self {
        use transport_http::axum::{Json, routing::get};
        let keys = Arc::new(Mutex::new(keys));
        let metadata_fetches = Arc::new(AtomicUsize::new(0));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (k, m, j) = (keys.clone(), metadata_fetches.clone(), jwks_fetches.clone());
        let app = Router::new()
            .route(
                "/openid",
                get(move || {
                    m.fetch_add(1, Ordering::SeqCst);
                    async move {
                        Json(json!({"issuer": ISSUER, "jwks_uri": format!("http://{addr}/keys")}))
                    }
                }),
            )
            .route(
                "/keys",
                get(move || {
                    j.fetch_add(1, Ordering::SeqCst);
                    let keys = k.lock().unwrap().clone();
                    async move { Json(json!({ "keys": keys })) }
                }),
            );
        tokio::spawn(async move { transport_http::axum::serve(listener, app).await.unwrap() });
        Self {
            addr,
            keys,
            metadata_fetches,
            jwks_fetches,
        }
    }

    pub fn metadata_url(&self) -> String {
        format!("http://{}/openid", self.addr)
    }

    pub fn jwks_fetches(&self) -> usize {
        self.jwks_fetches.load(Ordering::SeqCst)
    }
}
