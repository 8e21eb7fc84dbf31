//! Addresses, messages, middleware, events and the remaining stack operations.

use async_trait::async_trait;
use botcore::{
    Address, Bot, BotError, EventAction, Message, MessageKind, Middleware, ResumeReason, Waterfall,
    json, prompts,
};
use transport_mock::TestBot;

#[test]
fn a_v3_saved_address_round_trips_with_unknown_fields_kept() {
    let v3 = r#"{"id":"1234","channelId":"msteams","user":{"id":"29:1","name":"Ann","aadObjectId":"a-1"},"conversation":{"isGroup":false,"id":"a:1","tenantId":"t-1","conversationType":"personal"},"bot":{"id":"28:b","name":"bot"},"serviceUrl":"https://smba.trafficmanager.net/emea/","channelData":{"tenant":{"id":"t-1"}},"useAuth":true}"#;
    let a: Address = serde_json::from_str(v3).unwrap();
    assert_eq!(a.reply_to_id(), Some("1234"));
    assert_eq!(a.conversation_id(), Some("a:1"));
    assert_eq!(a.tenant_id(), Some("t-1"));
    assert_eq!(a.user.extra["aadObjectId"], json!("a-1"));
    let back: serde_json::Value = serde_json::to_value(&a).unwrap();
    let orig: serde_json::Value = serde_json::from_str(v3).unwrap();
    assert_eq!(back, orig, "nothing lost, nothing added");
}

#[test]
fn a_v4_conversation_reference_reads_and_writes_the_v3_shape() {
    let v4 = r#"{"activityId":"9","user":{"id":"u","name":"U","role":"user"},"bot":{"id":"b","name":"B","role":"bot"},"conversation":{"id":"c"},"channelId":"directline","locale":"en-US","serviceUrl":"http://127.0.0.1:3000"}"#;
    let a: Address = serde_json::from_str(v4).unwrap();
    assert_eq!(
        (a.reply_to_id(), a.locale.as_deref()),
        (Some("9"), Some("en-US"))
    );
    let v = serde_json::to_value(&a).unwrap();
    assert_eq!(v["id"], json!("9"));
    assert!(v.get("activityId").is_none());
    assert_eq!(v["user"]["role"], json!("user"));
    // An address with no conversation reads too: it means "start one".
    let a: Address = serde_json::from_str(
        r#"{"channelId":"slack","user":{"id":"u"},"bot":{"id":"b"},"serviceUrl":"x"}"#,
    )
    .unwrap();
    assert_eq!(a.conversation_id(), None);
}

#[test]
fn messages_round_trip_and_keep_unknown_fields() {
    let m: Message = serde_json::from_str(r#"{"type":"event","name":"ping","value":{"n":1},"text":"","address":{"channelId":"x"},"futureField":[1,2]}"#).unwrap();
    assert_eq!(m.kind, MessageKind::Event);
    assert_eq!(m.extra["futureField"], json!([1, 2]));
    let m2: Message = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
    assert_eq!(m, m2);
    let other: Message = serde_json::from_str(r#"{"type":"messageReaction"}"#).unwrap();
    assert_eq!(other.kind, MessageKind::Other("messageReaction".into()));
}

#[derive(Debug)]
struct Shout;

#[async_trait]
impl Middleware for Shout {
    async fn receive(&self, m: &mut Message) -> Result<bool, BotError> {
        Ok(m.text != "drop me")
    }
    async fn send(&self, m: &mut Message) -> Result<(), BotError> {
        m.text = m.text.to_uppercase();
        Ok(())
    }
}

#[tokio::test]
async fn middleware_sees_every_message_both_ways() {
    let bot = Bot::builder().middleware(Shout).dialog(
        "/",
        Waterfall::new().step(|s, _| {
            s.send_typing();
            s.send(format!("you said {}", s.message().text));
            s.end_dialog();
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let r = t.user("ann").say("hi").await;
    assert_eq!(
        r.messages[0].kind,
        MessageKind::Typing,
        "typing is captured too"
    );
    r.expect(&["YOU SAID HI"]);
    let r = t.user("ann").say("drop me").await;
    assert!(r.messages.is_empty() && !r.outcome.unwrap().ran_turn);
}

#[tokio::test]
async fn events_are_ignored_unless_the_handler_asks_for_a_turn() {
    let bot = Bot::builder()
        .on_event(|m| match m.kind {
            MessageKind::ConversationUpdate => {
                EventAction::Reply(vec![Message::to(&m.address).text("Welcome!")])
            }
            MessageKind::Event if m.name.as_deref() == Some("start") => EventAction::RunTurn,
            _ => EventAction::Ignore,
        })
        .dialog(
            "/",
            Waterfall::new().step(|s, _| prompts::text(s, "What is your name?")),
        );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    let r = ann
        .send(Message::of_kind(
            MessageKind::ConversationUpdate,
            &ann.address,
        ))
        .await;
    r.expect(&["Welcome!"]);
    assert!(
        ann.state().await.stack.is_empty(),
        "no dialog turn for a conversationUpdate"
    );
    let r = ann
        .send(Message::of_kind(MessageKind::Typing, &ann.address))
        .await;
    assert!(r.messages.is_empty());
    let r = ann
        .send(Message::of_kind(MessageKind::Event, &ann.address).name("start"))
        .await;
    r.expect(&["What is your name?"]);
}

#[tokio::test]
async fn cancel_resumes_the_parent_as_canceled_and_reset_starts_over() {
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(|s, _| s.begin_dialog("menu", None))
                .step(|s, r| {
                    s.send(format!("menu ended: {:?}", r.reason));
                    assert_eq!(r.reason, ResumeReason::Canceled);
                    assert_eq!(r.child_id.as_deref(), Some("*:menu"));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog(
            "menu",
            Waterfall::new()
                .step(|s, _| prompts::text(s, "cancel, reset or anything?"))
                .step(|s, r| match r.as_str() {
                    Some("cancel") => s.cancel_dialog(Some("menu")),
                    Some("reset") => s.reset(None, None),
                    _ => {
                        s.send("plain");
                        s.end_dialog();
                        Ok(())
                    }
                }),
        );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["cancel, reset or anything?"]);
    ann.say("cancel").await.expect(&["menu ended: Canceled"]);
    assert!(ann.state().await.stack.is_empty());
    ann.say("hi").await;
    ann.say("reset")
        .await
        .expect(&["cancel, reset or anything?"]);
    assert_eq!(
        ann.state().await.stack_ids(),
        ["*:/", "*:menu", "BotBuilder:prompt-text"]
    );
}

#[tokio::test]
async fn two_stack_operations_in_one_step_are_a_typed_error() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new().step(|s, _| {
            s.end_dialog();
            s.begin_dialog("/", None)
        }),
    );
    let t = TestBot::new(bot);
    let r = t.user("ann").say("hi").await;
    assert!(matches!(
        r.error(),
        Some(BotError::InvalidStackOperation(_))
    ));
}
