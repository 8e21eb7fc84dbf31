//! What the fan-out journal promises: one write per batch, final failures stay final, two
//! processes running one job message everyone once, and a dialog fan-out begins its dialog
//! once.

mod support;

use botcore::proactive::fanout::{FanOutAction, FanOutOptions, RecipientStatus};
use botcore::{BotError, Message};
use std::time::Duration;
use support::fanout::{news, progress, progress_of};
use support::{SURVEY_QUESTION, received, survey_bot, users_who_wrote};
use transport_mock::{Fault, TestBot};

#[tokio::test]
async fn progress_is_written_once_per_batch_not_once_per_recipient() {
    let t = TestBot::new(survey_bot());
    let all = users_who_wrote(&t, 40).await;
    let writes = t.storage.writes();
    let options = FanOutOptions {
        concurrency: 4,
        batch: 10,
        ..Default::default()
    };
    let results = t
        .bot
        .fan_out(all.clone(), news())
        .options(options)
        .resumable("news-4")
        .await;
    assert!(results.iter().all(|r| r.result.is_ok()));
    // Per batch of ten: one claim, then one record of outcomes.
    assert_eq!(t.storage.writes() - writes, 4 * 2);
    let writes = t.storage.writes();
    t.bot
        .fan_out(all.clone(), news())
        .options(options)
        .resumable("news-4")
        .await;
    assert_eq!(t.storage.writes(), writes, "a finished job writes nothing");
    assert_eq!(received(&t, &all, "news"), [1; 40]);
}

#[tokio::test]
async fn permanent_failures_and_unreachable_addresses_are_final_retry_safe_ones_are_not() {
    let t = TestBot::new(survey_bot());
    let all = users_who_wrote(&t, 4).await;
    // u00 blocked the bot earlier: the address book marks the address unreachable.
    t.channel.fail_next_for("u00", Fault::Forbidden);
    let r = t.bot.send(Message::to(&all[0]).text("x")).await;
    assert!(matches!(r, Err(BotError::Delivery(_))), "{r:?}");
    t.channel.fail_next_for("u01", Fault::Forbidden);
    t.channel.fail_next_for("u02", Fault::Unreachable);
    let refused = t.channel.failed().len();

    let first = t
        .bot
        .fan_out(all.clone(), news())
        .concurrency(2)
        .resumable("news-5")
        .await;
    let outcome: Vec<Option<bool>> = first
        .iter()
        .map(|r| match &r.result {
            Ok(_) => None,
            Err(BotError::Delivery(e)) => Some(e.is_permanent()),
            Err(e) => panic!("unexpected {e}"),
        })
        .collect();
    assert_eq!(outcome, [Some(true), Some(true), Some(false), None]);
    assert_eq!(
        t.channel.failed().len(),
        refused + 2,
        "the unreachable address was not attempted"
    );
    assert_eq!(progress(&t.bot, "news-5").await, progress_of(4, 1, 2, 0));

    let second = t
        .bot
        .fan_out(all.clone(), news())
        .concurrency(2)
        .resumable("news-5")
        .await;
    assert!(matches!(
        second[0].earlier,
        Some(RecipientStatus::Failed {
            retryable: false,
            ..
        })
    ));
    assert!(second[2].earlier.is_none() && second[2].result.is_ok());
    assert_eq!(received(&t, &all, "news"), [0, 0, 1, 1]);
    assert_eq!(progress(&t.bot, "news-5").await, progress_of(4, 2, 2, 0));
}

#[tokio::test]
async fn two_processes_running_the_same_job_at_once_message_everyone_once() {
    let t = TestBot::new(survey_bot());
    let all = users_who_wrote(&t, 30).await;
    let other = t.sharing(survey_bot());
    // Slow writes make the two runs interleave.
    t.storage.set_write_delay(Duration::from_millis(2));
    let options = FanOutOptions {
        concurrency: 3,
        batch: 4,
        ..Default::default()
    };
    let (a, b) = tokio::join!(
        t.bot
            .fan_out(all.clone(), news())
            .options(options)
            .resumable("news-6"),
        other
            .bot
            .fan_out(all.clone(), news())
            .options(options)
            .resumable("news-6"),
    );
    let sent_by = |rs: &[botcore::proactive::fanout::FanOutResult]| {
        rs.iter()
            .filter(|r| r.earlier.is_none() && r.result.is_ok())
            .count()
    };
    assert_eq!(received(&t, &all, "news"), [1; 30]);
    assert_eq!(sent_by(&a) + sent_by(&b), 30);
    assert!(sent_by(&a) > 0 && sent_by(&b) > 0, "both runs took part");
    assert_eq!(progress(&t.bot, "news-6").await, progress_of(30, 30, 0, 0));
}

#[tokio::test]
async fn a_resumable_dialog_fan_out_begins_the_dialog_once_and_reports_duplicates() {
    let t = TestBot::new(survey_bot());
    let all = users_who_wrote(&t, 3).await;
    let survey = FanOutAction::dialog("*:survey");
    let mut twice = all.clone();
    twice.push(all[1].clone());
    let first = t
        .bot
        .fan_out(twice, survey.clone())
        .concurrency(2)
        .resumable("survey-1")
        .await;
    assert_eq!(first.len(), 4);
    assert!(first[..3].iter().all(|r| r.result.is_ok()));
    assert!(matches!(first[3].result, Err(BotError::InvalidAddress(_))));
    let again = t
        .bot
        .fan_out(all.clone(), survey)
        .concurrency(2)
        .resumable("survey-1")
        .await;
    assert!(
        again
            .iter()
            .all(|r| r.earlier == Some(RecipientStatus::Done))
    );
    assert_eq!(received(&t, &all, SURVEY_QUESTION), [1, 1, 1]);
    for a in &all {
        let session = t.bot.proactive(a).load_session().await.unwrap();
        let surveys = session.stack().iter().filter(|f| f.id == "*:survey");
        assert_eq!(surveys.count(), 1, "the survey is on the stack once");
    }
    assert_eq!(t.bot.fan_out_progress("unknown").await.unwrap(), None);
}
