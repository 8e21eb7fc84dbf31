//! Typed state bags across turns, through the public API and the mock channel: what a turn
//! saves, what end_conversation clears, concurrent turns that lose no update, and a storage
//! outage that loses nothing.

use botcore::{Bot, BotBuilder, BotError, MessageKind, Waterfall, prompts};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use transport_mock::TestBot;

#[tokio::test]
async fn end_conversation_says_goodbye_and_clears_conversation_state() {
    #[derive(Serialize, Deserialize, Default)]
    struct Visits {
        visits: u32,
    }
    #[derive(Serialize, Deserialize, Default)]
    struct C {
        c: u32,
    }
    #[derive(Serialize, Deserialize, Default)]
    struct P {
        p: u32,
    }
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| {
                s.user_data_mut().set(&Visits { visits: 1 })?;
                s.conversation_data_mut().set(&C { c: 1 })?;
                s.private_conversation_data_mut().set(&P { p: 1 })?;
                prompts::text(s, "Anything else?");
                Ok(())
            })
            .step(async |s, _| s.end_conversation(Some("Goodbye!"))),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await;
    assert!(
        !ann.state().await.private_data.is_empty(),
        "private data was saved"
    );
    let r = ann.say("no").await;
    r.expect(&["Goodbye!"]);
    assert_eq!(r.messages[1].kind, MessageKind::EndOfConversation);
    assert_eq!(r.messages[1].code.as_deref(), Some("completedSuccessfully"));
    let st = ann.state().await;
    assert!(st.stack.is_empty() && st.conversation_data.is_empty() && st.private_data.is_empty());
    assert_eq!(st.user::<Visits>().visits, 1);
}

#[derive(Serialize, Deserialize, Default)]
struct Count {
    count: i64,
}

fn counter_bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new().step(async |s, _| {
            let n = s.user_data_mut().update(|c: &mut Count| {
                c.count += 1;
                c.count
            })?;
            s.send(format!("count {n}"));
            s.end_dialog();
            Ok(())
        }),
    )
}

#[tokio::test]
async fn simultaneous_messages_of_one_conversation_both_count() {
    let t = TestBot::new(counter_bot());
    t.storage.set_read_delay(Duration::from_millis(30));
    let ann = t.user("ann");
    let (a, b) = tokio::join!(ann.say("one"), ann.say("two"));
    assert!(a.outcome.is_ok() && b.outcome.is_ok());
    assert_eq!(ann.state().await.user::<Count>().count, 2);
}

#[tokio::test]
async fn two_bot_processes_racing_on_one_user_lose_no_update() {
    let t1 = TestBot::new(counter_bot());
    let t2 = t1.sharing(counter_bot());
    t1.storage.set_read_delay(Duration::from_millis(30));
    let (u1, u2) = (t1.user("ann"), t2.user("ann"));
    let (a, b) = tokio::join!(u1.say("one"), u2.say("two"));
    let attempts = a.outcome.unwrap().attempts + b.outcome.unwrap().attempts;
    assert!(
        attempts >= 3,
        "one of the turns lost the compare-and-set and ran again ({attempts})"
    );
    assert_eq!(t1.user("ann").state().await.user::<Count>().count, 2);
    let mut texts: Vec<String> = t1.channel.sent().into_iter().map(|m| m.text).collect();
    texts.sort();
    assert_eq!(
        texts,
        ["count 1", "count 2"],
        "no message sent twice, none from the lost attempt"
    );
}

#[tokio::test]
async fn a_turn_that_sends_nothing_still_saves() {
    #[derive(Serialize, Deserialize, Default)]
    struct Seen {
        seen: bool,
    }
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new().step(async |s, _| {
            s.user_data_mut().set(&Seen { seen: true })?;
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let r = t.user("ann").say("psst").await;
    assert!(r.messages.is_empty());
    assert!(t.user("ann").state().await.user::<Seen>().seen);
    assert!(
        t.bot
            .proactive(&t.user("ann").address)
            .last_access()
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_storage_outage_is_a_typed_error_and_loses_nothing() {
    let t = TestBot::new(counter_bot());
    t.user("ann").say("one").await.expect(&["count 1"]);
    t.storage.set_down(true);
    let r = t.user("ann").say("two").await;
    assert!(matches!(
        r.error(),
        Some(BotError::Storage(botcore::StorageError::Unavailable(_)))
    ));
    assert!(
        r.messages.is_empty(),
        "nothing is sent for a turn that could not be saved"
    );
    t.storage.set_down(false);
    t.user("ann").say("three").await.expect(&["count 2"]);
}
