//! # transport-http
//!
//! The Bot Framework Connector transport for botcore: an axum [`Router`] serving
//! `POST /api/messages` (activities in, JWT-validated), and an [`HttpConnector`] sending
//! replies and proactive messages to the channel's service URL with the bot's token.
//!
//! ```no_run
//! use botcore::{Bot, Waterfall};
//! use transport_http::{HttpSettings, HttpTransport};
//!
//! # async fn run(storage: impl botcore::Storage) -> Result<(), Box<dyn std::error::Error>> {
//! let transport = HttpTransport::new(HttpSettings::new("app-id", "app-password"))?;
//! let bot = Bot::builder()
//!     .dialog("/", Waterfall::new().step(async |s, _| { s.send("hello"); Ok(()) }))
//!     .storage(storage)
//!     .connector(transport.connector())
//!     .build()?;
//! // Merge into your own app, or serve it as it is.
//! let app = transport.router(bot);
//! transport_http::serve("127.0.0.1:3978", app).await?;
//! # Ok(()) }
//! ```
//!
//! The router and the connector share one set of trusted service URLs: a service URL that
//! arrives on a request with a valid channel token may receive the bot's token afterwards;
//! any other must match [`HttpSettings::allowed_service_urls`].
//!
//! [`serve`] (and [`serve_with`], to choose the [`ServeSettings`]) is an HTTP/1.1 server fit
//! for the open internet: header-read and idle timeouts, and a connection limit.

pub mod activity;
mod auth;
pub mod connector;
pub mod inbound;
mod serve;
pub mod settings;
mod token;
mod trust;

pub use axum;
pub use connector::HttpConnector;
pub use secrecy;
pub use secrecy::SecretString;
pub use serve::{serve, serve_with};
pub use settings::{AckMode, HttpSettings, RetrySettings, ServeSettings};

use auth::JwtValidator;
use axum::Router;
use botcore::Bot;
use std::fmt;
use std::sync::Arc;
use token::TokenSource;
use trust::Trust;

/// Why the transport could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Inbound auth is on but no app id is configured to check tokens against.
    #[error(
        "inbound auth is enabled but no app id is configured (use HttpSettings::without_auth for local emulators)"
    )]
    MissingAppId,
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// What the router and the connector share.
pub(crate) struct Shared {
    pub(crate) settings: HttpSettings,
    pub(crate) client: reqwest::Client,
    pub(crate) trust: Trust,
    pub(crate) tokens: Option<TokenSource>,
    pub(crate) validator: Option<JwtValidator>,
}

/// The HTTP transport: makes the [`Router`] for inbound activities and the [`HttpConnector`]
/// for the way out. Cheap to clone.
#[derive(Clone)]
pub struct HttpTransport {
    shared: Arc<Shared>,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// Sets the transport up. With auth off a warning is logged: every request is then
    /// believed, and anyone who can reach the endpoint can talk as any user.
    pub fn new(settings: HttpSettings) -> Result<Self, ConfigError> {
        if settings.auth_enabled && settings.app_id.is_empty() {
            return Err(ConfigError::MissingAppId);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.request_timeout)
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        if !settings.auth_enabled {
            tracing::warn!(
                "inbound authentication is OFF: /api/messages accepts unauthenticated activities (local emulators only)"
            );
        }
        let validator = settings
            .auth_enabled
            .then(|| JwtValidator::new(&settings, client.clone()));
        let tokens = settings
            .has_credentials()
            .then(|| TokenSource::new(&settings, client.clone()));
        let trust = Trust::new(&settings.allowed_service_urls, settings.has_credentials());
        Ok(Self {
            shared: Arc::new(Shared {
                settings,
                client,
                trust,
                tokens,
                validator,
            }),
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &HttpSettings {
        &self.shared.settings
    }

    /// The connector to build the bot with.
    pub fn connector(&self) -> HttpConnector {
        HttpConnector {
            shared: self.shared.clone(),
        }
    }

    /// The router serving `POST /api/messages` for `bot`; merge it into your app.
    pub fn router(&self, bot: Bot) -> Router {
        inbound::router(bot, self.shared.clone())
    }

    /// Trusts a service URL as if it had arrived on a validated request (e.g. one read from
    /// your own configuration).
    pub fn trust_service_url(&self, service_url: &str) {
        self.shared.trust.trust(service_url);
    }
}
