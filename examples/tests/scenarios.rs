//! Every example bot, driven through the mock channel.

use botcore::{Address, BotError};
use examples::{notification, reminder, standup, survey};
use std::time::Duration;
use transport_mock::TestBot;

#[tokio::test]
async fn the_survey_interrupts_after_five_seconds_and_done_resumes_the_order() {
    let t = TestBot::new(survey::bot(Some(
        "http://127.0.0.1:3978/api/CustomWebApi".into(),
    )));
    let you = t.user("you");
    you.say("hi").await.expect(&[
        survey::ANNOUNCE,
        "You can also make me send a message by accessing: http://127.0.0.1:3978/api/CustomWebApi",
        "Which size? (1. small, 2. medium, or 3. large)",
    ]);
    you.say("large").await.expect(&["Which topping?"]);
    assert_eq!(t.advance(Duration::from_secs(4)).await, 0, "not yet");
    assert_eq!(
        t.advance(Duration::from_secs(1)).await,
        1,
        "the survey job fires at five seconds"
    );
    assert_eq!(you.new_texts(), [survey::SURVEY]);
    you.say("meh").await.expect(&[survey::SURVEY]);
    you.say("done")
        .await
        .expect(&[survey::BACK, "Which topping?"]);
    you.say("cheese").await.expect(&[
        "Your order: a large pizza with cheese.",
        "Thanks! Say anything to order again.",
    ]);
    assert!(you.state().await.stack.is_empty());
}

#[tokio::test]
async fn the_notification_goes_to_the_address_saved_on_first_contact() {
    let t = TestBot::new(notification::bot());
    let ann = t.user("ann");
    ann.say("hi")
        .await
        .expect(&["Hi! I saved your address and will send you a notification."]);
    let saved: Address = t.bot.address_book().all().await.unwrap().pop().unwrap();
    assert_eq!(saved.user.id, "ann");
    // The saved address round-trips through JSON (v3 shape), as an app would store it.
    let saved: Address = serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    let receipt = notification::notify(&t.bot, &saved, notification::NOTIFICATION)
        .await
        .unwrap();
    assert_eq!(receipt.conversation_id, "conv-ann");
    assert_eq!(ann.new_texts(), [notification::NOTIFICATION]);
    // Nobody is contacted who never talked to the bot.
    let stranger = t.user("stranger").address;
    assert!(matches!(
        notification::notify(&t.bot, &stranger, "hi").await,
        Err(BotError::NotConsented { .. })
    ));
}

#[tokio::test]
async fn the_standup_fans_out_to_every_member_and_collects_the_report() {
    let t = TestBot::new(standup::bot());
    let members: Vec<_> = ["ann", "bo", "cy"].iter().map(|u| t.user(u)).collect();
    for m in &members {
        m.say("hi").await;
        m.new_messages();
    }
    let addresses: Vec<Address> = members.iter().map(|m| m.address.clone()).collect();
    let results = standup::start(&t.bot, addresses.clone()).await;
    assert!(results.iter().all(|r| r.result.is_ok()));
    for m in &members {
        assert_eq!(m.new_texts(), [standup::YESTERDAY]);
    }
    let [ann, bo, cy] = &members[..] else {
        unreachable!()
    };
    bo.say("reviews").await.expect(&[standup::TODAY]);
    ann.say("shipped 1.0").await.expect(&[standup::TODAY]);
    cy.say("on call").await.expect(&[standup::TODAY]);
    ann.say("planning")
        .await
        .expect(&["Thanks, that's all for today."]);
    let partial = standup::report(&t.bot, &addresses).await.unwrap();
    assert_eq!(
        partial[1].answers.today, None,
        "bo has not answered the second question yet"
    );
    cy.say("sleep").await;
    bo.say("more reviews").await;
    let report = standup::report(&t.bot, &addresses).await.unwrap();
    let lines: Vec<(String, String, String)> = report
        .into_iter()
        .map(|e| {
            (
                e.user,
                e.answers.yesterday.unwrap(),
                e.answers.today.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("ann".into(), "shipped 1.0".into(), "planning".into()),
            ("bo".into(), "reviews".into(), "more reviews".into()),
            ("cy".into(), "on call".into(), "sleep".into()),
        ]
    );
}

#[tokio::test]
async fn a_reminder_survives_a_restart() {
    let t = TestBot::new(reminder::bot());
    let ann = t.user("ann");
    ann.say("remind me to stretch")
        .await
        .expect(&["OK, I'll remind you in a minute."]);
    // The process that took the request is gone; a new one shares the storage.
    let restarted = t.sharing(reminder::bot());
    assert_eq!(restarted.advance(reminder::DELAY).await, 1);
    assert_eq!(ann.new_texts(), ["Reminder: to stretch"]);
    assert_eq!(restarted.advance(reminder::DELAY).await, 0, "fires once");
}

#[tokio::test]
async fn the_console_adapter_runs_the_demo_bot() {
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let out = Buf::default();
    let bot = survey::bot(None)
        .connector(examples::console::ConsoleConnector::to_writer(Box::new(
            out.clone(),
        )))
        .storage(storage_memory::MemoryStorage::new())
        .build()
        .unwrap();
    let input: &[u8] = b"hi\nlarge\ncheese\n";
    examples::console::run(&bot, input).await.unwrap();
    let printed = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        printed.contains(&format!("bot> {}", survey::ANNOUNCE)),
        "{printed}"
    );
    assert!(
        printed.contains("bot> Your order: a large pizza with cheese."),
        "{printed}"
    );
}
