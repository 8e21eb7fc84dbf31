//! `POST /api/messages` with auth off: status codes, messy activities, ack modes.

mod common;

use async_trait::async_trait;
use botcore::{Storage, StorageError, Stored, Version, WriteOp};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use storage_memory::MemoryStorage;
use transport_http::{AckMode, HttpSettings, HttpTransport};

const SU: &str = "http://127.0.0.1:9/";

async fn start(
    settings: HttpSettings,
    storage: impl Storage,
) -> (String, Seen, RecordingConnector) {
    let connector = RecordingConnector::default();
    let (bot, seen) = test_bot(connector.clone(), storage);
    let addr = serve(HttpTransport::new(settings).unwrap().router(bot)).await;
    (format!("http://{addr}/api/messages"), seen, connector)
}

async fn post_raw(url: &str, body: impl Into<reqwest::Body>) -> (StatusCode, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn post(url: &str, body: &Value) -> StatusCode {
    post_raw(url, body.to_string()).await.0
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused_before_the_bot() {
    let mut settings = HttpSettings::without_auth();
    settings.body_limit = 2048;
    let (url, seen, connector) = start(settings, MemoryStorage::new()).await;
    let (status, answer) = post_raw(&url, "{\"type\": \"message\", ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"].as_str().unwrap().contains("malformed JSON"),
        "{answer}"
    );
    let (status, answer) = post_raw(&url, "[1, 2]").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        answer["error"].as_str().unwrap().contains("object"),
        "{answer}"
    );
    let (status, answer) = post_raw(
        &url,
        json!({"type": "message", "channelId": "x"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"], "missing `serviceUrl`");

    let big = activity(SU, "directline", "c1", &"x".repeat(4096));
    let (status, answer) = post_raw(&url, big.to_string()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer["error"], "body too large");
    assert_eq!(seen.turns(), 0);
    assert!(connector.texts().is_empty());
    // The same endpoint still serves a normal activity.
    assert_eq!(
        post(&url, &activity(SU, "directline", "c1", "hi")).await,
        StatusCode::OK
    );
    assert_eq!(connector.texts(), ["echo: hi"]);
}

#[tokio::test]
async fn non_message_activities_go_to_the_event_handler_not_to_dialogs() {
    let (url, seen, connector) = start(HttpSettings::without_auth(), MemoryStorage::new()).await;
    let kinds = [
        "conversationUpdate",
        "contactRelationUpdate",
        "typing",
        "endOfConversation",
        "event",
        "invoke",
        "messageReaction",
    ];
    for kind in kinds {
        let body = json!({"type": kind, "channelId": "emulator", "serviceUrl": SU, "conversation": {"id": "c1"},
                          "membersAdded": [{"id": "bot"}], "name": "some-event", "value": {"a": 1}});
        assert_eq!(post(&url, &body).await, StatusCode::OK, "{kind}");
    }
    assert_eq!(*seen.events.lock().unwrap(), kinds);
    assert_eq!(seen.turns(), 0);
    assert!(connector.texts().is_empty());
}

#[tokio::test]
async fn messy_messages_are_accepted_and_unknown_fields_kept() {
    let (url, seen, connector) = start(HttpSettings::without_auth(), MemoryStorage::new()).await;
    let mut body = activity(SU, "slack", "c1", "hi");
    let obj = body.as_object_mut().unwrap();
    obj.remove("recipient");
    obj.remove("locale");
    obj.insert("textFormat".into(), json!("plain"));
    obj.insert("x-custom".into(), json!({"deep": [1, 2]}));
    obj.insert("attachments".into(), Value::Null);
    assert_eq!(post(&url, &body).await, StatusCode::OK);
    let last = seen.last.lock().unwrap().clone().unwrap();
    assert_eq!(last.extra["textFormat"], "plain");
    assert_eq!(last.extra["x-custom"], json!({"deep": [1, 2]}));
    assert_eq!(last.address.bot.id, "");
    assert_eq!(connector.texts(), ["echo: hi"]);
}

#[tokio::test]
async fn a_waterfall_runs_across_requests() {
    let (url, _seen, connector) = start(HttpSettings::without_auth(), MemoryStorage::new()).await;
    for text in ["profile", "Ann", "42"] {
        assert_eq!(
            post(&url, &activity(SU, "directline", "c1", text)).await,
            StatusCode::OK
        );
    }
    assert_eq!(
        connector.texts(),
        [
            "What is your name?",
            "How old are you?",
            "Thanks Ann, you are 42."
        ]
    );
}

#[tokio::test]
async fn a_dialog_error_is_still_200_after_the_apology() {
    let (url, _seen, connector) = start(HttpSettings::without_auth(), MemoryStorage::new()).await;
    assert_eq!(
        post(&url, &activity(SU, "directline", "c1", "fail")).await,
        StatusCode::OK
    );
    let texts = connector.texts();
    assert!(texts[0].starts_with("Oops."), "{texts:?}");
}

/// Storage that is down.
#[derive(Debug)]
struct DownStorage;

#[async_trait]
impl Storage for DownStorage {
    async fn read_many(&self, _keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        Err(StorageError::Unavailable("connection refused".into()))
    }
    async fn write_many(&self, _ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        Err(StorageError::Unavailable("connection refused".into()))
    }
    async fn list_keys(
        &self,
        _p: &str,
        _a: Option<&str>,
        _l: usize,
    ) -> Result<Vec<String>, StorageError> {
        Err(StorageError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn storage_failures_are_503_so_the_channel_retries() {
    let (url, seen, connector) = start(HttpSettings::without_auth(), DownStorage).await;
    let (status, answer) = post_raw(&url, activity(SU, "directline", "c1", "hi").to_string()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer["error"], "state storage unavailable");
    assert_eq!(seen.turns(), 0);
    assert!(connector.texts().is_empty());
}

#[tokio::test]
async fn immediate_ack_answers_202_and_runs_the_turn_after() {
    let mut settings = HttpSettings::without_auth();
    settings.ack_mode = AckMode::Immediate;
    let (url, _seen, connector) = start(settings, MemoryStorage::new()).await;
    assert_eq!(
        post(&url, &activity(SU, "directline", "c1", "hi")).await,
        StatusCode::ACCEPTED
    );
    for _ in 0..100 {
        if !connector.texts().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(connector.texts(), ["echo: hi"]);
    // Validation still happens before the 202.
    assert_eq!(post_raw(&url, "nope").await.0, StatusCode::BAD_REQUEST);
}
