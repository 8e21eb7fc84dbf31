//! A dialog step that starts a turn of its own conversation and waits for it: that wait could
//! never end, so botcore refuses it (the same task) or bounds it (a spawned task) instead of
//! hanging, and tells conversations apart exactly.

use botcore::{Bot, BotError, Session};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use transport_mock::TestBot;

/// What the steps need: the bot itself (set after it is built) and how to call it.
#[derive(Default)]
struct Setup {
    bot: OnceLock<Bot>,
    spawned: bool,
    /// Begin the survey for this user instead of the one writing.
    other_user: Option<String>,
}

async fn begin_survey(s: &mut Session) -> Result<(), BotError> {
    if s.text() != "go" {
        s.send("hello");
        s.end_dialog();
        return Ok(());
    }
    let setup = s.app_data::<Setup>()?;
    let bot = setup.bot.get().cloned().expect("bot set after build");
    let mut address = s.address().without_reply();
    if let Some(other) = &setup.other_user {
        address.user.id = other.clone();
        address.conversation.as_mut().expect("conversation").id = format!("conv-{other}");
    }
    let begin = async move { bot.proactive(&address).begin("survey").interrupt().await };
    let begun = if setup.spawned {
        tokio::spawn(begin).await.expect("task ran")
    } else {
        begin.await
    };
    s.send(match begun {
        Ok(_) => "begun".to_owned(),
        Err(BotError::Busy { .. }) => "busy".to_owned(),
        Err(BotError::Reentrant(_)) => "reentrant".to_owned(),
        Err(e) => format!("unexpected: {e}"),
    });
    s.end_dialog();
    Ok(())
}

fn test_bot(setup: Setup) -> TestBot {
    let setup = Arc::new(setup);
    let builder = Bot::builder()
        .proactive_wait(Duration::from_secs(2))
        .app_data_arc(setup.clone())
        .dialog_fn("/", async |s, _| -> Result<(), botcore::StepError> {
            begin_survey(s).await?;
            Ok(())
        })
        .dialog_fn("survey", async |s, _| s.send("survey"));
    let test = TestBot::new(builder);
    setup.bot.set(test.bot.clone()).ok();
    test
}

#[tokio::test(start_paused = true)]
async fn a_step_awaiting_a_proactive_dialog_of_its_own_conversation_is_refused_at_once() {
    let test = test_bot(Setup::default());
    test.user("ann").say("hi").await.expect(&["hello"]);
    let replies = tokio::time::timeout(Duration::from_secs(60), test.user("ann").say("go"))
        .await
        .expect("the turn finished");
    replies.expect(&["reentrant"]);
}

#[tokio::test(start_paused = true)]
async fn a_step_awaiting_a_spawned_proactive_dialog_of_its_own_conversation_gets_busy_not_a_deadlock()
 {
    let test = test_bot(Setup {
        spawned: true,
        ..Setup::default()
    });
    test.user("ann").say("hi").await.expect(&["hello"]);
    let replies = tokio::time::timeout(Duration::from_secs(60), test.user("ann").say("go"))
        .await
        .expect("the turn finished instead of waiting for itself");
    replies.expect(&["busy"]);
    // Nothing of the refused dialog was saved: the stack is empty, the survey never ran.
    assert!(test.user("ann").state().await.stack.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_step_may_await_a_proactive_dialog_of_another_conversation() {
    let test = test_bot(Setup {
        other_user: Some("bob".into()),
        ..Setup::default()
    });
    test.user("bob").say("hello").await; // bob wrote once: his address is known
    let bob = test.user("bob");
    bob.new_texts();
    test.user("ann").say("go").await.expect(&["begun"]);
    assert_eq!(bob.new_texts(), ["survey"]);
}
