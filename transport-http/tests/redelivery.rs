//! `POST /api/messages` when the channel sends an activity again, and when the bot's replies
//! cannot be delivered: a loopback fake Connector service, real sockets, memory storage.

mod common;

use common::fake_connector::{Fake, reply, settings};
use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use storage_memory::MemoryStorage;
use transport_http::HttpTransport;

struct Channel {
    fake: Fake,
    service_url: String,
    app: String,
    seen: Seen,
    http: reqwest::Client,
}

impl Channel {
    async fn start() -> Self {
        let (fake, addr) = Fake::start().await;
        let transport = HttpTransport::new(settings(addr)).unwrap();
        let (bot, seen) = test_bot(transport.connector(), MemoryStorage::new());
        let app = serve(transport.router(bot)).await;
        Self {
            fake,
            service_url: format!("http://{addr}"),
            app: format!("http://{app}/api/messages"),
            seen,
            http: reqwest::Client::new(),
        }
    }

    fn activity(&self, text: &str) -> Value {
        activity(&self.service_url, "msteams", "c1", text)
    }

    async fn post(&self, activity: &Value) -> (StatusCode, Option<String>) {
        let r = self
            .http
            .post(&self.app)
            .json(activity)
            .send()
            .await
            .unwrap();
        let retry_after = r
            .headers()
            .get("retry-after")
            .map(|h| h.to_str().unwrap().to_owned());
        (r.status(), retry_after)
    }

    /// The texts the Connector service accepted (answered 200), in order.
    fn delivered(&self, attempts_refused: usize) -> Vec<String> {
        self.fake
            .requests()
            .into_iter()
            .skip(attempts_refused)
            .map(|r| r.body["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn the_same_activity_posted_twice_runs_one_turn_and_gets_the_same_answer() {
    let c = Channel::start().await;
    let hi = c.activity("hi");
    assert_eq!(c.post(&hi).await.0, StatusCode::OK);
    assert_eq!(c.post(&hi).await.0, StatusCode::OK);
    assert_eq!(c.seen.turns(), 1);
    assert_eq!(c.delivered(0), ["echo: hi"]);
}

#[tokio::test]
async fn the_same_activity_posted_twice_at_once_runs_one_turn() {
    let c = Channel::start().await;
    let hi = c.activity("hi");
    let (a, b) = tokio::join!(c.post(&hi), c.post(&hi));
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK));
    assert_eq!(c.seen.turns(), 1);
    assert_eq!(c.delivered(0), ["echo: hi"]);
}

#[tokio::test]
async fn a_reply_the_channel_cannot_take_is_a_503_and_goes_out_on_the_retry() {
    let c = Channel::start().await;
    c.fake.then(reply(503, json!({})));
    let hi = c.activity("hi");
    let (status, retry_after) = c.post(&hi).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after.as_deref(), Some("1"));
    let refused = c.fake.requests().len();
    // The channel sends the activity again: the reply goes out, the turn does not run again.
    assert_eq!(c.post(&hi).await.0, StatusCode::OK);
    assert_eq!(c.seen.turns(), 1);
    assert_eq!(c.delivered(refused), ["echo: hi"]);
    // And a third time: nothing left to send.
    assert_eq!(c.post(&hi).await.0, StatusCode::OK);
    assert_eq!(c.fake.requests().len(), refused + 1);
}

#[tokio::test]
async fn a_reply_refused_for_good_is_a_502_and_is_not_sent_again() {
    let c = Channel::start().await;
    c.fake
        .then(reply(403, json!({"error": {"code": "BotDisabledByAdmin"}})));
    let hi = c.activity("hi");
    assert_eq!(c.post(&hi).await.0, StatusCode::BAD_GATEWAY);
    assert_eq!(c.post(&hi).await.0, StatusCode::OK);
    assert_eq!(c.seen.turns(), 1);
    assert_eq!(c.fake.requests().len(), 1);
}

#[tokio::test]
async fn activities_without_an_id_run_every_time() {
    let c = Channel::start().await;
    let mut hi = c.activity("hi");
    hi.as_object_mut().unwrap().remove("id");
    assert_eq!(c.post(&hi).await.0, StatusCode::OK);
    assert_eq!(c.post(&hi).await.0, StatusCode::OK);
    assert_eq!(c.seen.turns(), 2);
}
