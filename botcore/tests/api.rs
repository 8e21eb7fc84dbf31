//! Addresses, messages, middleware, events and the remaining stack operations.

use async_trait::async_trait;
use botcore::{
    Address, Bot, BotError, DeliveryError, DialogResult, EventAction, Message, MessageKind,
    Middleware, ResumeReason, StorageError, StorageExt, Waterfall, json, prompts,
};
use serde::{Deserialize, Serialize};
use transport_mock::{MockChannel, TestBot};

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
        Waterfall::new().step(async |s, _| {
            s.send_typing();
            s.send(format!("you said {}", s.text()));
            s.end_dialog();
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
            Waterfall::new().step(async |s, _| prompts::text(s, "What is your name?")),
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
                .step(async |s, _| s.begin_dialog("menu"))
                .step(async |s, r| {
                    s.send(format!("menu ended: {:?}", r.reason));
                    assert_eq!(r.reason, ResumeReason::Canceled);
                    assert_eq!(r.child_id.as_deref(), Some("*:menu"));
                    s.end_dialog();
                }),
        )
        .dialog(
            "menu",
            Waterfall::new()
                .step(async |s, _| prompts::text(s, "cancel, reset or anything?"))
                .step(async |s, r| {
                    match r.text()? {
                        "cancel" => s.cancel_dialog_id("menu"),
                        "reset" => s.reset(),
                        _ => {
                            s.send("plain");
                            s.end_dialog();
                        }
                    }
                    Ok(())
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
        Waterfall::new().step(async |s, _| {
            s.end_dialog();
            s.begin_dialog("/");
        }),
    );
    let t = TestBot::new(bot);
    let r = t.user("ann").say("hi").await;
    assert!(matches!(
        r.error(),
        Some(BotError::InvalidStackOperation(_))
    ));
}

#[derive(Serialize, Deserialize, Default, Debug, PartialEq)]
struct Profile {
    name: String,
    visits: u32,
}

#[tokio::test]
async fn typed_user_data_is_read_back_in_the_next_turn_and_stored_in_the_v3_shape() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| {
                let mut profile: Profile = s.user_data().get()?;
                if profile.name.is_empty() {
                    s.set_preferred_locale("en-GB");
                    prompts::text(s, "What is your name?");
                } else {
                    profile.visits += 1;
                    s.user_data_mut().set(&profile)?;
                    s.send(format!(
                        "Welcome back {}, visit {}",
                        profile.name, profile.visits
                    ));
                    s.end_dialog();
                }
                Ok(())
            })
            .step(async |s, r| {
                s.user_data_mut().set(&Profile {
                    name: r.text()?.to_owned(),
                    visits: 1,
                })?;
                s.send("Nice to meet you");
                s.end_dialog();
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["What is your name?"]);
    ann.say("Ann").await.expect(&["Nice to meet you"]);
    ann.say("hi").await.expect(&["Welcome back Ann, visit 2"]);
    // v3 stores user data as a plain JSON object; the preferred locale set in the first turn
    // is still next to the author's fields after two `set`s.
    let stored = t
        .storage
        .read("user/mock/ann")
        .await
        .unwrap()
        .expect("user data is saved");
    assert_eq!(
        stored.value,
        json!({"BotBuilder.Data.PreferredLocale": "en-GB", "name": "Ann", "visits": 2})
    );
    assert_eq!(
        ann.state().await.user::<Profile>(),
        Profile {
            name: "Ann".into(),
            visits: 2
        }
    );
}

#[derive(Serialize, Deserialize, Default)]
struct Note {
    note: String,
}

#[tokio::test]
async fn writing_dialog_data_with_no_dialog_on_the_stack_is_an_error_not_a_lost_write() {
    let bot = Bot::builder().dialog_fn("/", async |s, _| {
        s.send("hello");
        s.end_dialog();
    });
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["hello"]);
    let before = ann.state().await;
    assert!(before.stack.is_empty(), "ann is idle");
    let r = t
        .bot
        .proactive(&ann.address)
        .with_session(|s| {
            s.dialog_data_mut().set(&Note {
                note: "remember me".into(),
            })
        })
        .await;
    assert!(matches!(r, Err(BotError::NoActiveDialog)), "{r:?}");
    assert_eq!(ann.state().await, before, "nothing was saved");
    assert!(ann.new_messages().is_empty(), "nothing was sent");
    // The same write into a bag that exists is saved.
    t.bot
        .proactive(&ann.address)
        .with_session(|s| {
            s.user_data_mut().set(&Note {
                note: "remember me".into(),
            })
        })
        .await
        .unwrap();
    assert_eq!(ann.state().await.user::<Note>().note, "remember me");
}

#[test]
fn a_bot_without_storage_or_connector_is_a_configuration_error() {
    let builder = || Bot::builder().dialog_fn("/", async |s, _| s.end_dialog());
    let no_storage = builder().connector(MockChannel::new()).build();
    assert!(matches!(no_storage, Err(BotError::Config(m)) if m.contains("storage")));
    let no_connector = builder()
        .storage(storage_memory::MemoryStorage::new())
        .build();
    assert!(matches!(no_connector, Err(BotError::Config(m)) if m.contains("connector")));
    assert!(matches!(Bot::builder().build(), Err(BotError::Config(_))));
    assert!(
        builder()
            .storage(storage_memory::MemoryStorage::new())
            .connector(MockChannel::new())
            .build()
            .is_ok()
    );
}

#[test]
fn only_failures_of_the_bots_own_dialogs_reset_the_conversation() {
    let step = BotError::Step {
        dialog: "*:/".into(),
        step: 1,
        source: "the kitchen is closed".into(),
    };
    let wrong_kind = DialogResult::completed(json!("three"))
        .number()
        .unwrap_err();
    assert!(matches!(wrong_kind, BotError::ResultKind { .. }));
    for e in [step, BotError::DialogNotFound("nope".into()), wrong_kind] {
        assert!(e.resets_conversation(), "{e:?} resets");
    }
    for e in [
        BotError::Storage(StorageError::Unavailable("down".into())),
        BotError::Delivery(DeliveryError::Unreachable("no route".into())),
        BotError::Config("no storage: call BotBuilder::storage"),
    ] {
        assert!(!e.resets_conversation(), "{e:?} does not reset");
    }
}
