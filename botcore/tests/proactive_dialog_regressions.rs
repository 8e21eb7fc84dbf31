//! Regression tests of proactive dialogs and the dialogs they meet: WhenIdle holds,
//! with_session, steps that begin proactive dialogs, interruptions and cancels on the stack,
//! the address book. Each pins a behaviour that once went wrong (the comment above each test
//! says how).

use botcore::{
    Address, Bot, BotBuilder, BotError, Dialog, Message, Session, Waterfall, WhenIdle, prompts,
};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use transport_mock::{Fault, TestBot};

const SURVEY: &str = "survey!";

fn survey() -> Waterfall {
    Waterfall::new().step(async |s, _| {
        if s.text() == "done" {
            s.end_dialog_with(&"survey-done");
        } else {
            s.send(SURVEY);
        }
    })
}

/// Something a step needs that exists only once the bot is built (the bot itself, another
/// user's address): shared with the steps through `BotBuilder::app_data`, filled in later.
#[derive(Debug)]
struct Later<T>(Arc<OnceLock<T>>);

impl<T> Later<T> {
    fn new() -> (Self, Arc<OnceLock<T>>) {
        let cell = Arc::new(OnceLock::new());
        (Self(cell.clone()), cell)
    }
}

fn booking_bot() -> BotBuilder {
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| prompts::text(s, "Where to?"))
                .step(async |s, _| s.end_conversation(Some("Booked"))),
        )
        .dialog("survey", survey())
}

// A WhenIdle dialog used to be dropped when the current dialog ended with end_conversation.
#[tokio::test]
async fn a_when_idle_dialog_held_before_end_conversation_still_runs() {
    let t = TestBot::new(booking_bot());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Where to?"]);
    let out = t
        .bot
        .proactive(&ann.address)
        .begin("*:survey")
        .when_idle(WhenIdle::stack_empty())
        .await
        .unwrap();
    assert!(out.held);
    let r = ann.say("Paris").await;
    assert!(r.texts().contains(&SURVEY), "held survey lost");
}

// with_session: a flow that returned Err used to wipe the user's conversation and send "Oops".
#[tokio::test]
async fn a_failing_with_session_flow_changes_nothing_and_sends_nothing() {
    let t = TestBot::new(booking_bot());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Where to?"]);
    ann.new_messages();
    let r = t
        .bot
        .proactive(&ann.address)
        .with_session(|_s| Err(BotError::dialog("not now")))
        .await;
    assert!(matches!(r, Err(BotError::Dialog(_))));
    assert!(ann.new_messages().is_empty(), "nothing sent");
    assert_eq!(
        ann.state().await.stack_ids(),
        ["*:/", "BotBuilder:prompt-text"]
    );
}

// Address book: an unreachable mark made by process B was never cleared by process A.
#[tokio::test]
async fn an_unreachable_mark_set_by_another_process_is_cleared_when_the_user_writes_again() {
    let t1 = TestBot::new(booking_bot());
    let t2 = t1.sharing(booking_bot());
    let ann = t1.user("ann");
    ann.say("hi").await;
    t1.channel.fail_next_for("ann", Fault::Forbidden);
    let _ = t2
        .bot
        .send_all(vec![Message::to(&ann.address).text("news")])
        .await
        .unwrap();
    assert!(
        t1.bot
            .address_book()
            .get(&ann.address)
            .await
            .unwrap()
            .unwrap()
            .unreachable
            .is_some()
    );
    ann.say("I unblocked you").await; // lands on process 1
    let rec = t1
        .bot
        .address_book()
        .get(&ann.address)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.unreachable, None,
        "user wrote again but stays unreachable"
    );
}

// Canceling a dialog that is not on the stack used to advance the current waterfall.
#[tokio::test]
async fn canceling_a_dialog_that_is_not_on_the_stack_changes_nothing() {
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| {
                    if s.text() == "cancel survey" {
                        s.cancel_dialog_id("survey");
                    } else {
                        s.send("step0");
                    }
                })
                .step(async |s, r| s.send(format!("step1 reached: {:?}", r.reason))),
        )
        .dialog("survey", survey());
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["step0"]);
    let r = ann.say("cancel survey").await;
    assert!(r.texts().is_empty());
}

#[derive(Debug)]
struct Counter;
#[async_trait::async_trait]
impl Dialog for Counter {
    async fn begin(&self, s: &mut Session, _a: Option<botcore::Value>) -> Result<(), BotError> {
        s.send("counting");
        Ok(())
    }
    async fn reply_received(&self, s: &mut Session) -> Result<(), BotError> {
        s.send("counted");
        Ok(())
    }
}

// A custom dialog not overriding dialog_resumed used to be ended when an interruption finished.
#[tokio::test]
async fn a_custom_dialog_without_dialog_resumed_survives_an_interruption() {
    let bot = Bot::builder()
        .dialog("/", Counter)
        .dialog("survey", survey());
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["counting"]);
    t.bot
        .proactive(&ann.address)
        .begin("*:survey")
        .interrupt()
        .await
        .unwrap();
    ann.say("done").await;
    let st = ann.state().await;
    assert_eq!(st.stack_ids(), ["*:/"]);
}

// An async step that started a proactive dialog for its own conversation used to wait for
// itself forever; now it gets a typed error.
#[tokio::test]
async fn a_step_beginning_a_proactive_dialog_in_its_own_conversation_gets_a_typed_error() {
    let (later, cell) = Later::<Bot>::new();
    let bot = Bot::builder()
        .app_data(later)
        .dialog(
            "/",
            Waterfall::new().step(async |s, _| {
                if s.text() != "go" {
                    return Ok(());
                }
                let bot = s.app_data::<Later<Bot>>()?.0.get().unwrap().clone();
                let addr = s.address().clone();
                bot.proactive(&addr).begin("*:survey").interrupt().await?;
                Ok(())
            }),
        )
        .dialog("survey", survey());
    let t = TestBot::new(bot);
    cell.set(t.bot.clone()).unwrap();
    let ann = t.user("ann");
    ann.say("hi").await; // now in the address book
    let r = tokio::time::timeout(Duration::from_secs(2), ann.say("go")).await;
    let r = r.expect("deadlock: the turn never finished");
    assert!(
        matches!(r.error(), Some(BotError::Reentrant(_))),
        "{:?}",
        r.error()
    );
}

// A WhenIdle deadline of Duration::MAX used to overflow (a panic in debug builds, "already
// due" in release builds).
#[tokio::test]
async fn a_when_idle_deadline_of_duration_max_does_not_overflow() {
    let t = TestBot::new(booking_bot());
    let ann = t.user("ann");
    ann.say("hi").await;
    let out = t
        .bot
        .proactive(&ann.address)
        .begin("*:survey")
        .when_idle(WhenIdle::deadline(Duration::MAX))
        .await
        .unwrap();
    assert!(out.held);
}

// A step in ann's conversation that begins a dialog for her manager (an approval flow) must
// not wait for any unrelated conversation's lock.
#[tokio::test]
async fn a_step_may_begin_a_proactive_dialog_for_another_conversation() {
    let (later, cell) = Later::<(Bot, Address)>::new();
    let bot = Bot::builder()
        .app_data(later)
        .dialog(
            "/",
            Waterfall::new().step(async |s, _| {
                if s.text() == "ask my manager" {
                    let (bot, mgr) = s
                        .app_data::<Later<(Bot, Address)>>()?
                        .0
                        .get()
                        .unwrap()
                        .clone();
                    bot.proactive(&mgr).begin("*:survey").interrupt().await?;
                }
                Ok(())
            }),
        )
        .dialog("survey", survey());
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    let mgr = t.user("mgr");
    mgr.say("hi").await;
    ann.say("hi").await;
    mgr.new_messages();
    cell.set((t.bot.clone(), mgr.address.clone())).unwrap();
    let r = tokio::time::timeout(Duration::from_secs(2), ann.say("ask my manager")).await;
    assert!(r.expect("no deadlock").error().is_none());
    assert_eq!(mgr.new_texts(), [SURVEY]);
}

// WhenIdle's idle_after used to never fire once a user message arrived after the hold: every
// CheckHeld turn rewrote lastAccess, so the next check never saw the conversation idle.
#[tokio::test]
async fn idle_after_fires_once_the_user_goes_quiet_after_the_hold() {
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| prompts::number(s, "How many?"))
                .step(async |s, _| s.end_dialog()),
        )
        .dialog("survey", survey());
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["How many?"]);
    let when = WhenIdle::stack_empty()
        .or_idle_for(Duration::from_secs(120))
        .drop_at_deadline();
    assert!(
        t.bot
            .proactive(&ann.address)
            .begin("*:survey")
            .when_idle(when)
            .await
            .unwrap()
            .held
    );
    t.advance(Duration::from_secs(60)).await;
    ann.say("lots").await; // still in the prompt, stack not empty
    ann.new_messages();
    for _ in 0..100 {
        t.advance(Duration::from_secs(30)).await; // 50 minutes, user silent
    }
    assert_eq!(
        ann.new_texts(),
        [SURVEY],
        "user silent for 50 min, survey never started"
    );
}
