//! Webhooks that make the bot speak first, for an HTTP deployment: merge [`router`] into the
//! app that serves the transport's `/api/messages`.
//!
//! | route | JSON body | does |
//! | --- | --- | --- |
//! | `POST /api/notify` | `{"address": {...}, "notification": "..."}` | sends the notification to that address, or to every known address when `address` is left out |
//! | `POST /api/standup` | `{"members": [address, ...]}` | begins the dialog `*:standup` for each member (interrupting whatever they are doing) |
//! | `GET` or `POST /api/CustomWebApi` | — | sends [`WebhookSettings::custom_message`] to the user who wrote last |
//!
//! Every route answers with one result per recipient: `[{"user": "...", "ok": true}]`, or
//! `{"user": "...", "ok": false, "error": "..."}`; `"pending": true` with `ok` means the
//! standup began but its first message waits in the outbox for the channel. These results stay
//! true if the process stops right after answering: a dialog reported `ok` is saved with its
//! message, which the next process delivers; a member whose channel refused the message for
//! good (`ok: false`) has no standup left on their stack. A refused call answers `{"error": "..."}`:
//! `400` for a bad body, `415` when it is not sent as `application/json`, `401` without the
//! secret, `404` when nobody wrote yet, `503` when the storage is down. With
//! [`WebhookSettings::secret`] set, requests must carry it as `x-webhook-secret: <secret>` or
//! `Authorization: Bearer <secret>`.
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
use botcore::proactive::fanout::FanOutAction;
use botcore::{Address, Bot, BotError, Message, Middleware};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::{Arc, Mutex};
use subtle::ConstantTimeEq;
use transport_http::axum::extract::rejection::JsonRejection;
use transport_http::axum::extract::{FromRequest, Request, State};
use transport_http::axum::http::{HeaderMap, StatusCode};
use transport_http::axum::middleware::{self, Next};
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

/// The webhook routes for `bot`.
pub fn router(bot: Bot, settings: WebhookSettings) -> Router {
    let settings = Arc::new(settings);
    let hooks = Hooks { bot, settings };
    let secret = middleware::from_fn_with_state(hooks.clone(), require_secret);
    Router::new()
        .route("/api/notify", post(notify))
        .route("/api/standup", post(standup))
        .route(
            "/api/CustomWebApi",
            get(custom_web_api).post(custom_web_api),
        )
        .route_layer(secret)
        .with_state(hooks)
}

#[derive(Clone)]
struct Hooks {
    bot: Bot,
    settings: Arc<WebhookSettings>,
}

/// `POST /api/notify`.
#[derive(Deserialize)]
struct NotifyRequest {
    /// Only this user; everyone in the address book when left out.
    #[serde(default)]
    address: Option<Address>,
    notification: String,
}

/// `POST /api/standup`.
#[derive(Deserialize)]
struct StandupRequest {
    members: Vec<Address>,
}

/// What happened for one recipient.
#[derive(Serialize)]
struct Delivery {
    user: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// The dialog began but its message waits in the outbox (the channel could not take it
    /// yet): it goes out later, without the dialog beginning again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pending: bool,
}

impl Delivery {
    fn of<T>(address: &Address, result: &Result<T, BotError>) -> Self {
        Self {
            user: address.user.id.clone(),
            ok: result.is_ok(),
            error: result.as_ref().err().map(ToString::to_string),
            pending: false,
        }
    }
}

type Deliveries = Json<Vec<Delivery>>;

async fn notify(
    State(h): State<Hooks>,
    JsonBody(body): JsonBody<NotifyRequest>,
) -> Result<Deliveries, ApiError> {
    if body.notification.is_empty() {
        return Err(ApiError::EmptyNotification);
    }
    let recipients = match body.address {
        Some(a) => vec![routable(a)?],
        None => h.bot.address_book().all().await?,
    };
    let action = FanOutAction::message(body.notification);
    Ok(h.fan_out(recipients, action).await)
}

async fn standup(
    State(h): State<Hooks>,
    JsonBody(body): JsonBody<StandupRequest>,
) -> Result<Deliveries, ApiError> {
    let members = body.members.into_iter().map(routable);
    let members = members.collect::<Result<Vec<_>, _>>()?;
    let action = FanOutAction::dialog(h.settings.standup_dialog.clone());
    Ok(h.fan_out(members, action).await)
}

async fn custom_web_api(State(h): State<Hooks>) -> Result<Deliveries, ApiError> {
    let last = match h.settings.last_address.get() {
        Some(a) => Some(a),
        None => most_recent(&h.bot).await?,
    };
    let address = last.ok_or(ApiError::NobodyYet)?;
    let message = Message::to(&address).text(h.settings.custom_message.clone());
    let sent = h.bot.send(message).await;
    Ok(Json(vec![Delivery::of(&address, &sent)]))
}

impl Hooks {
    async fn fan_out(&self, recipients: Vec<Address>, action: FanOutAction) -> Deliveries {
        let fan_out = self.bot.fan_out(recipients, action);
        let results = fan_out.concurrency(self.settings.concurrency).await;
        let deliveries = results.iter().map(|r| {
            let delivery = Delivery::of(&r.address, &r.result);
            let Ok(outcome) = &r.result else {
                return delivery;
            };
            // A dialog kept on the stack although its first message was refused for good
            // (`ProactiveRefusal::Keep`) did not reach the user.
            let refused = outcome.deliveries.first().and_then(|d| d.as_ref().err());
            match refused.filter(|e| e.is_permanent()) {
                Some(e) => Delivery {
                    ok: false,
                    error: Some(e.to_string()),
                    ..delivery
                },
                None => Delivery {
                    pending: outcome.pending > 0,
                    ..delivery
                },
            }
        });
        Json(deliveries.collect())
    }
}

fn routable(address: Address) -> Result<Address, ApiError> {
    if address.channel_id.is_empty() || address.user.id.is_empty() {
        return Err(ApiError::BadAddress);
    }
    Ok(address)
}

/// The address-book entry whose conversation was active last.
async fn most_recent(bot: &Bot) -> Result<Option<Address>, BotError> {
    let mut best: Option<(u64, Address)> = None;
    for a in bot.address_book().all().await? {
        let at = bot.proactive(&a).last_access().await;
        let at = at.ok().flatten().unwrap_or(0);
        if best.as_ref().is_none_or(|(t, _)| at > *t) {
            best = Some((at, a));
        }
    }
    Ok(best.map(|(_, a)| a))
}

/// Refuses calls without the configured secret, before their body is read.
async fn require_secret(
    State(h): State<Hooks>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    match &h.settings.secret {
        Some(secret) if !presents(request.headers(), secret) => Err(ApiError::Unauthorized),
        _ => Ok(next.run(request).await),
    }
}

/// Whether the request carries `secret` (compared in constant time, so timing tells
/// nothing about it).
fn presents(headers: &HeaderMap, secret: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let bearer = header("authorization").and_then(|v| v.strip_prefix("Bearer "));
    [header("x-webhook-secret"), bearer]
        .into_iter()
        .flatten()
        .any(|given| given.trim().as_bytes().ct_eq(secret.as_bytes()).into())
}

/// A JSON request body whose rejection is an [`ApiError`] (`400`, not axum's `422`).
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(body) = Json::<T>::from_request(request, state).await?;
        Ok(Self(body))
    }
}

/// A refused call, answered as `{"error": "<this error>"}` with its status.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("missing or wrong webhook secret")]
    Unauthorized,
    #[error(transparent)]
    Body(#[from] JsonRejection),
    #[error("`notification` must be a non-empty string")]
    EmptyNotification,
    #[error("an address needs at least channelId and user.id")]
    BadAddress,
    #[error("nobody has written to the bot yet")]
    NobodyYet,
    /// The address book could not be read.
    #[error(transparent)]
    Unavailable(#[from] BotError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Refusal {
            error: String,
        }
        let status = match &self {
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Body(JsonRejection::MissingJsonContentType(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Self::Body(_) | Self::EmptyNotification | Self::BadAddress => StatusCode::BAD_REQUEST,
            Self::NobodyYet => StatusCode::NOT_FOUND,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        let error = self.to_string();
        (status, Json(Refusal { error })).into_response()
    }
}
