//! Regression tests: each pins a behaviour that once went wrong.
use botcore::{
    Bot, BotBuilder, BotError, DeadlineAction, Dialog, DialogResult, Message, Precondition,
    ProactiveMode, Session, StorageExt, Waterfall, json, prompts,
};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use transport_mock::{Fault, TestBot};

const SURVEY: &str = "survey!";

fn survey() -> Waterfall {
    Waterfall::new().step(|s, _| {
        if s.message().text == "done" {
            s.end_dialog_with_result(DialogResult::completed(json!("survey-done")));
        } else {
            s.send(SURVEY);
        }
        Ok(())
    })
}

// 1. A dialog error on the last allowed attempt: no reset saved, no error message, wrong error.
#[tokio::test]
async fn p01_dialog_error_with_one_attempt_still_resets() {
    let bot = Bot::builder().max_turn_attempts(1).dialog(
        "/",
        Waterfall::new()
            .step(|s, _| prompts::text(s, "Ready?"))
            .step(|_, _| Err(BotError::dialog("boom"))),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Ready?"]);
    let r = ann.say("yes").await;
    assert!(
        matches!(r.error(), Some(BotError::Dialog(_))),
        "got {:?}",
        r.error()
    );
    r.expect(&["Oops. Something went wrong and we need to start over."]);
}

// 2. Corrupt stored session state wedges the conversation forever.
#[tokio::test]
async fn p02_corrupt_session_state_is_recovered() {
    let bot = Bot::builder().dialog("/", Waterfall::new().step(|s, _| prompts::text(s, "Name?")));
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Name?"]);
    t.storage
        .write(
            "private/mock/conv-ann/ann",
            json!({"BotBuilder.Data.SessionState": {"callstack": [{"id": 7}]}}),
            Precondition::Any,
        )
        .await
        .unwrap();
    let r = ann.say("hello").await;
    assert!(
        matches!(r.error(), Some(BotError::CorruptState(_))),
        "{:?}",
        r.error()
    );
    r.expect(&["Oops. Something went wrong and we need to start over."]);
    let r = ann.say("hello").await;
    assert!(
        !r.messages.is_empty(),
        "the user never hears back: {:?}",
        r.error()
    );
}

fn booking_bot() -> BotBuilder {
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(|s, _| prompts::text(s, "Where to?"))
                .step(|s, _| {
                    s.end_conversation(Some("Booked"));
                    Ok(())
                }),
        )
        .dialog("survey", survey())
}

// 3. A WhenIdle dialog is dropped when the current dialog ends with end_conversation.
#[tokio::test]
async fn p03_when_idle_survives_end_conversation() {
    let t = TestBot::new(booking_bot());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Where to?"]);
    let mode = ProactiveMode::WhenIdle {
        idle_after: None,
        deadline: None,
        on_deadline: DeadlineAction::Interrupt,
    };
    let out = t
        .bot
        .begin_dialog(&ann.address, "*:survey", None, mode)
        .await
        .unwrap();
    assert!(out.held);
    let r = ann.say("Paris").await;
    assert!(r.texts().contains(&SURVEY), "held survey lost");
}

// 4. with_session: a flow that returns Err wipes the user's conversation and sends "Oops".
#[tokio::test]
async fn p04_with_session_error_does_not_reset_the_user() {
    let t = TestBot::new(booking_bot());
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Where to?"]);
    ann.new_messages();
    let r = t
        .bot
        .with_session(&ann.address, |_s| Err(BotError::dialog("not now")))
        .await;
    assert!(matches!(r, Err(BotError::Dialog(_))));
    assert!(ann.new_messages().is_empty(), "nothing sent");
    assert_eq!(
        ann.state().await.stack_ids(),
        ["*:/", "BotBuilder:prompt-text"]
    );
}

// 5. Address book: unreachable mark made by process B is never cleared by process A.
#[tokio::test]
async fn p05_unreachable_mark_is_cleared_when_user_writes_again() {
    let t1 = TestBot::new(booking_bot());
    let t2 = t1.sharing(booking_bot());
    let ann = t1.user("ann");
    ann.say("hi").await;
    t1.channel.fail_next_for("ann", Fault::Forbidden);
    let _ = t2
        .bot
        .send(vec![Message::to(&ann.address).text("news")])
        .await
        .unwrap();
    assert!(
        t1.bot
            .address_record(&ann.address)
            .await
            .unwrap()
            .unwrap()
            .unreachable
            .is_some()
    );
    ann.say("I unblocked you").await; // lands on process 1
    let rec = t1.bot.address_record(&ann.address).await.unwrap().unwrap();
    assert_eq!(
        rec.unreachable, None,
        "user wrote again but stays unreachable"
    );
}

// 9. cancel_dialog(Some(id)) with id not on the stack advances the current waterfall.
#[tokio::test]
async fn p09_cancel_of_a_dialog_not_on_the_stack_is_a_no_op() {
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(|s, _| {
                    if s.message().text == "cancel survey" {
                        s.cancel_dialog(Some("survey"))?;
                    } else {
                        s.send("step0");
                    }
                    Ok(())
                })
                .step(|s, r| {
                    s.send(format!("step1 reached: {:?}", r.reason));
                    Ok(())
                }),
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

// 10. A custom dialog not overriding dialog_resumed is ended when an interruption finishes.
#[tokio::test]
async fn p10_custom_dialog_survives_interrupt() {
    let bot = Bot::builder()
        .dialog("/", Counter)
        .dialog("survey", survey());
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["counting"]);
    t.bot
        .begin_dialog(&ann.address, "*:survey", None, ProactiveMode::Interrupt)
        .await
        .unwrap();
    ann.say("done").await;
    let st = ann.state().await;
    assert_eq!(st.stack_ids(), ["*:/"]);
}

// 11. An async step that starts a proactive dialog for its own conversation gets a typed
//     error instead of waiting for itself forever.
#[tokio::test]
async fn p11_a_step_beginning_a_dialog_in_its_own_conversation_gets_a_typed_error() {
    let cell: Arc<OnceLock<Bot>> = Arc::new(OnceLock::new());
    let c2 = cell.clone();
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new().step_async(move |s, _| {
                let bot = c2.get().unwrap().clone();
                let addr = s.address().clone();
                let go = s.message().text == "go";
                Box::pin(async move {
                    if !go {
                        return Ok(());
                    }
                    bot.begin_dialog(&addr, "*:survey", None, ProactiveMode::Interrupt)
                        .await?;
                    Ok(())
                })
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

// 12. Huge deadline: Duration::MAX overflows (panic in debug, wraps to "already due" in release).
#[tokio::test]
async fn p12_when_idle_with_huge_deadline() {
    let t = TestBot::new(booking_bot());
    let ann = t.user("ann");
    ann.say("hi").await;
    let mode = ProactiveMode::WhenIdle {
        idle_after: None,
        deadline: Some(Duration::MAX),
        on_deadline: DeadlineAction::Interrupt,
    };
    let out = t
        .bot
        .begin_dialog(&ann.address, "*:survey", None, mode)
        .await
        .unwrap();
    assert!(out.held);
}

// 13. State grows past the backend's size limit: every later turn fails with Storage(TooLarge),
//     nothing is reset, the user never hears back.
#[tokio::test]
async fn p13_state_over_size_limit_wedges_conversation() {
    let channel = transport_mock::MockChannel::new();
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new().step(|s, _| {
                let text = s.message().text.clone();
                let log = s
                    .private_conversation_data_mut()
                    .entry("log")
                    .or_insert(json!([]));
                log.as_array_mut().unwrap().push(json!(text));
                s.send("noted");
                Ok(())
            }),
        )
        .storage(storage_memory::MemoryStorage::new().with_max_value_bytes(2_000))
        .connector(channel.clone())
        .build()
        .unwrap();
    let addr = botcore::Address::new(
        "mock",
        botcore::ChannelAccount::new("ann"),
        botcore::ChannelAccount::new("bot"),
    )
    .with_conversation("c1")
    .with_service_url("https://x.invalid");
    let mut too_large = 0;
    for i in 0..100 {
        let r = bot
            .receive(Message::to(&addr).text(format!("message number {i:03} ........")))
            .await;
        if matches!(
            r,
            Err(BotError::Storage(botcore::StorageError::TooLarge { .. }))
        ) {
            too_large += 1;
        }
    }
    assert!(too_large >= 1, "the state did outgrow the limit");
    let before = channel.sent_len();
    bot.receive(Message::to(&addr).text("message number 999 ........"))
        .await
        .unwrap();
    assert!(channel.sent_len() > before, "user never hears back again");
}

// 14. A step in ann's conversation that begins a dialog for her manager (an approval flow)
//     does not wait for any unrelated conversation's lock.
#[tokio::test]
async fn p14_a_step_may_begin_a_dialog_for_another_conversation() {
    let cell: Arc<OnceLock<(Bot, botcore::Address)>> = Arc::new(OnceLock::new());
    let c2 = cell.clone();
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new().step_async(move |s, _| {
                let go = s.message().text == "ask my manager";
                let c = c2.clone();
                Box::pin(async move {
                    if go {
                        let (bot, mgr) = c.get().unwrap().clone();
                        bot.begin_dialog(&mgr, "*:survey", None, ProactiveMode::Interrupt)
                            .await?;
                    }
                    Ok(())
                })
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

// 15. WhenIdle idle_after never fires once a user message arrived after the hold: every
//     CheckHeld turn rewrites lastAccess, so the next check never sees the conversation idle.
#[tokio::test]
async fn p15_idle_after_fires_after_user_goes_quiet() {
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(|s, _| prompts::number(s, "How many?"))
                .step(|s, _| {
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog("survey", survey());
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["How many?"]);
    let mode = ProactiveMode::WhenIdle {
        idle_after: Some(Duration::from_secs(120)),
        deadline: None,
        on_deadline: DeadlineAction::Drop,
    };
    assert!(
        t.bot
            .begin_dialog(&ann.address, "*:survey", None, mode)
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

// 16. A job scheduled by a step is saved with the turn: a failing turn schedules nothing, a
//     committed one exactly one job, cancellable by the id the step got.
#[tokio::test]
async fn p16_jobs_scheduled_in_a_turn_are_saved_atomically_with_it() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new().step(|s, _| {
            let id = s.schedule_in(
                Duration::from_secs(60),
                botcore::proactive::scheduler::JobAction::CheckHeld,
            )?;
            s.user_data_mut().insert("job".into(), json!(id));
            if s.message().text == "fail" {
                return Err(BotError::dialog("after scheduling"));
            }
            s.end_dialog();
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("fail").await;
    assert!(
        t.bot.scheduled().await.unwrap().is_empty(),
        "the failed turn scheduled nothing"
    );
    // Two processes racing on the same user: one attempt loses the compare-and-set and
    // runs again; only committed attempts leave a job.
    let t2 = t.sharing(Bot::builder().dialog(
        "/",
        Waterfall::new().step(|s, _| {
            s.schedule_in(
                Duration::from_secs(60),
                botcore::proactive::scheduler::JobAction::CheckHeld,
            )?;
            s.end_dialog();
            Ok(())
        }),
    ));
    t.storage.set_read_delay(Duration::from_millis(30));
    let (u1, u2) = (t.user("bo"), t2.user("bo"));
    let (a, b) = tokio::join!(u1.say("one"), u2.say("two"));
    t.storage.set_read_delay(Duration::ZERO);
    let attempts = a.outcome.unwrap().attempts + b.outcome.unwrap().attempts;
    assert!(attempts >= 3, "a conflict happened ({attempts})");
    assert_eq!(
        t.bot.scheduled().await.unwrap().len(),
        2,
        "one job per committed turn"
    );
    let id = ann.state().await.user_data.get("job").cloned();
    assert_eq!(id, None, "the failed turn's user data was not saved either");
    let bo = t.user("bo").state().await;
    let id = bo.user_data["job"].as_str().unwrap().to_owned();
    assert!(t.bot.cancel_scheduled(&id).await.unwrap());
}
