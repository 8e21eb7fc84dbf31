//! The outbound connector against a loopback fake Connector service: where requests go and
//! what they carry, the token cache, and where the token may go.

mod common;

use botcore::{Connector, DeliveryError, Message};
use common::fake_connector::{Fake, address, reply, settings, setup};
use common::*;
use serde_json::json;
use storage_memory::MemoryStorage;
use transport_http::{HttpSettings, HttpTransport};

#[tokio::test]
async fn replies_and_new_messages_go_to_the_right_urls_with_one_cached_token() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    let r = c.send(&Message::to(&a).text("echo: hi")).await.unwrap();
    assert_eq!(r.activity_id.as_deref(), Some("act-1"));
    assert_eq!(r.conversation_id, "a:conv/1");
    c.send(&Message::to(&a.without_reply()).text("proactive"))
        .await
        .unwrap();

    let reqs = fake.requests();
    assert_eq!(
        reqs[0].path,
        "/v3/conversations/a%3Aconv%2F1/activities/act-in"
    );
    assert_eq!(reqs[1].path, "/v3/conversations/a%3Aconv%2F1/activities");
    assert_eq!(reqs[0].body["replyToId"], "act-in");
    assert_eq!(reqs[0].body["from"]["id"], "28:bot");
    assert_eq!(reqs[0].body["recipient"]["name"], "Ann");
    assert_eq!(reqs[1].body.get("replyToId"), None);
    assert!(reqs.iter().all(|r| r.auth.as_deref() == Some("Bearer t1")));
    assert_eq!(fake.tokens_issued(), 1, "the token is cached");
    let form = fake.token_forms.lock().unwrap()[0].clone();
    for part in [
        "grant_type=client_credentials",
        "client_id=app-id",
        "client_secret=app-secret",
        "scope=https%3A%2F%2Fapi.botframework.com%2F.default",
    ] {
        assert!(form.contains(part), "{form} lacks {part}");
    }
}

#[tokio::test]
async fn the_token_never_goes_to_a_service_url_that_is_not_allowed() {
    let (fake, addr, c) = setup().await;
    // Same server, but under a host name the allow-list does not name.
    let a = address(&format!("http://localhost:{}", addr.port()));
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert!(matches!(e, DeliveryError::ServiceUrlNotAllowed(_)), "{e:?}");
    let e = c.start_conversation(&a.without_reply()).await.unwrap_err();
    assert!(matches!(e, DeliveryError::ServiceUrlNotAllowed(_)), "{e:?}");
    assert!(fake.requests().is_empty(), "no request was made");
    assert_eq!(fake.tokens_issued(), 0, "no token was even fetched");
}

#[tokio::test]
async fn without_credentials_no_token_is_sent() {
    let (fake, addr) = Fake::start().await;
    let c = HttpTransport::new(HttpSettings::without_auth())
        .unwrap()
        .connector();
    c.send(&Message::to(&address(&format!("http://{addr}"))).text("x"))
        .await
        .unwrap();
    assert_eq!(fake.requests()[0].auth, None);
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn conversations_are_started_updated_and_deleted() {
    let (fake, addr, c) = setup().await;
    let mut a = address(&format!("http://{addr}")).without_reply();
    a.conversation = None;
    a.extra
        .insert("channelData".into(), json!({"tenant": {"id": "tenant-1"}}));
    fake.then(reply(201, json!({"id": "new-conv", "activityId": "x"})));
    let started = c.start_conversation(&a).await.unwrap();
    assert_eq!(started.conversation_id(), Some("new-conv"));
    assert_eq!(started.tenant_id(), Some("tenant-1"));
    let req = &fake.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v3/conversations")
    );
    assert_eq!(
        req.body["members"],
        json!([{"id": "29:ann", "name": "Ann"}])
    );
    assert_eq!(req.body["bot"]["id"], "28:bot");
    assert_eq!(req.body["isGroup"], false);
    assert_eq!(req.body["tenantId"], "tenant-1");
    assert_eq!(req.body["channelData"]["tenant"]["id"], "tenant-1");

    c.update("act-9", &Message::to(&started).text("edited"))
        .await
        .unwrap();
    c.delete(&started, "act-9").await.unwrap();
    let reqs = fake.requests();
    assert_eq!(
        (reqs[1].method.as_str(), reqs[1].path.as_str()),
        ("PUT", "/v3/conversations/new-conv/activities/act-9")
    );
    assert_eq!(reqs[1].body["id"], "act-9");
    assert_eq!(reqs[1].body["text"], "edited");
    assert_eq!(
        (reqs[2].method.as_str(), reqs[2].path.as_str()),
        ("DELETE", "/v3/conversations/new-conv/activities/act-9")
    );
}

/// A service URL outside the allow-list becomes usable once a request with a valid channel
/// token for it came in — and the bot's replies then carry the bot's token.
#[tokio::test]
async fn a_validated_inbound_service_url_is_trusted_for_replies() {
    let (fake, addr) = Fake::start().await;
    let keys = KeyServer::start(vec![jwk(KEY1_PEM, "k1", &["msteams"])]).await;
    let mut s = settings(addr);
    s.app_id = APP_ID.into();
    s.auth_enabled = true;
    s.openid_metadata_url = keys.metadata_url();
    s.allowed_service_urls = Vec::new();
    let transport = HttpTransport::new(s).unwrap();
    let (bot, _seen) = test_bot(transport.connector(), MemoryStorage::new());
    let app = serve(transport.router(bot)).await;
    let service_url = format!("http://{addr}/");

    let c = transport.connector();
    let e = c
        .send(&Message::to(&address(&service_url)).text("too early"))
        .await
        .unwrap_err();
    assert!(matches!(e, DeliveryError::ServiceUrlNotAllowed(_)), "{e:?}");
    assert!(fake.requests().is_empty());

    let token = sign(KEY1_PEM, "k1", &claims(&service_url));
    let inbound = activity(&service_url, "msteams", "c9", "hi");
    let resp = reqwest::Client::new()
        .post(format!("http://{app}/api/messages"))
        .bearer_auth(token)
        .json(&inbound)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let reply_to = inbound["id"].as_str().unwrap();
    assert_eq!(
        reqs[0].path,
        format!("/v3/conversations/c9/activities/{reply_to}")
    );
    assert_eq!(reqs[0].body["text"], "echo: hi");
    assert_eq!(reqs[0].auth.as_deref(), Some("Bearer t1"));
}

#[tokio::test]
async fn concurrent_sends_on_a_cold_cache_fetch_one_token() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    let sends: Vec<_> = (0..12)
        .map(|i| {
            let (c, m) = (c.clone(), Message::to(&a).text(format!("m{i}")));
            tokio::spawn(async move { c.send(&m).await })
        })
        .collect();
    for s in sends {
        s.await.unwrap().unwrap();
    }
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(fake.requests().len(), 12);
}

/// `.` and `..` cannot be escaped in a URL path (`%2E` is a dot segment too), so ids that are
/// dot segments are refused before any request; every other id is escaped as one segment.
#[tokio::test]
async fn dot_segment_ids_never_reach_another_path() {
    let (fake, addr, c) = setup().await;
    let service_url = format!("http://{addr}");
    let invalid = |code: &str| DeliveryError::Permanent {
        status: 400,
        code: Some(code.into()),
    };
    // A conversation named `..` would post to /v3/activities/{id}.
    let mut a = address(&service_url).without_reply();
    a.conversation = Some(botcore::ConversationAccount::new(".."));
    a.id = Some("act-in".into());
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(e, invalid("InvalidConversationId"));
    assert_eq!(e.refusal(), Some(botcore::Refusal::InvalidAddress));
    // `.` with activity `..` would post to /v3/conversations/.
    a.conversation = Some(botcore::ConversationAccount::new("."));
    a.id = Some("..".into());
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(e, invalid("InvalidConversationId"));
    // A good conversation with activity `..`: reply, update and delete are refused alike.
    let mut good = address(&service_url);
    good.id = Some("..".into());
    let e = c.send(&Message::to(&good).text("x")).await.unwrap_err();
    assert_eq!(e, invalid("InvalidActivityId"));
    let m = Message::to(&good.without_reply()).text("x");
    for id in ["..", ".", ""] {
        assert_eq!(
            c.update(id, &m).await.unwrap_err(),
            invalid("InvalidActivityId")
        );
        assert_eq!(
            c.delete(&good, id).await.unwrap_err(),
            invalid("InvalidActivityId")
        );
    }
    assert!(fake.requests().is_empty(), "nothing was sent");

    // Anything else is one escaped segment, whatever it contains.
    for (conversation, path) in [
        ("%2E%2E", "/v3/conversations/%252E%252E/activities"),
        ("a/../b", "/v3/conversations/a%2F..%2Fb/activities"),
        ("...", "/v3/conversations/.../activities"),
        ("c?x=1#f", "/v3/conversations/c%3Fx%3D1%23f/activities"),
    ] {
        a.conversation = Some(botcore::ConversationAccount::new(conversation));
        a.id = None;
        c.send(&Message::to(&a).text("x")).await.unwrap();
        assert_eq!(fake.requests().last().unwrap().path, path);
    }
    // An empty reply id is no reply: a new message.
    a.id = Some(String::new());
    c.send(&Message::to(&a).text("x")).await.unwrap();
    assert_eq!(fake.requests().last().unwrap().body.get("replyToId"), None);
}
