//! The bot's outbound token: OAuth client credentials, cached until shortly before expiry.

use crate::settings::HttpSettings;
use botcore::DeliveryError;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::fmt;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// A token is renewed this long before it expires (short-lived tokens at half their life).
const RENEW_BEFORE: Duration = Duration::from_secs(300);

#[derive(Clone)]
struct Cached {
    token: String,
    renew_at: Instant,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// Fetches and caches the bot's token. One fetch at a time: concurrent callers wait for it.
pub(crate) struct TokenSource {
    client: reqwest::Client,
    endpoint: String,
    client_id: String,
    secret: SecretString,
    scope: String,
    timeout: std::time::Duration,
    cached: RwLock<Option<Cached>>,
    fetching: tokio::sync::Mutex<()>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    pub(crate) fn new(settings: &HttpSettings, client: reqwest::Client) -> Self {
        Self {
            client,
            endpoint: settings.token_endpoint.clone(),
            client_id: settings.app_id.clone(),
            secret: settings.app_password.clone(),
            scope: settings.token_scope.clone(),
            timeout: settings.request_timeout,
            cached: RwLock::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    fn current(&self) -> Option<String> {
        let c = self.cached.read().ok()?;
        c.as_ref()
            .filter(|c| Instant::now() < c.renew_at)
            .map(|c| c.token.clone())
    }

    /// A valid token, fetched if none is cached.
    pub(crate) async fn token(&self) -> Result<String, DeliveryError> {
        if let Some(t) = self.current() {
            return Ok(t);
        }
        let _one_at_a_time = self.fetching.lock().await;
        if let Some(t) = self.current() {
            return Ok(t);
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        if let Ok(mut c) = self.cached.write() {
            *c = Some(fresh);
        }
        Ok(token)
    }

    /// Drops `rejected` from the cache (the channel answered 401 to it), unless a newer token
    /// already replaced it. The tokens are compared in constant time.
    pub(crate) fn invalidate(&self, rejected: &str) {
        if let Ok(mut c) = self.cached.write()
            && c.as_ref()
                .is_some_and(|c| c.token.as_bytes().ct_eq(rejected.as_bytes()).into())
        {
            *c = None;
        }
    }

    async fn fetch(&self) -> Result<Cached, DeliveryError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose_secret()),
            ("scope", self.scope.as_str()),
        ];
        let started = Instant::now();
        let resp = self
            .client
            .post(&self.endpoint)
            .timeout(self.timeout)
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::Auth(format!("token endpoint unreachable: {}", e.without_url()))
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(DeliveryError::Auth(format!(
                "token endpoint answered {status}"
            )));
        }
        let body: TokenResponse = resp
            .json()
            .await
            .map_err(|_| DeliveryError::Auth("token endpoint sent no access_token".into()))?;
        let life = Duration::from_secs(body.expires_in.unwrap_or(3600));
        let renew_in = life.saturating_sub(RENEW_BEFORE).max(life / 2);
        Ok(Cached {
            token: body.access_token,
            renew_at: started + renew_in,
        })
    }
}
