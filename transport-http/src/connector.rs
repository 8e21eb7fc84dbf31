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
//! - `412` (Teams' `PreconditionFailed`: concurrent operations on the conversation; nothing
//!   was written) is retried with backoff like a connection failure, then
//!   [`DeliveryError::Throttled`];
//! - other `5xx` and timeouts are [`DeliveryError::Ambiguous`]: the channel may have delivered
//!   the message, so it is not replayed;
//! - `400`/`403`/`404`/`413` (and other `4xx`) are [`DeliveryError::Permanent`] with the
//!   channel's error code (`{"error":{"code":...}}`, or Teams' `subCode`);
//!   [`DeliveryError::refusal`] classifies it ([`Refusal`](botcore::Refusal)).
//!
//! Conversation and activity ids are percent-encoded as path segments; an id that cannot be
//! one (empty, `.`, `..`) is refused before any request with `Permanent { status: 400, code:
//! "InvalidConversationId" | "InvalidActivityId" }` ([`Refusal::InvalidAddress`](botcore::Refusal)).
//!
//! The activity sent is [`Activity::outgoing`](crate::activity::Activity::outgoing) with the
//! configured app id: `timestamp` now, `from` never without an id.
//!
//! Teams: the conversation id decides where a message goes — with `;messageid=<root>` into
//! that channel thread (replies keep the id as it came), without it a new post in the channel
//! ([`Address::without_thread`], [`Address::in_thread`]). `createConversation` carries the
//! address's tenant as `tenantId` and `channelData.tenant.id`.

mod wire;

use crate::Shared;
use crate::activity::{bot_account, outgoing_body};
use crate::settings::RetrySettings;
use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBuilder};
use botcore::{Address, Connector, ConversationAccount, DeliveryError, Message, Receipt};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use url::Url;
use wire::{endpoint, error_code, id_of, invalid, path_id, retry_after};

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

fn conversation_of(address: &Address) -> Result<&str, DeliveryError> {
    match &address.conversation {
        Some(c) if !c.id.is_empty() => path_id(&c.id, "InvalidConversationId"),
        _ => Err(invalid("MissingConversationId")),
    }
}

fn activity_segment(id: &str) -> Result<&str, DeliveryError> {
    path_id(id, "InvalidActivityId")
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

impl HttpConnector {
    /// One request with the retry policy described in the module docs; the body of a 2xx answer.
    async fn call(
        &self,
        method: Method,
        service_url: &str,
        url: Url,
        body: Option<&[u8]>,
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
                req = req
                    .header(CONTENT_TYPE, "application/json")
                    .body(b.to_vec());
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
                // Teams: "precondition failed" on concurrent operations; nothing was written.
                StatusCode::PRECONDITION_FAILED => {
                    if attempt < retry.max_attempts
                        && let Some(wait) = backoff.next()
                    {
                        tracing::debug!(?wait, attempt, "precondition failed; retrying");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(DeliveryError::Throttled { retry_after: None });
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
        let url = match a.reply_to_id().filter(|id| !id.is_empty()) {
            Some(id) => endpoint(
                &a.service_url,
                &[conversation, "activities", activity_segment(id)?],
            )?,
            None => endpoint(&a.service_url, &[conversation, "activities"])?,
        };
        let body = outgoing_body(message, &self.shared.settings.app_id, None);
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
            "bot": bot_account(address, &self.shared.settings.app_id),
            "members": [address.user],
            "isGroup": false,
        });
        let tenant = address.tenant_id().map(str::to_owned);
        if let Some(t) = &tenant {
            body["tenantId"] = json!(t);
            body["channelData"] = json!({ "tenant": { "id": t } });
        }
        let body = serde_json::to_vec(&body).unwrap_or_else(|_| b"null".to_vec());
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
            &[
                conversation_of(a)?,
                "activities",
                activity_segment(activity_id)?,
            ],
        )?;
        let body = outgoing_body(message, &self.shared.settings.app_id, Some(activity_id));
        self.call(Method::PUT, &a.service_url, url, Some(&body))
            .await
            .map(drop)
    }

    async fn delete(&self, address: &Address, activity_id: &str) -> Result<(), DeliveryError> {
        let url = endpoint(
            &address.service_url,
            &[
                conversation_of(address)?,
                "activities",
                activity_segment(activity_id)?,
            ],
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
}
