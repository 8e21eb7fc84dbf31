//! Inbound authentication: the channel's JWT bearer token, checked against the signing keys
//! published through the channel's OpenID metadata.
//!
//! What is checked, in order:
//! 1. an `Authorization: Bearer` header with a well-formed JWT signed with RS256 (`alg: none`,
//!    HS256 and every other algorithm are refused) by a key with a known `kid` — an unknown
//!    `kid` refreshes the key set first (one refresh at a time, at most one per
//!    `key_refresh_min_interval`), so a key rotated in by the channel is picked up;
//! 2. the signature, `exp` and `nbf` (with `clock_leeway`);
//! 3. the issuer and the audience (the bot's app id);
//! 4. the `serviceurl` claim equals the activity's `serviceUrl` (the claim is required);
//! 5. the signing key's `endorsements` contain the activity's `channelId`.
//!
//! A missing, malformed, unverifiable or expired token is `401 Unauthorized`; a genuine token
//! whose claims do not fit this bot or this activity (3–5) is `403 Forbidden`.

use crate::settings::HttpSettings;
use crate::trust::normalize;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthFailure {
    /// No usable token: `401`.
    Unauthorized(String),
    /// A valid token that does not authorize this request: `403`.
    Forbidden(String),
}

fn unauthorized(reason: impl Into<String>) -> AuthFailure {
    AuthFailure::Unauthorized(reason.into())
}

fn forbidden(reason: impl Into<String>) -> AuthFailure {
    AuthFailure::Forbidden(reason.into())
}

/// The claims botcore reads beyond the standard ones.
#[derive(Debug, Clone, Deserialize)]
struct Claims {
    #[serde(default, alias = "serviceUrl")]
    serviceurl: Option<String>,
}

/// A token whose signature and standard claims were verified.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedToken {
    service_url: Option<String>,
    endorsements: Arc<[String]>,
}

impl VerifiedToken {
    /// Checks the claims that bind the token to this activity.
    pub(crate) fn check_activity(
        &self,
        service_url: &str,
        channel_id: &str,
    ) -> Result<(), AuthFailure> {
        let claimed = self
            .service_url
            .as_deref()
            .ok_or_else(|| forbidden("token has no serviceurl claim"))?;
        if normalize(claimed).is_none() || normalize(claimed) != normalize(service_url) {
            return Err(forbidden("serviceurl claim does not match the activity"));
        }
        if !self.endorsements.iter().any(|e| e == channel_id) {
            return Err(forbidden("signing key is not endorsed for this channel"));
        }
        Ok(())
    }
}

struct SigningKey {
    key: DecodingKey,
    endorsements: Arc<[String]>,
}

#[derive(Default)]
struct KeySet {
    keys: HashMap<String, Arc<SigningKey>>,
    fetched_at: Option<Instant>,
}

#[derive(Deserialize)]
struct Metadata {
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    #[serde(default)]
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
    #[serde(default)]
    endorsements: Vec<String>,
}

/// Validates inbound tokens; caches the channel's signing keys.
pub(crate) struct JwtValidator {
    client: reqwest::Client,
    metadata_url: String,
    validation: Validation,
    key_ttl: Duration,
    min_refresh_interval: Duration,
    timeout: Duration,
    keys: RwLock<KeySet>,
    /// Held while the key set is fetched (single flight); remembers the last attempt.
    refreshing: tokio::sync::Mutex<Option<Instant>>,
}

impl fmt::Debug for JwtValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.keys.read().map(|k| k.keys.len()).unwrap_or(0);
        f.debug_struct("JwtValidator")
            .field("metadata_url", &self.metadata_url)
            .field("keys", &n)
            .finish_non_exhaustive()
    }
}

impl JwtValidator {
    pub(crate) fn new(settings: &HttpSettings, client: reqwest::Client) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = settings.clock_leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_audience(&[settings.app_id.as_str()]);
        validation.set_issuer(&settings.issuers);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        Self {
            client,
            metadata_url: settings.openid_metadata_url.clone(),
            validation,
            key_ttl: settings.key_cache_ttl,
            min_refresh_interval: settings.key_refresh_min_interval,
            timeout: settings.request_timeout,
            keys: RwLock::new(KeySet::default()),
            refreshing: tokio::sync::Mutex::new(None),
        }
    }

    /// Verifies the `Authorization` header's token: signature, expiry, issuer, audience.
    pub(crate) async fn verify(
        &self,
        authorization: Option<&str>,
    ) -> Result<VerifiedToken, AuthFailure> {
        let header = authorization.ok_or_else(|| unauthorized("missing Authorization header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Authorization is not a bearer token"))?;
        let head =
            jsonwebtoken::decode_header(token).map_err(|_| unauthorized("malformed token"))?;
        if head.alg != Algorithm::RS256 {
            return Err(unauthorized("token algorithm not accepted"));
        }
        let kid = head
            .kid
            .ok_or_else(|| unauthorized("token has no key id"))?;
        let key = self.key(&kid).await?;
        let data = jsonwebtoken::decode::<Claims>(token, &key.key, &self.validation).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => unauthorized("token expired"),
                ErrorKind::ImmatureSignature => unauthorized("token not yet valid"),
                ErrorKind::InvalidIssuer => forbidden("token issuer not accepted"),
                ErrorKind::InvalidAudience => forbidden("token audience is not this bot"),
                ErrorKind::MissingRequiredClaim(c) if c != "exp" => {
                    forbidden(format!("token has no {c} claim"))
                }
                _ => unauthorized("invalid token"),
            },
        )?;
        Ok(VerifiedToken {
            service_url: data.claims.serviceurl,
            endorsements: key.endorsements.clone(),
        })
    }

    fn cached(&self, kid: &str) -> (Option<Arc<SigningKey>>, bool) {
        let Ok(set) = self.keys.read() else {
            return (None, true);
        };
        let stale = set.fetched_at.is_none_or(|t| t.elapsed() >= self.key_ttl);
        (set.keys.get(kid).cloned(), stale)
    }

    async fn key(&self, kid: &str) -> Result<Arc<SigningKey>, AuthFailure> {
        match self.cached(kid) {
            (Some(k), false) => return Ok(k),
            (found, _) => {
                if let Err(e) = self.refresh().await {
                    tracing::warn!(error = %e, url = %self.metadata_url, "fetching the channel's signing keys failed");
                    // A stale key still verifies until fresh ones can be had.
                    if let Some(k) = found {
                        return Ok(k);
                    }
                }
            }
        }
        self.cached(kid)
            .0
            .ok_or_else(|| unauthorized("token signed with an unknown key"))
    }

    /// Fetches the key set unless another caller just did (single flight, rate-limited).
    async fn refresh(&self) -> Result<(), String> {
        let asked_at = Instant::now();
        let mut last = self.refreshing.lock().await;
        if let Some(t) = *last {
            // Someone refreshed while we waited, or too recently: use what is there.
            if t >= asked_at || t.elapsed() < self.min_refresh_interval {
                return Ok(());
            }
        }
        *last = Some(Instant::now());
        let keys = self.fetch().await?;
        tracing::debug!(keys = keys.len(), "channel signing keys refreshed");
        if let Ok(mut set) = self.keys.write() {
            *set = KeySet {
                keys,
                fetched_at: Some(Instant::now()),
            };
        }
        Ok(())
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<SigningKey>>, String> {
        let metadata: Metadata = self.get_json(&self.metadata_url).await?;
        let jwks: Jwks = self.get_json(&metadata.jwks_uri).await?;
        let mut keys = HashMap::new();
        for k in jwks.keys {
            let usable = k.kty == "RSA" && k.alg.as_deref().is_none_or(|a| a == "RS256");
            let (Some(kid), Some(n), Some(e), true) = (k.kid, k.n, k.e, usable) else {
                continue;
            };
            let Ok(key) = DecodingKey::from_rsa_components(&n, &e) else {
                continue;
            };
            keys.insert(
                kid,
                Arc::new(SigningKey {
                    key,
                    endorsements: k.endorsements.into(),
                }),
            );
        }
        Ok(keys)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let resp = self
            .client
            .get(url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: status {}", resp.status()));
        }
        resp.json().await.map_err(|e| format!("GET {url}: {e}"))
    }
}
