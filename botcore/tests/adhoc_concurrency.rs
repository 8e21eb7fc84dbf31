//! Ad hoc sends and event replies racing a turn's messages, and ad hoc sends a step awaits.

mod support;

use botcore::{Bot, BotBuilder, EventAction, Message, MessageKind, StepError};
use std::time::Duration;
use support::SlowChannel;
use transport_mock::TestBot;

/// The three messages one turn sends, in order.
const TURN: [&str; 3] = ["one", "two", "three"];
/// How long the slow connector takes over each message.
const SLOW: Duration = Duration::from_millis(40);

/// A bot whose turn on "three" sends [`TURN`], and which answers events with one message.
fn three_at_once() -> BotBuilder {
    Bot::builder()
        .dialog_fn("/", async |s, _| {
            if s.text() == "three" {
                for text in TURN {
                    s.send(text);
                }
            }
            s.end_dialog();
        })
        .on_event(|event| EventAction::Reply(vec![Message::to(&event.address).text("event reply")]))
}

/// Asserts that `single` came before or after all of the turn's messages, never between.
#[track_caller]
fn assert_not_between_the_turns_messages(texts: &[String], single: &str) {
    let before: Vec<&str> = std::iter::once(single).chain(TURN).collect();
    let after: Vec<&str> = TURN.into_iter().chain(std::iter::once(single)).collect();
    assert!(
        texts == before.as_slice() || texts == after.as_slice(),
        "{single:?} landed between the messages of one turn: {texts:?}"
    );
}

#[tokio::test]
async fn an_ad_hoc_send_never_lands_between_the_messages_of_one_turn() {
    let t = TestBot::new(three_at_once());
    let slow = SlowChannel::new(t.channel.clone(), SLOW);
    let bot = support::bot_sending_through(&t, three_at_once(), slow.clone());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&[]);
    let (turn, ad_hoc) = tokio::join!(
        bot.receive(Message::to(&ann.address).text("three")),
        async {
            // The turn's first message is on its way: now the ad hoc one.
            slow.reached(TURN[0]).await;
            bot.send(Message::to(&ann.address).text("ad hoc")).await
        }
    );
    turn.unwrap();
    ad_hoc.unwrap();
    assert_not_between_the_turns_messages(&ann.new_texts(), "ad hoc");
}

#[tokio::test]
async fn an_event_reply_never_lands_between_the_messages_of_one_turn() {
    let t = TestBot::new(three_at_once());
    let slow = SlowChannel::new(t.channel.clone(), SLOW);
    let bot = support::bot_sending_through(&t, three_at_once(), slow.clone());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&[]);
    let (turn, event) = tokio::join!(
        bot.receive(Message::to(&ann.address).text("three")),
        async {
            slow.reached(TURN[0]).await;
            bot.receive(Message::of_kind(MessageKind::Event, &ann.address).name("ping"))
                .await
        }
    );
    turn.unwrap();
    let event = event.unwrap();
    assert!(event.deliveries.iter().all(Result::is_ok), "{event:?}");
    assert_not_between_the_turns_messages(&ann.new_texts(), "event reply");
}

#[tokio::test]
async fn a_step_awaiting_a_spawned_ad_hoc_send_to_its_own_conversation_completes() {
    let (builder, cell) = support::reachable_from_steps(Bot::builder().dialog_fn(
        "/",
        async |s, _| -> Result<(), StepError> {
            if s.text() == "spawn" {
                let bot = support::bot_of(s)?;
                let me = s.address().clone();
                let sent = tokio::spawn(async move {
                    bot.send(Message::to(&me).text("sent from a spawned task"))
                        .await
                });
                let receipt = sent.await??;
                s.send(format!(
                    "the spawned send reached {}",
                    receipt.conversation_id
                ));
            } else {
                s.send("hello");
            }
            s.end_dialog();
            Ok(())
        },
    ));
    let t = TestBot::new(builder);
    cell.set(t.bot.clone()).unwrap();
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["hello"]);
    let replies = tokio::time::timeout(Duration::from_secs(5), ann.say("spawn"))
        .await
        .expect("the step and its spawned send wait for each other");
    replies.expect(&[
        "sent from a spawned task",
        "the spawned send reached conv-ann",
    ]);
    assert!(replies.outcome.is_ok(), "{:?}", replies.error());
}
