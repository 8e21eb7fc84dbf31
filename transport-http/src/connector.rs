//! [`HttpConnector`]: the outbound half — the Bot Framework Connector REST API.
//!
//! | operation | request |
//! | --- | --- |
//! | reply (address has an `id`) | `POST {serviceUrl}/v3/conversations/{conversation}/activities/{id}` |
//! | new message | `POST {serviceUrl}/v3/conversations/{conversation}/activities` |
//! | start a conversation | `POST {serviceUrl}/v3/conversations` |
//! | update | `PUT {serviceUrl}/v3/conversations/{conversation}/activities/{activity}` |
//! | delete | `DELETE {serviceUrl}/v3/conversations/{conversation}/activities/{activity}` |
//!
//! Before any request the service URL is checked against the trusted ones (see
//! [`HttpSettings::allowed_service_urls`](crate::HttpSettings::allowed_service_urls)). Then:
//! - `429` is retried after its `Retry-After` (bounded attempts and wait), a connection that
//!   could not be opened is retried with backoff — neither can duplicate a message;
//! - `401` fetches a fresh token and retries once;
//! - other `5xx` and timeouts are [`DeliveryError::Ambiguous`]: the channel may have delivered
//!   the message, so it is not replayed;
//! - `400`/`403`/`404` (and other `4xx`) are [`DeliveryError::Permanent`] with the channel's
//!   error code from `{"error":{"code":...}}`.

use crate::Shared;
use crate::activity::activity_from_message;
use crate::settings::RetrySettings;
use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use botcore::{Address, Connector, ConversationAccount, DeliveryError, Message, Receipt};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// The wait before retrying a `429` that came without a usable `Retry-After`.
const DEFAULT_THROTTLE_WAIT: Duration = Duration::from_secs(1);

/// Sends messages through the Bot Framework Connector REST API. Cheap to clone.
///
/// Made by [`HttpTransport::connector`](crate::HttpTransport::connector), so that it shares
/// the service URLs the transport's router has validated.
#[derive(Clone)]
pub struct HttpConnector {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for HttpConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpConnector")
            .field("tokens", &self.shared.tokens.is_some())
            .finish_non_exhaustive()
    }
}

fn not_allowed(service_url: &str) -> DeliveryError {
    DeliveryError::ServiceUrlNotAllowed(service_url.to_owned())
}

/// Percent-encodes a path segment as the Bot Framework SDKs do (`encodeURIComponent`):
/// conversation ids such as Teams' `19:...;messageid=...` arrive at the channel intact.
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `{service_url}/v3/conversations/...`, each segment percent-encoded.
fn endpoint(service_url: &str, segments: &[&str]) -> Result<Url, DeliveryError> {
    let mut url = Url::parse(service_url.trim()).map_err(|_| not_allowed(service_url))?;
    if url.cannot_be_a_base() {
        return Err(not_allowed(service_url));
    }
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().trim_end_matches('/').to_owned();
    path.push_str("/v3/conversations");
    for s in segments {
        path.push('/');
        path.push_str(&encode_segment(s));
    }
    url.set_path(&path);
    Ok(url)
}

fn conversation_of(address: &Address) -> Result<&str, DeliveryError> {
    address
        .conversation_id()
        .ok_or_else(|| DeliveryError::Permanent {
            status: 400,
            code: Some("MissingConversationId".into()),
        })
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the channels).
fn retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    v.parse::<u64>().ok().map(Duration::from_secs).or_else(|| {
        v.parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
    })
}

/// The channel's error code from `{"error":{"code":"..."}}`.
fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("error")?.get("code")?.as_str().map(str::to_owned)
}

/// The pauses between attempts to open a connection: `connect_backoff`, doubled each time, one
/// for each retry `max_attempts` allows. No jitter, no cap beyond what the attempts bound.
fn connect_backoff(retry: &RetrySettings) -> impl Iterator<Item = Duration> + use<> {
    ExponentialBuilder::new()
        .with_min_delay(retry.connect_backoff)
        .with_factor(2.0)
        .without_max_delay()
        .with_max_times(retry.max_attempts.saturating_sub(1) as usize)
        .build()
}

fn id_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("id")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl HttpConnector {
    /// One request with the retry policy described in the module docs; the body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        service_url: &str,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Vec<u8>, DeliveryError> {
        let s = &self.shared;
        s.trust.check(service_url)?;
        let retry = s.settings.retry;
        let mut token = match &s.tokens {
            Some(t) => Some(t.token().await?),
            None => None,
        };
        // One budget of `max_attempts` for throttling and connection failures alike; a 401
        // retries once outside it.
        let mut attempt = 1;
        let mut refreshed = false;
        let mut backoff = connect_backoff(&retry);
        loop {
            let mut req = s
                .client
                .request(method.clone(), url.clone())
                .timeout(s.settings.request_timeout);
            if let Some(b) = body {
                req = req.json(b);
            }
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(e) if e.is_connect() => {
                    if attempt < retry.max_attempts
                        && let Some(wait) = backoff.next()
                    {
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(DeliveryError::Unreachable(e.without_url().to_string()));
                }
                Err(e) if e.is_timeout() => {
                    return Err(DeliveryError::Ambiguous("request timed out".into()));
                }
                Err(e) => return Err(DeliveryError::Ambiguous(e.without_url().to_string())),
            };
            let status = resp.status();
            if status.is_success() {
                // The channel accepted the activity; an unreadable body only loses its id.
                return Ok(resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default());
            }
            match status {
                StatusCode::TOO_MANY_REQUESTS => {
                    let asked = retry_after(resp.headers());
                    let wait = asked.unwrap_or(DEFAULT_THROTTLE_WAIT);
                    if attempt < retry.max_attempts && wait <= retry.max_wait {
                        tracing::debug!(?wait, attempt, "throttled by the channel; waiting");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(DeliveryError::Throttled { retry_after: asked });
                }
                StatusCode::UNAUTHORIZED => match (&s.tokens, token.as_deref()) {
                    (Some(tokens), Some(rejected)) if !refreshed => {
                        tokens.invalidate(rejected);
                        token = Some(tokens.token().await?);
                        refreshed = true;
                        continue;
                    }
                    _ => {
                        return Err(DeliveryError::Auth(
                            "the channel refused the bot's token".into(),
                        ));
                    }
                },
                s if s.is_server_error() => {
                    return Err(DeliveryError::Ambiguous(format!(
                        "the channel answered {}",
                        s.as_u16()
                    )));
                }
                _ => {
                    let body = resp.bytes().await.unwrap_or_default();
                    return Err(DeliveryError::Permanent {
                        status: status.as_u16(),
                        code: error_code(&body),
                    });
                }
            }
        }
    }
}

#[async_trait]
impl Connector for HttpConnector {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        let a = &message.address;
        let conversation = conversation_of(a)?;
        let url = match a.reply_to_id() {
            Some(id) => endpoint(&a.service_url, &[conversation, "activities", id])?,
            None => endpoint(&a.service_url, &[conversation, "activities"])?,
        };
        let body = activity_from_message(message);
        let answer = self
            .call(Method::POST, &a.service_url, url, Some(&body))
            .await?;
        Ok(Receipt {
            activity_id: id_of(&answer),
            conversation_id: conversation.to_owned(),
        })
    }

    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        let url = endpoint(&address.service_url, &[])?;
        let mut body = json!({
            "bot": address.bot,
            "members": [address.user],
            "isGroup": false,
        });
        let tenant = address.tenant_id().map(str::to_owned);
        if let Some(t) = &tenant {
            body["tenantId"] = json!(t);
            body["channelData"] = json!({ "tenant": { "id": t } });
        }
        let answer = self
            .call(Method::POST, &address.service_url, url, Some(&body))
            .await?;
        let id = id_of(&answer)
            .ok_or_else(|| DeliveryError::Ambiguous("the channel named no conversation".into()))?;
        let mut started = address.without_reply();
        let mut conversation = ConversationAccount::new(id);
        conversation.is_group = Some(false);
        conversation.tenant_id = tenant;
        started.conversation = Some(conversation);
        Ok(started)
    }

    async fn update(&self, activity_id: &str, message: &Message) -> Result<(), DeliveryError> {
        let a = &message.address;
        let url = endpoint(
            &a.service_url,
            &[conversation_of(a)?, "activities", activity_id],
        )?;
        let mut body = activity_from_message(message);
        body["id"] = json!(activity_id);
        self.call(Method::PUT, &a.service_url, url, Some(&body))
            .await
            .map(drop)
    }

    async fn delete(&self, address: &Address, activity_id: &str) -> Result<(), DeliveryError> {
        let url = endpoint(
            &address.service_url,
            &[conversation_of(address)?, "activities", activity_id],
        )?;
        self.call(Method::DELETE, &address.service_url, url, None)
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_encode_segments_and_keep_the_base_path() {
        let u = endpoint(
            "https://smba.trafficmanager.net/emea/",
            &["a:1;messageid=2", "activities", "x/y"],
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://smba.trafficmanager.net/emea/v3/conversations/a%3A1%3Bmessageid%3D2/activities/x%2Fy"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:3000", &[]).unwrap().as_str(),
            "http://127.0.0.1:3000/v3/conversations"
        );
        assert!(matches!(
            endpoint("nope", &[]),
            Err(DeliveryError::ServiceUrlNotAllowed(_))
        ));
    }

    #[test]
    fn connection_retries_back_off_doubling_within_the_attempts() {
        // backon computes in f32: a pause may be a few nanoseconds off the exact double.
        let millis = |r: RetrySettings| -> Vec<f64> {
            connect_backoff(&r)
                .map(|d| (d.as_secs_f64() * 1000.0).round())
                .collect()
        };
        assert_eq!(millis(RetrySettings::default()), [200.0, 400.0]);
        let five = RetrySettings {
            max_attempts: 5,
            connect_backoff: Duration::from_millis(20),
            ..RetrySettings::default()
        };
        assert_eq!(millis(five), [20.0, 40.0, 80.0, 160.0]);
        let none = RetrySettings {
            max_attempts: 0,
            ..RetrySettings::default()
        };
        assert!(millis(none).is_empty());
    }

    #[test]
    fn error_codes_and_retry_after_are_read() {
        assert_eq!(
            error_code(br#"{"error":{"code":"BotBlocked","message":"no"}}"#).as_deref(),
            Some("BotBlocked")
        );
        assert_eq!(error_code(b"<html>"), None);
        let mut h = header::HeaderMap::new();
        h.insert(header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
