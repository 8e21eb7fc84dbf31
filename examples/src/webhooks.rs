//! Webhooks that make the bot speak first, for an HTTP deployment: merge [`router`] into the
//! app that serves the transport's `/api/messages`.
//!
//! | route | body | does |
//! | --- | --- | --- |
//! | `POST /api/notify` | `{"address": {...}, "notification": "..."}` | sends the notification to that address, or to every known address when `address` is left out |
//! | `POST /api/standup` | `{"members": [address, ...]}` | begins the dialog `*:standup` for each member (interrupting whatever they are doing) |
//! | `GET` or `POST /api/CustomWebApi` | — | sends [`WebhookSettings::custom_message`] to the user who wrote last |
//!
//! Every route answers with one result per recipient: `[{"user": "...", "ok": true}]`, or
//! `{"user": "...", "ok": false, "error": "..."}`. With [`WebhookSettings::secret`] set,
//! requests must carry it as `x-webhook-secret: <secret>` or `Authorization: Bearer <secret>`
//! (otherwise `401`).
//!
//! Addresses in request bodies are only routing hints: proactive sends refresh the service
//! URL from the bot's address book, refuse users who never wrote to the bot, and the HTTP
//! transport refuses service URLs it does not trust.
//!
//! ```no_run
//! # fn f(bot: botcore::Bot, transport: transport_http::HttpTransport) {
//! use examples::webhooks::{self, LastAddress, WebhookSettings};
//! // The bot must be built with `.middleware(last.clone())` for CustomWebApi to know who wrote last.
//! let last = LastAddress::default();
//! let settings = WebhookSettings { secret: Some("s3cret".into()), last_address: last, ..Default::default() };
//! let app = transport.router(bot.clone()).merge(webhooks::router(bot, settings));
//! # let _ = app; }
//! ```

use async_trait::async_trait;
use botcore::proactive::fanout::{FanOutAction, FanOutResult};
use botcore::{Address, Bot, BotError, Message, Middleware, ProactiveMode, Value, json};
use std::fmt;
use std::sync::{Arc, Mutex};
use transport_http::axum::body::Bytes;
use transport_http::axum::extract::State;
use transport_http::axum::http::{HeaderMap, StatusCode, header};
use transport_http::axum::response::{IntoResponse, Response};
use transport_http::axum::routing::{get, post};
use transport_http::axum::{Json, Router};

/// The message `CustomWebApi` sends by default.
pub const DEFAULT_CUSTOM_MESSAGE: &str = "Hello, this is a notification";

/// Remembers the address of the last user who wrote. Add it to the bot as a middleware.
#[derive(Clone, Debug, Default)]
pub struct LastAddress(Arc<Mutex<Option<Address>>>);

impl LastAddress {
    /// The last address seen (without the message id), if any.
    pub fn get(&self) -> Option<Address> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Middleware for LastAddress {
    async fn receive(&self, message: &mut Message) -> Result<bool, BotError> {
        if message.is_message() {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(message.address.without_reply());
        }
        Ok(true)
    }
}

/// How the webhooks behave.
#[derive(Clone)]
pub struct WebhookSettings {
    /// The shared secret callers must present; `None` leaves the routes open.
    pub secret: Option<String>,
    /// What `CustomWebApi` sends.
    pub custom_message: String,
    /// Who wrote last (fed by the bot's middleware). When it has seen nobody yet,
    /// `CustomWebApi` falls back to the address-book entry with the latest activity.
    pub last_address: LastAddress,
    /// The dialog `/api/standup` begins.
    pub standup_dialog: String,
    /// How many recipients are handled at once.
    pub concurrency: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            secret: None,
            custom_message: DEFAULT_CUSTOM_MESSAGE.into(),
            last_address: LastAddress::default(),
            standup_dialog: "*:standup".into(),
            concurrency: 16,
        }
    }
}

impl fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("secret", &self.secret.as_ref().map(|_| "***"))
            .field("custom_message", &self.custom_message)
            .field("standup_dialog", &self.standup_dialog)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Hooks {
    bot: Bot,
    settings: Arc<WebhookSettings>,
}

/// The webhook routes for `bot`.
pub fn router(bot: Bot, settings: WebhookSettings) -> Router {
    Router::new()
        .route("/api/notify", post(notify))
        .route("/api/standup", post(standup))
        .route(
            "/api/CustomWebApi",
            get(custom_web_api).post(custom_web_api),
        )
        .with_state(Hooks {
            bot,
            settings: Arc::new(settings),
        })
}

/// A refused webhook call: a status and a short reason, answered as `{"error": reason}`.
struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn refuse(status: StatusCode, reason: impl fmt::Display) -> Refusal {
    Refusal(status, reason.to_string())
}

/// Compares without stopping at the first difference, so timing tells nothing about the secret.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn authorized(settings: &WebhookSettings, headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(secret) = &settings.secret else {
        return Ok(());
    };
    let header_secret = headers
        .get("x-webhook-secret")
        .and_then(|v| v.to_str().ok());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if [header_secret, bearer]
        .into_iter()
        .flatten()
        .any(|given| same_secret(given.trim(), secret))
    {
        Ok(())
    } else {
        Err(refuse(
            StatusCode::UNAUTHORIZED,
            "missing or wrong webhook secret",
        ))
    }
}

fn json_body(body: &Bytes) -> Result<serde_json::Map<String, Value>, Refusal> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(refuse(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object",
        )),
        Err(e) => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("malformed JSON: {e}"),
        )),
    }
}

fn address_from(v: &Value) -> Result<Address, Refusal> {
    serde_json::from_value::<Address>(v.clone())
        .ok()
        .filter(|a| !a.channel_id.is_empty() && !a.user.id.is_empty())
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "an address needs at least channelId and user.id",
            )
        })
}

fn unavailable(e: BotError) -> Refusal {
    refuse(StatusCode::SERVICE_UNAVAILABLE, e)
}

/// One entry of a route's answer.
fn result_of(r: &FanOutResult) -> Value {
    match &r.result {
        Ok(_) => json!({ "user": r.address.user.id, "ok": true }),
        Err(e) => json!({ "user": r.address.user.id, "ok": false, "error": e.to_string() }),
    }
}

fn results(all: &[FanOutResult]) -> Json<Value> {
    Json(Value::Array(all.iter().map(result_of).collect()))
}

async fn notify(
    State(h): State<Hooks>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    authorized(&h.settings, &headers)?;
    let body = json_body(&body)?;
    let text = body
        .get("notification")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "`notification` must be a non-empty string",
            )
        })?;
    let recipients = match body.get("address").filter(|a| !a.is_null()) {
        Some(a) => vec![address_from(a)?],
        None => h.bot.all_addresses().await.map_err(unavailable)?,
    };
    let action = FanOutAction::Message(Message::default().text(text));
    Ok(results(
        &h.bot
            .fan_out(recipients, action, h.settings.concurrency)
            .await,
    ))
}

async fn standup(
    State(h): State<Hooks>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, Refusal> {
    authorized(&h.settings, &headers)?;
    let body = json_body(&body)?;
    let members = body
        .get("members")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                "`members` must be an array of addresses",
            )
        })?;
    let addresses = members
        .iter()
        .map(address_from)
        .collect::<Result<Vec<_>, _>>()?;
    let action = FanOutAction::Dialog {
        id: h.settings.standup_dialog.clone(),
        args: None,
        mode: ProactiveMode::Interrupt,
    };
    Ok(results(
        &h.bot
            .fan_out(addresses, action, h.settings.concurrency)
            .await,
    ))
}

/// The address-book entry whose conversation was active last.
async fn most_recent(bot: &Bot) -> Result<Option<Address>, BotError> {
    let mut best: Option<(u64, Address)> = None;
    for a in bot.all_addresses().await? {
        let at = bot.last_access(&a).await.unwrap_or(None).unwrap_or(0);
        if best.as_ref().is_none_or(|(t, _)| at > *t) {
            best = Some((at, a));
        }
    }
    Ok(best.map(|(_, a)| a))
}

async fn custom_web_api(
    State(h): State<Hooks>,
    headers: HeaderMap,
) -> Result<Json<Value>, Refusal> {
    authorized(&h.settings, &headers)?;
    let address = match h.settings.last_address.get() {
        Some(a) => a,
        None => most_recent(&h.bot)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| refuse(StatusCode::NOT_FOUND, "nobody has written to the bot yet"))?,
    };
    let action = FanOutAction::Message(Message::default().text(h.settings.custom_message.clone()));
    Ok(results(&h.bot.fan_out(vec![address], action, 1).await))
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcore::{ChannelAccount, Connector, DeliveryError, Receipt, Waterfall, prompts};
    use std::time::Duration;
    use storage_memory::MemoryStorage;

    #[derive(Debug, Default, Clone)]
    struct Recorder(Arc<Mutex<Vec<Message>>>);

    impl Recorder {
        fn to(&self, user: &str) -> Vec<String> {
            let sent = self.0.lock().unwrap();
            sent.iter()
                .filter(|m| m.address.user.id == user)
                .map(|m| m.text.clone())
                .collect()
        }
    }

    #[async_trait]
    impl Connector for Recorder {
        async fn send(&self, m: &Message) -> Result<Receipt, DeliveryError> {
            self.0.lock().unwrap().push(m.clone());
            let conversation_id = m.address.conversation_id().unwrap_or_default().to_owned();
            Ok(Receipt {
                activity_id: None,
                conversation_id,
            })
        }
        async fn start_conversation(&self, a: &Address) -> Result<Address, DeliveryError> {
            Ok(a.clone().with_conversation("new"))
        }
    }

    fn address(user: &str) -> Address {
        Address::new(
            "directline",
            ChannelAccount::new(user),
            ChannelAccount::new("bot"),
        )
        .with_conversation(format!("conv-{user}"))
        .with_service_url("http://127.0.0.1:9")
    }

    struct Setup {
        url: String,
        sent: Recorder,
        bot: Bot,
    }

    async fn setup(settings: WebhookSettings, track_last: bool) -> Setup {
        let sent = Recorder::default();
        let standup = Waterfall::new().step(|s, _| prompts::text(s, "What did you do yesterday?"));
        let mut builder = Bot::builder()
            .dialog(
                "/",
                Waterfall::new().step(|s, _| {
                    s.send("hi");
                    Ok(())
                }),
            )
            .dialog("standup", standup)
            .storage(MemoryStorage::new())
            .connector(sent.clone());
        if track_last {
            builder = builder.middleware(settings.last_address.clone());
        }
        let bot = builder.build().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = router(bot.clone(), settings);
        tokio::spawn(async move { transport_http::axum::serve(listener, app).await.unwrap() });
        Setup { url, sent, bot }
    }

    impl Setup {
        async fn writes(&self, user: &str) {
            self.bot
                .receive(Message::to(&address(user)).text("hello"))
                .await
                .unwrap();
        }
        async fn post(&self, path: &str, body: Value, secret: Option<&str>) -> (u16, Value) {
            let mut req = reqwest::Client::new()
                .post(format!("{}{path}", self.url))
                .json(&body);
            if let Some(s) = secret {
                req = req.header("x-webhook-secret", s);
            }
            let resp = req.send().await.unwrap();
            (
                resp.status().as_u16(),
                resp.json().await.unwrap_or(Value::Null),
            )
        }
    }

    #[tokio::test]
    async fn a_configured_secret_is_required() {
        let settings = WebhookSettings {
            secret: Some("s3cret".into()),
            ..Default::default()
        };
        let s = setup(settings, true).await;
        s.writes("ann").await;
        let body = json!({"notification": "ping"});
        assert_eq!(s.post("/api/notify", body.clone(), None).await.0, 401);
        assert_eq!(
            s.post("/api/notify", body.clone(), Some("wrong")).await.0,
            401
        );
        assert_eq!(
            s.post("/api/standup", json!({"members": []}), None).await.0,
            401
        );
        let get = reqwest::get(format!("{}/api/CustomWebApi", s.url))
            .await
            .unwrap();
        assert_eq!(get.status(), 401);
        assert_eq!(s.sent.to("ann"), ["hi"], "nothing sent without the secret");
        assert_eq!(
            s.post("/api/notify", body, Some("s3cret")).await,
            (200, json!([{"user": "ann", "ok": true}]))
        );
        let bearer = reqwest::Client::new()
            .post(format!("{}/api/CustomWebApi", s.url))
            .bearer_auth("s3cret");
        assert_eq!(bearer.send().await.unwrap().status(), 200);
        assert_eq!(s.sent.to("ann"), ["hi", "ping", DEFAULT_CUSTOM_MESSAGE]);
    }

    #[tokio::test]
    async fn notify_goes_to_one_address_or_to_everyone() {
        let s = setup(WebhookSettings::default(), true).await;
        s.writes("ann").await;
        s.writes("bob").await;
        let one = json!({"address": address("bob"), "notification": "just bob"});
        assert_eq!(
            s.post("/api/notify", one, None).await,
            (200, json!([{"user": "bob", "ok": true}]))
        );
        let (status, all) = s
            .post("/api/notify", json!({"notification": "all"}), None)
            .await;
        assert_eq!(status, 200);
        assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
        assert_eq!(s.sent.to("ann"), ["hi", "all"]);
        assert_eq!(s.sent.to("bob"), ["hi", "just bob", "all"]);

        let stranger = json!({"address": address("eve"), "notification": "hi eve"});
        let (status, r) = s.post("/api/notify", stranger, None).await;
        assert_eq!((status, &r[0]["ok"]), (200, &json!(false)));
        assert!(
            r[0]["error"].as_str().unwrap().contains("never talked"),
            "{r}"
        );
        assert!(s.sent.to("eve").is_empty());
        assert_eq!(
            s.post(
                "/api/notify",
                json!({"address": {"user": 3}, "notification": "x"}),
                None
            )
            .await
            .0,
            400
        );
        assert_eq!(
            s.post("/api/notify", json!({"text": "no notification"}), None)
                .await
                .0,
            400
        );
    }

    #[tokio::test]
    async fn standup_begins_the_dialog_for_each_member() {
        let s = setup(WebhookSettings::default(), true).await;
        s.writes("ann").await;
        s.writes("bob").await;
        let (status, r) = s
            .post(
                "/api/standup",
                json!({"members": [address("ann"), address("bob")]}),
                None,
            )
            .await;
        assert_eq!(status, 200);
        assert_eq!(
            r,
            json!([{"user": "ann", "ok": true}, {"user": "bob", "ok": true}])
        );
        assert_eq!(s.sent.to("ann"), ["hi", "What did you do yesterday?"]);
        assert_eq!(s.sent.to("bob"), ["hi", "What did you do yesterday?"]);
        assert_eq!(
            s.post("/api/standup", json!({"members": "ann"}), None)
                .await
                .0,
            400
        );
    }

    #[tokio::test]
    async fn custom_web_api_reaches_whoever_wrote_last() {
        let s = setup(WebhookSettings::default(), true).await;
        assert_eq!(s.post("/api/CustomWebApi", json!({}), None).await.0, 404);
        s.writes("bob").await;
        s.writes("ann").await;
        assert_eq!(
            s.post("/api/CustomWebApi", json!({}), None).await.1,
            json!([{"user": "ann", "ok": true}])
        );

        // Without the middleware, the address book's most recent conversation is used.
        let custom = WebhookSettings {
            custom_message: "custom".into(),
            ..Default::default()
        };
        let s = setup(custom, false).await;
        s.writes("ann").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        s.writes("bob").await;
        assert_eq!(
            s.post("/api/CustomWebApi", json!({}), None).await.1,
            json!([{"user": "bob", "ok": true}])
        );
        assert_eq!(s.sent.to("bob"), ["hi", "custom"]);
    }
}
