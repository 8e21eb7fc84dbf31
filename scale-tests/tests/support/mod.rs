//! What the multi-process tests share: a store per test (a real `redis-server` or
//! PostgreSQL on a free port), `scale-bot` child processes, the fake channel, and helpers to feed activities like a
//! channel does (retrying `503`) and to read state back through botcore's own API.
#![allow(dead_code, unreachable_pub)] // each test binary uses a different part of this module

pub mod bot;
pub mod channel;
pub mod postgres;
pub mod redis;
pub mod webhooks;

use botcore::proactive::address_book::AddressRecord;
use botcore::{Address, Bot, ChannelAccount, Precondition, Storage, WriteOp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The channel id of every test activity.
pub const CHANNEL: &str = "scale";
/// The bot's account.
pub const BOT_ID: &str = "scale-bot";

/// The server behind a [`Store`].
pub enum Server {
    Redis(redis::RedisServer),
    Postgres(postgres::PgServer),
}

/// The store the bots of one test share: a server of the test's own.
pub struct Store {
    pub server: Server,
    pub namespace: String,
}

impl Store {
    /// A fresh `redis-server` (no persistence).
    pub fn redis() -> Self {
        Self::with(Server::Redis(redis::RedisServer::start()))
    }

    /// A fresh `redis-server` with an append-only file: data survives a kill and restart.
    pub fn redis_persistent() -> Self {
        Self::with(Server::Redis(redis::RedisServer::start_persistent()))
    }

    /// A fresh PostgreSQL cluster.
    pub fn postgres() -> Self {
        Self::with(Server::Postgres(postgres::PgServer::start()))
    }

    fn with(server: Server) -> Self {
        Self {
            server,
            namespace: "scale".into(),
        }
    }

    /// `redis` or `postgres`.
    pub fn kind(&self) -> &'static str {
        match self.server {
            Server::Redis(_) => "redis",
            Server::Postgres(_) => "postgres",
        }
    }

    fn url(&self) -> String {
        match &self.server {
            Server::Redis(r) => r.url(),
            Server::Postgres(p) => p.url(),
        }
    }

    /// The `scale-bot` arguments that put a process on this store.
    pub fn bot_args(&self) -> Vec<String> {
        let flag = match self.server {
            Server::Redis(_) => "--redis-url",
            Server::Postgres(_) => "--database-url",
        };
        let url = self.url();
        [
            "--storage",
            self.kind(),
            flag,
            &url,
            "--namespace",
            &self.namespace,
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// The store, as the bots see it (same namespace), for the test to read and seed.
    pub async fn storage(&self) -> Arc<dyn Storage> {
        let url = self.url();
        match self.server {
            Server::Redis(_) => {
                let redis = storage_redis::RedisStorage::connect(&url).await;
                Arc::new(
                    redis
                        .expect("connect to the test's redis")
                        .with_namespace(&self.namespace),
                )
            }
            Server::Postgres(_) => {
                let pg = storage_postgres::PostgresStorage::connect(&url).await;
                Arc::new(
                    pg.expect("connect to the test's postgres")
                        .with_namespace(&self.namespace),
                )
            }
        }
    }

    /// Takes the server down as a crash would (SIGKILL; `pg_ctl stop -m immediate`),
    /// keeping what it acknowledged on disk.
    pub fn crash(&mut self) {
        match &mut self.server {
            Server::Redis(r) => r.kill(),
            Server::Postgres(p) => p.stop_immediate(),
        }
    }

    /// Starts the crashed server again, on the same port, with its data.
    pub fn bring_back(&mut self) {
        match &mut self.server {
            Server::Redis(r) => r.restart(),
            Server::Postgres(p) => p.start_again(),
        }
    }
}

/// A bot in the test process over the same store, never serving: to read state, the address
/// book, scheduled jobs and fan-out progress through botcore's public API.
pub fn inspector(storage: Arc<dyn Storage>) -> Bot {
    let transport =
        transport_http::HttpTransport::new(transport_http::HttpSettings::without_auth())
            .expect("transport");
    Bot::builder()
        .dialog_fn("/", async |_, _| {})
        .storage_arc(storage)
        .connector(transport.connector())
        .build()
        .expect("inspector bot")
}

/// The address of `user` in conversation `conversation`, reached at `service_url`.
pub fn address(service_url: &str, user: &str, conversation: &str) -> Address {
    Address::new(
        CHANNEL,
        ChannelAccount::new(user),
        ChannelAccount::new(BOT_ID),
    )
    .with_conversation(conversation)
    .with_service_url(service_url)
}

/// A Bot Framework message activity from `user` in `conversation`.
pub fn activity(service_url: &str, conversation: &str, user: &str, id: &str, text: &str) -> Value {
    json!({
        "type": "message",
        "id": id,
        "channelId": CHANNEL,
        "serviceUrl": service_url,
        "from": {"id": user},
        "recipient": {"id": BOT_ID},
        "conversation": {"id": conversation},
        "text": text,
    })
}

/// Writes address-book records for `addresses` straight into the store (500 per batch), as
/// if each user had written once, and checks through the public API that botcore sees them.
pub async fn seed_address_book(storage: &Arc<dyn Storage>, addresses: &[Address]) {
    for chunk in addresses.chunks(500) {
        let ops = chunk
            .iter()
            .map(|a| {
                let record = AddressRecord {
                    address: a.clone(),
                    unreachable: None,
                };
                // botcore's layout: `address/{channel}/{user}` (ids here need no escaping).
                let key = format!("address/{}/{}", a.channel_id, a.user.id);
                WriteOp::put(
                    key,
                    serde_json::to_value(record).unwrap(),
                    Precondition::Any,
                )
            })
            .collect();
        storage
            .write_many(ops)
            .await
            .expect("seed the address book");
    }
    let reader = inspector(storage.clone());
    let first = reader.address_book().get(&addresses[0]).await.unwrap();
    assert!(
        first.is_some_and(|r| r.address == addresses[0]),
        "botcore does not see the seeded address-book records (did the key layout change?)"
    );
}

/// What `scale-bot` keeps in conversation data.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ConversationCounter {
    pub count: u64,
    pub ids: Vec<String>,
}

/// What `scale-bot` keeps in user data.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct UserCounter {
    pub count: u64,
}

/// The counters stored for `address`'s conversation and user.
pub async fn counters(bot: &Bot, address: &Address) -> (ConversationCounter, UserCounter) {
    let session = bot.proactive(address).load_session().await.unwrap();
    let conversation = session.conversation_data().get().unwrap();
    let user = session.user_data().get().unwrap();
    (conversation, user)
}

/// A reply `scale-bot` sent: `<process> <text> c=<n> u=<m>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub process: String,
    pub text: String,
    pub conversation_count: u64,
    pub user_count: u64,
}

impl Reply {
    pub fn parse(s: &str) -> Option<Self> {
        let mut words = s.split(' ');
        let (process, text) = (words.next()?.to_owned(), words.next()?.to_owned());
        let c = words.next()?.strip_prefix("c=")?.parse().ok()?;
        let u = words.next()?.strip_prefix("u=")?.parse().ok()?;
        Some(Self {
            process,
            text,
            conversation_count: c,
            user_count: u,
        })
    }
}

/// What delivering one activity took.
#[derive(Debug, Default, Clone)]
pub struct Delivery {
    /// When each `503` before the `200` came, and its `error`, in order.
    pub refusals: Vec<(Instant, String)>,
}

/// Posts `activity` like a channel: again (the same activity) after each `503`, until `200`.
/// Any other answer fails the test.
pub async fn deliver(http: &reqwest::Client, url: &str, activity: &Value) -> Delivery {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut delivery = Delivery::default();
    loop {
        let r = match http.post(url).json(activity).send().await {
            Ok(r) => r,
            Err(e) => panic!("POST {url}: {e}"),
        };
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        match status {
            200 => return delivery,
            503 => {
                let error = body["error"].as_str().unwrap_or_default().to_owned();
                delivery.refusals.push((Instant::now(), error));
            }
            other => panic!("POST {url} answered {other} {body} to {activity}"),
        }
        assert!(Instant::now() < deadline, "{url} kept answering 503");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn post_json(http: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let r = http.post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn get_json(http: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = http.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls `check` every 20 ms until it returns `Some`, failing the test after `timeout`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Now by the system clock, in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Posts `activity` once, as a channel does; the status and body of the answer, or why there
/// was none (the connection failed: the process is down or was killed mid-request).
pub async fn try_post(
    http: &reqwest::Client,
    url: &str,
    activity: &Value,
) -> Result<(u16, Value), String> {
    let r = http
        .post(url)
        .json(activity)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = r.status().as_u16();
    Ok((status, r.json().await.unwrap_or(Value::Null)))
}

/// The replies the channel accepted, by the text of the message they answer, in arrival
/// order (more than one: the same reply delivered again, or the message's turn run again).
pub fn accepted_replies(channel: &channel::FakeChannel) -> HashMap<String, Vec<(Reply, String)>> {
    let mut by_message: HashMap<String, Vec<(Reply, String)>> = HashMap::new();
    for a in channel.accepted() {
        let r = Reply::parse(&a.text).unwrap_or_else(|| panic!("unexpected reply {a:?}"));
        by_message
            .entry(r.text.clone())
            .or_default()
            .push((r, a.text));
    }
    by_message
}

/// A small deterministic random number generator (xorshift64*), seeded from `SCALE_SEED`
/// when set, else from the clock; the seed is printed so that a failing run can be repeated.
/// `stream` tells apart the tests of one binary that start at the same moment.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn from_env(stream: u64) -> Self {
        let seed = std::env::var("SCALE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| now_ms() ^ u64::from(std::process::id()));
        eprintln!("random seed {seed}, stream {stream} (SCALE_SEED={seed} repeats this run)");
        Self((seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)).max(1))
    }

    /// A number in `range`.
    pub fn below(&mut self, range: std::ops::Range<u64>) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        range.start + x % (range.end - range.start).max(1)
    }
}

/// A `usize` from the environment variable `name`, else `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
