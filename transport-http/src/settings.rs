//! [`HttpSettings`]: everything the HTTP transport is configured with.

use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// The Bot Framework's token endpoint for multi-tenant bots.
pub const DEFAULT_TOKEN_ENDPOINT: &str =
    "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token";
/// The scope of the bot's outbound token.
pub const DEFAULT_TOKEN_SCOPE: &str = "https://api.botframework.com/.default";
/// The OpenID metadata document of the Bot Framework channel service.
pub const DEFAULT_OPENID_METADATA_URL: &str =
    "https://login.botframework.com/v1/.well-known/openidconfiguration";
/// The issuer of tokens the Bot Framework channel service sends with activities.
pub const DEFAULT_ISSUER: &str = "https://api.botframework.com";
/// Host patterns of the public Bot Framework channel services, allowed by default.
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &["*.botframework.com", "smba.trafficmanager.net"];

/// When `POST /api/messages` answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckMode {
    /// `200` once the turn has run (state saved, replies sent). A storage failure can then be
    /// reported to the channel (`503`), which retries the activity.
    #[default]
    AfterTurn,
    /// `202` as soon as the activity is validated; the turn runs in the background and its
    /// errors are only logged. Turns of one conversation still run one at a time.
    Immediate,
}

/// How the outbound connector retries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts per request, counting the first (throttling and connection failures).
    pub max_attempts: u32,
    /// The longest `Retry-After` honoured; a channel asking for more gets
    /// [`DeliveryError::Throttled`](botcore::DeliveryError::Throttled) back instead.
    pub max_wait: Duration,
    /// The pause before retrying a connection that could not be opened (doubled each time).
    pub connect_backoff: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_wait: Duration::from_secs(10),
            connect_backoff: Duration::from_millis(200),
        }
    }
}

/// The transport's settings.
///
/// ```
/// use transport_http::{AckMode, HttpSettings};
/// let mut s = HttpSettings::new("app-id", "app-password");
/// s.ack_mode = AckMode::Immediate;
/// assert!(s.auth_enabled);
/// assert!(!format!("{s:?}").contains("app-password"));
/// // Read it where it is needed:
/// use transport_http::secrecy::ExposeSecret;
/// assert_eq!(s.app_password.expose_secret(), "app-password");
/// let local = HttpSettings::without_auth();
/// assert!(!local.auth_enabled && !local.has_credentials());
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HttpSettings {
    /// The bot's Microsoft app id: the audience of inbound tokens and the outbound client id.
    pub app_id: String,
    /// The bot's app password (client secret): never printed, wiped from memory when dropped.
    /// Read it with [`ExposeSecret::expose_secret`].
    pub app_password: SecretString,
    /// Where outbound tokens come from (client-credentials grant).
    pub token_endpoint: String,
    /// The scope of outbound tokens.
    pub token_scope: String,
    /// The OpenID metadata document naming the key set inbound tokens are signed with.
    pub openid_metadata_url: String,
    /// Accepted issuers of inbound tokens.
    pub issuers: Vec<String>,
    /// Clock skew tolerated on `exp`/`nbf`.
    pub clock_leeway: Duration,
    /// How long fetched signing keys are used before being fetched again.
    pub key_cache_ttl: Duration,
    /// Minimum time between two key-set fetches triggered by an unknown key id.
    pub key_refresh_min_interval: Duration,
    /// Service-URL host patterns the bot's token may be sent to besides the service URLs of
    /// validated inbound requests: `host`, `host:port` or `*.domain`. Plain `http` is only
    /// allowed to loopback hosts.
    pub allowed_service_urls: Vec<String>,
    /// When `POST /api/messages` answers.
    pub ack_mode: AckMode,
    /// The largest accepted request body, in bytes (larger: `413`).
    pub body_limit: usize,
    /// Whether inbound requests must carry a valid channel token. Turning it off is for local
    /// emulators only and is logged as a warning at start-up.
    pub auth_enabled: bool,
    /// The timeout of one outbound HTTP request.
    pub request_timeout: Duration,
    /// Outbound retry policy.
    pub retry: RetrySettings,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            app_id: String::new(),
            app_password: SecretString::default(),
            token_endpoint: DEFAULT_TOKEN_ENDPOINT.into(),
            token_scope: DEFAULT_TOKEN_SCOPE.into(),
            openid_metadata_url: DEFAULT_OPENID_METADATA_URL.into(),
            issuers: vec![DEFAULT_ISSUER.into()],
            clock_leeway: Duration::from_secs(300),
            key_cache_ttl: Duration::from_secs(24 * 3600),
            key_refresh_min_interval: Duration::from_secs(30),
            allowed_service_urls: DEFAULT_ALLOWED_HOSTS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            ack_mode: AckMode::default(),
            body_limit: 1024 * 1024,
            auth_enabled: true,
            request_timeout: Duration::from_secs(15),
            retry: RetrySettings::default(),
        }
    }
}

impl HttpSettings {
    /// Settings for a registered bot: inbound auth on, outbound tokens from `app_id`/`app_password`.
    pub fn new(app_id: impl Into<String>, app_password: impl Into<SecretString>) -> Self {
        Self {
            app_id: app_id.into(),
            app_password: app_password.into(),
            ..Self::default()
        }
    }

    /// Settings for local emulators: no inbound auth, no outbound token, any service URL.
    pub fn without_auth() -> Self {
        Self {
            auth_enabled: false,
            allowed_service_urls: Vec::new(),
            ..Self::default()
        }
    }

    /// Whether outbound requests carry a token (an app id and password are configured).
    pub fn has_credentials(&self) -> bool {
        !self.app_id.is_empty() && !self.app_password.expose_secret().is_empty()
    }
}

/// How [`serve`](crate::serve) treats connections: bounds that keep silent, slow or
/// abandoned clients from holding sockets (and file descriptors) for good.
///
/// ```
/// use std::time::Duration;
/// use transport_http::ServeSettings;
/// let mut s = ServeSettings::default();
/// assert_eq!(s.header_read_timeout, Duration::from_secs(10));
/// assert_eq!(s.idle_timeout, Duration::from_secs(60));
/// assert_eq!(s.max_connections, 1_000);
/// s.max_connections = 200;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeSettings {
    /// How long a client has to send a complete request head (request line and headers):
    /// from the moment the connection is accepted for the first request, from its first byte
    /// for later ones. A connection that stays silent, or trickles its headers, is closed.
    pub header_read_timeout: Duration,
    /// How long a connection may go without a byte moving: a keep-alive connection waiting
    /// for its next request, a request whose body stalls, a client that stops reading the
    /// answer, a turn that runs longer than this while the channel waits (channels give up
    /// after about 15 s anyway; the turn itself still completes). Then the connection is
    /// closed.
    pub idle_timeout: Duration,
    /// Open connections at most. Further connections wait in the listen backlog until one
    /// closes (and the kernel refuses them once the backlog is full); reaching the limit is
    /// logged as a warning. Keep it under the process's file-descriptor limit.
    pub max_connections: usize,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1_000,
        }
    }
}
