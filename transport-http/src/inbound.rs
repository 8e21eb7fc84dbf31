//! The inbound half: `POST /api/messages`.
//!
//! | outcome | status |
//! | --- | --- |
//! | turn ran and its replies were delivered (including a dialog error the user was already told about) | `200` |
//! | the activity was processed before (a redelivery) and nothing is pending | `200` |
//! | a reply could not be delivered yet: it waits in the outbox and goes out on the retry | `503` |
//! | a reply was refused by the channel for good (403, 404, ...) | `502` |
//! | accepted, turn runs in the background ([`AckMode::Immediate`]) | `202` |
//! | malformed JSON or not an activity | `400` |
//! | missing or invalid token | `401` |
//! | valid token that does not fit the bot or the activity | `403` |
//! | body over [`HttpSettings::body_limit`](crate::HttpSettings::body_limit) | `413` |
//! | the activity would make the state larger than storage accepts | `413` |
//! | state could not be read or saved (the channel should retry) | `503` |
//!
//! Every refusal happens before the bot sees the activity. The turn itself runs in its own
//! task, so a channel that hangs up mid-turn does not cut the turn in half.

use crate::Shared;
use crate::activity::message_from_body;
use crate::auth::AuthFailure;
use crate::settings::AckMode;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use botcore::{Bot, BotError, StorageError, TurnOutcome};
use serde_json::json;
use std::sync::Arc;

#[derive(Clone)]
struct Inbound {
    bot: Bot,
    shared: Arc<Shared>,
}

/// A JSON error answer: `{"error": reason}`.
fn refuse(status: StatusCode, reason: &str) -> Response {
    (status, axum::Json(json!({ "error": reason }))).into_response()
}

pub(crate) fn router(bot: Bot, shared: Arc<Shared>) -> Router {
    let limit = shared.settings.body_limit;
    Router::new()
        .route("/api/messages", post(messages))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(Inbound { bot, shared })
}

async fn messages(
    State(inbound): State<Inbound>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return refuse(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
        }
        Err(rejection) => return refuse(rejection.status(), "unreadable body"),
    };
    let shared = &inbound.shared;
    let verified = match &shared.validator {
        Some(v) => {
            let authorization = headers
                .get(header::AUTHORIZATION)
                .and_then(|h| h.to_str().ok());
            match v.verify(authorization).await {
                Ok(t) => Some(t),
                Err(failure) => return auth_refusal(failure),
            }
        }
        None => None,
    };
    let message = match message_from_body(&body) {
        Ok(m) => m,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.0),
    };
    if let Some(token) = verified {
        if let Err(failure) =
            token.check_activity(&message.address.service_url, &message.address.channel_id)
        {
            return auth_refusal(failure);
        }
        shared.trust.trust(&message.address.service_url);
    }
    let bot = inbound.bot.clone();
    let turn = tokio::spawn(async move { bot.receive(message).await });
    match shared.settings.ack_mode {
        AckMode::Immediate => {
            tokio::spawn(async move {
                match turn.await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "turn failed after the activity was acknowledged")
                    }
                    Err(e) => tracing::error!(error = %e, "turn panicked"),
                }
            });
            StatusCode::ACCEPTED.into_response()
        }
        AckMode::AfterTurn => match turn.await {
            Ok(Ok(outcome)) => turn_answer(&outcome),
            Ok(Err(e)) => turn_error(&e),
            Err(e) => {
                tracing::error!(error = %e, "turn panicked");
                refuse(StatusCode::INTERNAL_SERVER_ERROR, "turn failed")
            }
        },
    }
}

fn auth_refusal(failure: AuthFailure) -> Response {
    match failure {
        AuthFailure::Unauthorized(reason) => {
            tracing::debug!(%reason, "inbound request refused: 401");
            let mut r = refuse(StatusCode::UNAUTHORIZED, &reason);
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
        AuthFailure::Forbidden(reason) => {
            tracing::debug!(%reason, "inbound request refused: 403");
            refuse(StatusCode::FORBIDDEN, &reason)
        }
    }
}

/// What a turn that ran (or a redelivery) means for the channel: replies still waiting in the
/// outbox ask for a retry (503, delivered on the retry), replies refused for good are a 502;
/// both are logged with the typed error.
fn turn_answer(outcome: &TurnOutcome) -> Response {
    if outcome.pending > 0 {
        tracing::warn!(
            pending = outcome.pending,
            "replies not delivered yet: answering 503 so the channel retries"
        );
        let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, "replies pending, retry");
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    }
    if let Some(e) = outcome
        .deliveries
        .iter()
        .find_map(|d| d.as_ref().err().filter(|e| e.is_permanent()))
    {
        tracing::warn!(error = %e, "a reply was refused by the channel");
        return refuse(StatusCode::BAD_GATEWAY, "reply refused by the channel");
    }
    StatusCode::OK.into_response()
}

/// What `bot.receive`'s error means for the channel.
fn turn_error(e: &BotError) -> Response {
    match e {
        BotError::Storage(StorageError::TooLarge { .. }) => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            "activity makes the state too large",
        ),
        BotError::Storage(StorageError::Corrupt { .. }) => {
            tracing::error!(error = %e, "turn failed: corrupt state");
            refuse(StatusCode::INTERNAL_SERVER_ERROR, "stored state unreadable")
        }
        BotError::Storage(_) => {
            tracing::warn!(error = %e, "turn failed: storage");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "state storage unavailable")
        }
        BotError::Conflict { .. } => {
            tracing::warn!(error = %e, "turn failed: conflicts");
            refuse(StatusCode::SERVICE_UNAVAILABLE, "state conflict, retry")
        }
        BotError::InvalidAddress(_) => {
            refuse(StatusCode::BAD_REQUEST, "activity has no usable address")
        }
        BotError::Delivery(_) => {
            tracing::warn!(error = %e, "turn failed: delivery");
            refuse(StatusCode::BAD_GATEWAY, "reply could not be delivered")
        }
        // Dialog errors: botcore already ran the error hook, apologised to the user and reset
        // the conversation. The activity was handled; a retry by the channel would only run
        // the turn again.
        _ => {
            tracing::debug!(error = %e, "turn ended with an error the bot handled");
            StatusCode::OK.into_response()
        }
    }
}
