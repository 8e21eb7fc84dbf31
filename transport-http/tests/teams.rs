//! Teams on the wire, against the loopback fake Connector service: a channel-thread message
//! in and the reply into its thread, a new post in the channel, and a proactive message to a
//! user whose saved address keeps the tenant — `createConversation` as Teams requires it.

mod common;

use botcore::{Address, Connector, Message};
use common::fake_connector::{Fake, reply, settings};
use common::{Seen, test_bot};
use serde_json::{Value, json};
use std::net::SocketAddr;
use storage_memory::MemoryStorage;
use transport_http::HttpTransport;

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const CHANNEL: &str = "19:c0ffee0123456789abcdef@thread.tacv2";

/// A message from Teams as the channel posts it, trimmed of nothing that matters here.
fn teams_message(service_url: &str, conversation: Value, id: &str, text: &str) -> Value {
    json!({
        "text": text,
        "textFormat": "plain",
        "type": "message",
        "timestamp": "2024-05-01T10:00:00.1234567Z",
        "localTimestamp": "2024-05-01T12:00:00.1234567+02:00",
        "localTimezone": "Europe/Berlin",
        "id": id,
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnVelzRGos0bPbpsfJjcbAD22bmKc4GMbrY2g4JDrrA8vM06X1-cHHle4zOE6U4ttcc",
                 "name": "Ann Lee", "aadObjectId": "6b1d8f4e-2c6a-4b8f-9a51-0f3f1f0d9c2e"},
        "conversation": conversation,
        "recipient": {"id": "28:app-id", "name": "Pizza Bot"},
        "entities": [
            {"mentioned": {"id": "28:app-id", "name": "Pizza Bot"}, "text": "<at>Pizza Bot</at>", "type": "mention"},
            {"locale": "en-US", "country": "US", "platform": "Web", "timezone": "Europe/Berlin", "type": "clientInfo"}
        ],
        "channelData": {
            "teamsChannelId": CHANNEL,
            "teamsTeamId": "19:team0123@thread.tacv2",
            "channel": {"id": CHANNEL},
            "team": {"id": "19:team0123@thread.tacv2"},
            "tenant": {"id": TENANT}
        },
        "locale": "en-US"
    })
}

/// The fake Connector, and the bot's router served with a connector pointed at it.
async fn start() -> (Fake, SocketAddr, SocketAddr, HttpTransport, Seen) {
    let (fake, addr) = Fake::start().await;
    let transport = HttpTransport::new(settings(addr)).unwrap();
    let (bot, seen) = test_bot(transport.connector(), MemoryStorage::new());
    let app = common::serve(transport.router(bot)).await;
    (fake, addr, app, transport, seen)
}

async fn post(app: SocketAddr, activity: &Value) {
    let resp = reqwest::Client::new()
        .post(format!("http://{app}/api/messages"))
        .json(activity)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

fn last_address(seen: &Seen) -> Address {
    seen.last.lock().unwrap().clone().unwrap().address
}

#[tokio::test]
async fn a_reply_to_a_channel_thread_goes_into_the_thread_and_a_new_post_into_the_channel() {
    let (fake, addr, app, transport, seen) = start().await;
    let service_url = format!("http://{addr}/emea/");
    let thread = format!("{CHANNEL};messageid=1714557000000");
    let conversation =
        json!({"isGroup": true, "conversationType": "channel", "tenantId": TENANT, "id": thread});
    post(
        app,
        &teams_message(&service_url, conversation, "1714557600123", "hi"),
    )
    .await;

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].path,
        "/emea/v3/conversations/19%3Ac0ffee0123456789abcdef%40thread.tacv2%3Bmessageid%3D1714557000000/activities/1714557600123"
    );
    let body = &reqs[0].body;
    assert_eq!(body["text"], "echo: hi");
    assert_eq!(body["replyToId"], "1714557600123");
    assert_eq!(body["from"]["id"], "28:app-id");
    assert_eq!(body["conversation"]["id"], thread);
    assert_eq!(body["conversation"]["tenantId"], TENANT);
    assert_eq!(body["locale"], "en-US");
    let timestamp = body["timestamp"].as_str().unwrap();
    let sent: jiff::Timestamp = timestamp.parse().unwrap();
    assert!(timestamp.ends_with('Z'));
    assert!((jiff::Timestamp::now() - sent).get_seconds().abs() < 60);
    let local = body["localTimestamp"].as_str().unwrap();
    // Now in the user's zone (+01:00 or +02:00, as Berlin is today): the same instant.
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
    let offset = sent.to_zoned(berlin).strftime("%:z").to_string();
    assert!(local.ends_with(&offset), "{local} in Berlin is {offset}");
    assert_eq!(local.parse::<jiff::Timestamp>().unwrap(), sent);

    // The address the dialog saw names the thread; a new post drops it.
    let a = last_address(&seen);
    assert_eq!(a.thread_root_id(), Some("1714557000000"));
    assert_eq!(a.tenant_id(), Some(TENANT));
    let c = transport.connector();
    let post = c
        .send(&Message::to(&a.without_thread()).text("new post"))
        .await
        .unwrap();
    let root = post.activity_id.unwrap();
    c.send(&Message::to(&a.without_thread().in_thread(&root)).text("in the new thread"))
        .await
        .unwrap();
    let reqs = fake.requests();
    assert_eq!(
        reqs[1].path,
        "/emea/v3/conversations/19%3Ac0ffee0123456789abcdef%40thread.tacv2/activities"
    );
    assert_eq!(reqs[1].body.get("replyToId"), None);
    assert_eq!(
        reqs[2].path,
        format!(
            "/emea/v3/conversations/19%3Ac0ffee0123456789abcdef%40thread.tacv2%3Bmessageid%3D{root}/activities"
        )
    );
}

#[tokio::test]
async fn a_saved_personal_address_keeps_the_tenant_for_create_conversation() {
    let (fake, addr, app, transport, seen) = start().await;
    let service_url = format!("http://{addr}/emea/");
    // Personal chats often name the tenant only in channelData.
    let conversation = json!({"conversationType": "personal", "id": "a:1pErSoNaLcHaT"});
    let mut activity = teams_message(&service_url, conversation, "1714557600200", "hello");
    activity["channelData"] = json!({"tenant": {"id": TENANT}});
    post(app, &activity).await;
    assert_eq!(fake.requests()[0].body["conversation"]["tenantId"], TENANT);

    // Saved as JSON, read back weeks later, with the conversation forgotten.
    let json = serde_json::to_string(&last_address(&seen)).unwrap();
    let mut saved: Address = serde_json::from_str(&json).unwrap();
    assert_eq!(saved.tenant_id(), Some(TENANT));
    saved.conversation = None;
    saved.id = None;

    fake.then(reply(201, json!({"id": "a:1nEwChAt"})));
    let started = transport
        .connector()
        .start_conversation(&saved)
        .await
        .unwrap();
    let create = &fake.requests()[1];
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", "/emea/v3/conversations")
    );
    assert_eq!(create.body["tenantId"], TENANT);
    assert_eq!(create.body["channelData"]["tenant"]["id"], TENANT);
    assert_eq!(create.body["isGroup"], false);
    assert_eq!(create.body["bot"]["id"], "28:app-id");
    let user = &create.body["members"][0];
    assert!(user["id"].as_str().unwrap().starts_with("29:"));
    assert_eq!(user["aadObjectId"], "6b1d8f4e-2c6a-4b8f-9a51-0f3f1f0d9c2e");

    let c = transport.connector();
    c.send(&Message::to(&started).text("Your pizza is on its way"))
        .await
        .unwrap();
    let send = &fake.requests()[2];
    assert_eq!(send.path, "/emea/v3/conversations/a%3A1nEwChAt/activities");
    assert_eq!(send.body["conversation"]["tenantId"], TENANT);
    assert_eq!(send.body["from"]["id"], "28:app-id");
    assert!(
        send.body["localTimestamp"]
            .as_str()
            .unwrap()
            .ends_with(":00"),
        "the user's time, from the saved address"
    );

    // A saved address that lost its bot still starts the conversation as the app.
    saved.bot = Default::default();
    fake.then(reply(201, json!({"id": "a:2"})));
    c.start_conversation(&saved).await.unwrap();
    assert_eq!(fake.requests()[3].body["bot"]["id"], "28:app-id");
}
