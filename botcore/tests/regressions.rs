//! Regression tests of turns and state: each pins a behaviour that once went wrong (the
//! comment above each test says how).

mod common;

use botcore::{
    Address, Bot, BotError, JobAction, Message, Precondition, StorageExt, Waterfall, json, prompts,
};
use common::assert_v3_reset;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use transport_mock::TestBot;

// A dialog error on the last allowed attempt used to save no reset, send no error message and
// return the wrong error.
#[tokio::test]
async fn a_failing_step_on_the_only_allowed_attempt_still_resets_like_v3() {
    let bot = Bot::builder().max_turn_attempts(1).dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::text(s, "Ready?"))
            .step(async |_, _| {
                Err(BotError::dialog("boom"))?;
                Ok(())
            }),
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
    assert_v3_reset(&r);
    assert!(ann.state().await.stack.is_empty(), "the reset was saved");
}

// Corrupt stored session state used to wedge the conversation forever.
#[tokio::test]
async fn corrupt_stored_session_state_is_reset_and_the_user_hears_back() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new().step(async |s, _| prompts::text(s, "Name?")),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["Name?"]);
    // The stored shape v3 uses for the session state, with a frame that is not one.
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
    assert_v3_reset(&r);
    let r = ann.say("hello").await;
    assert!(
        !r.messages.is_empty(),
        "the user never hears back: {:?}",
        r.error()
    );
}

#[derive(Serialize, Deserialize, Default)]
struct Transcript {
    log: Vec<String>,
}

// State that grew past the backend's size limit used to make every later turn fail with
// Storage(TooLarge): nothing was reset and the user never heard back.
#[tokio::test]
async fn state_over_the_storage_size_limit_resets_instead_of_wedging_the_conversation() {
    let channel = transport_mock::MockChannel::new();
    let bot = Bot::builder()
        .dialog(
            "/",
            Waterfall::new().step(async |s, _| {
                let text = s.text().to_owned();
                s.private_conversation_data_mut()
                    .update(|t: &mut Transcript| t.log.push(text))?;
                s.send("noted");
                Ok(())
            }),
        )
        .storage(storage_memory::MemoryStorage::new().with_max_value_bytes(2_000))
        .connector(channel.clone())
        .build()
        .unwrap();
    let addr = Address::new(
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

#[derive(Serialize, Deserialize, Default)]
struct ScheduledJob {
    job: Option<String>,
}

// A job scheduled by a step must be saved with the turn: a failing turn schedules nothing, a
// committed one exactly one job, cancellable by the id the step got.
#[tokio::test]
async fn jobs_scheduled_in_a_turn_are_saved_atomically_with_it() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new().step(async |s, _| {
            let id = s.schedule_in(Duration::from_secs(60), JobAction::CheckHeld)?;
            s.user_data_mut().set(&ScheduledJob { job: Some(id) })?;
            if s.text() == "fail" {
                Err(BotError::dialog("after scheduling"))?;
            }
            s.end_dialog();
            Ok(())
        }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("fail").await;
    assert!(
        t.bot.scheduler().jobs().await.unwrap().is_empty(),
        "the failed turn scheduled nothing"
    );
    // Two processes racing on the same user: one attempt loses the compare-and-set and
    // runs again; only committed attempts leave a job.
    let t2 = t.sharing(Bot::builder().dialog(
        "/",
        Waterfall::new().step(async |s, _| {
            s.schedule_in(Duration::from_secs(60), JobAction::CheckHeld)?;
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
        t.bot.scheduler().jobs().await.unwrap().len(),
        2,
        "one job per committed turn"
    );
    let id = ann.state().await.user::<ScheduledJob>().job;
    assert_eq!(id, None, "the failed turn's user data was not saved either");
    let id = t
        .user("bo")
        .state()
        .await
        .user::<ScheduledJob>()
        .job
        .expect("bo's turn saved the job id");
    assert!(t.bot.scheduler().cancel(&id).await.unwrap());
}
