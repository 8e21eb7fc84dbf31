//! The proactive webhooks over real HTTP on loopback, with the bot on the mock channel.

use botcore::{Bot, prompts};
use examples::webhooks::{self, DEFAULT_CUSTOM_MESSAGE, WebhookSettings};
use serde_json::{Value, json};
use std::time::Duration;
use transport_mock::{TestBot, TestUser};

struct Setup {
    url: String,
    t: TestBot,
}

async fn setup(settings: WebhookSettings, track_last: bool) -> Setup {
    let mut builder = Bot::builder()
        .dialog_fn("/", async |s, _| s.send("hi"))
        .dialog_fn("standup", async |s, _| {
            prompts::text(s, "What did you do yesterday?")
        });
    if track_last {
        builder = builder.middleware(settings.last_address.clone());
    }
    let t = TestBot::new(builder);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = webhooks::router(t.bot.clone(), settings);
    tokio::spawn(async move { transport_http::axum::serve(listener, app).await.unwrap() });
    Setup { url, t }
}

impl Setup {
    /// A user who has written "hello" to the bot.
    async fn writes(&self, user: &str) -> TestUser {
        let u = self.t.user(user);
        u.say("hello").await;
        u
    }

    /// Every text the bot sent to `user`.
    fn sent_to(&self, user: &str) -> Vec<String> {
        let sent = self.t.channel.sent_to(&format!("conv-{user}"));
        sent.into_iter().map(|m| m.text).collect()
    }

    async fn post(&self, path: &str, body: Value, secret: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .json(&body);
        if let Some(s) = secret {
            req = req.header("x-webhook-secret", s);
        }
        let resp = req.send().await.unwrap();
        (
            resp.status().as_u16(),
            resp.json().await.unwrap_or(Value::Null),
        )
    }
}

#[tokio::test]
async fn a_configured_secret_is_required() {
    let settings = WebhookSettings {
        secret: Some("s3cret".into()),
        ..Default::default()
    };
    let s = setup(settings, true).await;
    s.writes("ann").await;
    let body = json!({"notification": "ping"});
    let (status, refusal) = s.post("/api/notify", body.clone(), None).await;
    assert_eq!(
        (status, refusal),
        (401, json!({"error": "missing or wrong webhook secret"}))
    );
    assert_eq!(
        s.post("/api/notify", body.clone(), Some("wrong")).await.0,
        401
    );
    assert_eq!(
        s.post("/api/standup", json!({"members": []}), None).await.0,
        401
    );
    let get = reqwest::get(format!("{}/api/CustomWebApi", s.url))
        .await
        .unwrap();
    assert_eq!(get.status(), 401);
    assert_eq!(s.sent_to("ann"), ["hi"], "nothing sent without the secret");
    assert_eq!(
        s.post("/api/notify", body, Some("s3cret")).await,
        (200, json!([{"user": "ann", "ok": true}]))
    );
    let bearer = reqwest::Client::new()
        .post(format!("{}/api/CustomWebApi", s.url))
        .bearer_auth("s3cret");
    assert_eq!(bearer.send().await.unwrap().status(), 200);
    assert_eq!(s.sent_to("ann"), ["hi", "ping", DEFAULT_CUSTOM_MESSAGE]);
}

#[tokio::test]
async fn notify_goes_to_one_address_or_to_everyone() {
    let s = setup(WebhookSettings::default(), true).await;
    s.writes("ann").await;
    let bob = s.writes("bob").await;
    let one = json!({"address": bob.address, "notification": "just bob"});
    assert_eq!(
        s.post("/api/notify", one, None).await,
        (200, json!([{"user": "bob", "ok": true}]))
    );
    let (status, all) = s
        .post("/api/notify", json!({"notification": "all"}), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    assert_eq!(s.sent_to("ann"), ["hi", "all"]);
    assert_eq!(s.sent_to("bob"), ["hi", "just bob", "all"]);

    let stranger = json!({"address": s.t.user("eve").address, "notification": "hi eve"});
    let (status, r) = s.post("/api/notify", stranger, None).await;
    assert_eq!((status, &r[0]["ok"]), (200, &json!(false)));
    assert!(
        r[0]["error"].as_str().unwrap().contains("never talked"),
        "{r}"
    );
    assert!(s.sent_to("eve").is_empty());
    for bad in [
        json!({"address": {"user": 3}, "notification": "x"}),
        json!({"address": {"channelId": "mock"}, "notification": "x"}),
        json!({"notification": ""}),
        json!({"text": "no notification"}),
        json!(["not an object"]),
    ] {
        let (status, refusal) = s.post("/api/notify", bad.clone(), None).await;
        assert_eq!(status, 400, "{bad}");
        assert!(refusal["error"].is_string(), "{refusal}");
    }
    let untyped = reqwest::Client::new().post(format!("{}/api/notify", s.url));
    let untyped = untyped
        .body(r#"{"notification": "x"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        untyped.status(),
        415,
        "the body must be sent as application/json"
    );
}

#[tokio::test]
async fn standup_begins_the_dialog_for_each_member() {
    let s = setup(WebhookSettings::default(), true).await;
    let (ann, bob) = (s.writes("ann").await, s.writes("bob").await);
    let members = json!({"members": [ann.address, bob.address]});
    let (status, r) = s.post("/api/standup", members, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        r,
        json!([{"user": "ann", "ok": true}, {"user": "bob", "ok": true}])
    );
    assert_eq!(s.sent_to("ann"), ["hi", "What did you do yesterday?"]);
    assert_eq!(s.sent_to("bob"), ["hi", "What did you do yesterday?"]);
    assert_eq!(
        s.post("/api/standup", json!({"members": "ann"}), None)
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn custom_web_api_reaches_whoever_wrote_last() {
    let s = setup(WebhookSettings::default(), true).await;
    let (status, refusal) = s.post("/api/CustomWebApi", json!({}), None).await;
    assert_eq!(
        (status, refusal),
        (404, json!({"error": "nobody has written to the bot yet"}))
    );
    s.writes("bob").await;
    s.writes("ann").await;
    assert_eq!(
        s.post("/api/CustomWebApi", json!({}), None).await.1,
        json!([{"user": "ann", "ok": true}])
    );

    // Without the middleware, the address book's most recent conversation is used.
    let custom = WebhookSettings {
        custom_message: "custom".into(),
        ..Default::default()
    };
    let s = setup(custom, false).await;
    s.writes("ann").await;
    s.t.clock.advance(Duration::from_millis(5));
    s.writes("bob").await;
    assert_eq!(
        s.post("/api/CustomWebApi", json!({}), None).await.1,
        json!([{"user": "bob", "ok": true}])
    );
    assert_eq!(s.sent_to("bob"), ["hi", "custom"]);
}
