//! `GET /metrics` of the bench bot: after one turn over real sockets on 127.0.0.1 (the bot's
//! reply goes to a stand-in channel service), the Prometheus text counts the turn and its
//! delivery.

mod support;

use serde_json::{Value, json};
use std::process::Command;
use std::sync::{Arc, Mutex};
use support::{TaskGuard, start};
use transport_http::axum::extract::{Json, State};
use transport_http::axum::routing::post;
use transport_http::axum::{Router, serve};

/// A channel service that takes the bot's replies and keeps them.
async fn channel_service() -> (String, Arc<Mutex<Vec<Value>>>, TaskGuard<()>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/v3/conversations/{conversation}/activities/{id}",
            post(
                async |State(got): State<Arc<Mutex<Vec<Value>>>>, Json(activity): Json<Value>| {
                    got.lock().unwrap().push(activity);
                    Json(json!({"id": "reply-1"}))
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = TaskGuard(tokio::spawn(async move {
        serve(listener, app).await.unwrap();
    }));
    (url, received, server)
}

/// The value of the sample `series` (name and labels, as Prometheus writes them) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_a_turn_and_its_delivery() {
    let (service_url, received, _channel) = channel_service().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bench-bot"));
    cmd.args(["--addr", "127.0.0.1:0", "--storage", "memory"])
        .env("BOTCORE_NAMESPACE", "metrics-test");
    let (_bot, messages_url) = start(cmd, "bench-bot listening on");
    let base = messages_url.trim_end_matches("/api/messages");

    let http = reqwest::Client::new();
    let activity = json!({
        "type": "message",
        "id": "activity-1",
        "channelId": "directline",
        "serviceUrl": service_url,
        "from": {"id": "user-1", "name": "Ann"},
        "recipient": {"id": "bench-bot"},
        "conversation": {"id": "conv-1"},
        "text": "hello",
    });
    let answer = http
        .post(&messages_url)
        .json(&activity)
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let replies: Vec<Value> = received.lock().unwrap().clone();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(replies[0]["text"], "echo: hello");

    let metrics = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert!(metrics.status().is_success());
    let kind = metrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    let text = metrics.text().await.unwrap();
    let turns = sample(&text, r#"botcore_turns_total{kind="user",outcome="ok"}"#);
    assert!(
        turns.is_some_and(|n| n >= 1.0),
        "no turn counted in:\n{text}"
    );
    let delivered = sample(&text, r#"botcore_deliveries_total{outcome="ok"}"#);
    assert!(
        delivered.is_some_and(|n| n >= 1.0),
        "no delivery counted in:\n{text}"
    );
    assert!(
        text.contains("# HELP botcore_turns_total"),
        "metrics described:\n{text}"
    );
    assert!(
        text.contains("botcore_turn_duration_seconds_bucket{kind=\"user\""),
        "latency histogram:\n{text}"
    );
}
