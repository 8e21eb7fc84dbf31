//! Resumable fan-outs: progress journaled in storage, crashes, resumption, nobody twice.

use async_trait::async_trait;
use botcore::proactive::fanout::{FanOutAction, FanOutOptions, FanOutProgress, RecipientStatus};
use botcore::{
    Address, Bot, BotBuilder, BotError, Connector, DeliveryError, Message, ProactiveMode, Receipt,
    Waterfall, prompts,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use storage_memory::MemoryStorage;
use tokio::sync::Notify;
use transport_mock::{Fault, FaultyStorage, MockChannel, TestBot};

fn bot() -> BotBuilder {
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new().step(|s, _| {
                s.end_dialog();
                Ok(())
            }),
        )
        .dialog(
            "survey",
            Waterfall::new()
                .step(|s, _| prompts::text(s, "How was your day?"))
                .step(|s, _| {
                    s.end_dialog();
                    Ok(())
                }),
        )
}

fn news() -> FanOutAction {
    FanOutAction::Message(Message::default().text("news"))
}

/// What happens once the first `after` sends went through.
#[derive(Clone, Copy, Debug)]
enum Then {
    /// Every later send fails (connection refused: nothing delivered).
    Refuse,
    /// The storage goes down right after send number `after` was delivered.
    StorageDown,
    /// Send number `after + 1` never returns (the process is about to die).
    Hang,
}

/// A connector in front of the mock channel that misbehaves after `after` sends.
#[derive(Clone, Debug)]
struct Gate {
    channel: MockChannel,
    storage: FaultyStorage<MemoryStorage>,
    sends: Arc<AtomicUsize>,
    after: usize,
    then: Then,
    hung: Arc<Notify>,
}

#[async_trait]
impl Connector for Gate {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        let n = self.sends.fetch_add(1, Ordering::SeqCst) + 1;
        match self.then {
            Then::Refuse if n > self.after => Err(DeliveryError::Unreachable("refused".into())),
            Then::Hang if n > self.after => {
                self.hung.notify_one();
                std::future::pending().await
            }
            Then::StorageDown if n == self.after => {
                let r = self.channel.send(message).await;
                self.storage.set_down(true);
                r
            }
            _ => self.channel.send(message).await,
        }
    }

    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        self.channel.start_conversation(address).await
    }
}

/// A test bot whose users all wrote once, and a second bot (same storage, channel and clock)
/// whose sends go through a [`Gate`].
fn setup(after: usize, then: Then) -> (TestBot, Bot, Gate) {
    let t = TestBot::new(bot());
    let gate = Gate {
        channel: t.channel.clone(),
        storage: t.storage.clone(),
        sends: Arc::default(),
        after,
        then,
        hung: Arc::default(),
    };
    let gated = bot()
        .connector(gate.clone())
        .storage(t.storage.clone())
        .clock(t.clock.clone())
        .build()
        .unwrap();
    (t, gated, gate)
}

async fn users(t: &TestBot, n: usize) -> Vec<Address> {
    let mut out = Vec::new();
    for i in 0..n {
        let u = t.user(&format!("u{i:02}"));
        u.say("hi").await;
        out.push(u.address);
    }
    out
}

/// How many times each recipient got `text`.
fn received(t: &TestBot, addresses: &[Address], text: &str) -> Vec<usize> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for m in t.channel.sent().into_iter().filter(|m| m.text == text) {
        *count.entry(m.address.user.id).or_default() += 1;
    }
    addresses
        .iter()
        .map(|a| count.get(&a.user.id).copied().unwrap_or(0))
        .collect()
}

async fn progress(bot: &Bot, job: &str) -> FanOutProgress {
    bot.fan_out_progress(job).await.unwrap().unwrap()
}

fn progress_of(total: usize, done: usize, failed: usize, in_doubt: usize) -> FanOutProgress {
    FanOutProgress {
        total,
        done,
        failed,
        in_doubt,
        pending: total - done - failed - in_doubt,
    }
}

#[tokio::test]
async fn failures_mid_way_are_retried_by_the_next_run_and_everyone_gets_one_message() {
    let (t, gated, _) = setup(4, Then::Refuse);
    let all = users(&t, 10).await;
    let options = FanOutOptions {
        concurrency: 2,
        batch: 3,
        ..Default::default()
    };
    let first = gated
        .fan_out_resumable_with("news-1", all.clone(), news(), options)
        .await;
    let ok = first.iter().filter(|r| r.result.is_ok()).count();
    assert_eq!(ok, 4);
    assert!(first.iter().all(|r| r.earlier.is_none()));
    assert_eq!(progress(&t.bot, "news-1").await, progress_of(10, 4, 0, 0));

    // The same job again, on a healthy connector.
    let second = t
        .bot
        .fan_out_resumable("news-1", all.clone(), news(), 2)
        .await;
    let skipped: Vec<bool> = second.iter().map(|r| r.earlier.is_some()).collect();
    let first_ok: Vec<bool> = first.iter().map(|r| r.result.is_ok()).collect();
    assert_eq!(skipped, first_ok, "exactly those done before are skipped");
    assert!(second.iter().all(|r| r.result.is_ok()));
    assert!(
        second
            .iter()
            .filter_map(|r| r.earlier.as_ref())
            .all(|e| *e == RecipientStatus::Done)
    );
    assert_eq!(received(&t, &all, "news"), [1; 10]);
    assert_eq!(progress(&t.bot, "news-1").await, progress_of(10, 10, 0, 0));

    // A finished job sends nothing more.
    let third = t
        .bot
        .fan_out_resumable("news-1", all.clone(), news(), 2)
        .await;
    assert!(
        third
            .iter()
            .all(|r| r.earlier == Some(RecipientStatus::Done))
    );
    assert_eq!(received(&t, &all, "news"), [1; 10]);
}

#[tokio::test]
async fn a_storage_outage_mid_way_then_a_resume_messages_everyone_exactly_once() {
    let (t, gated, _) = setup(4, Then::StorageDown);
    let all = users(&t, 10).await;
    let options = FanOutOptions {
        concurrency: 1,
        batch: 1,
        ..Default::default()
    };
    let first = gated
        .fan_out_resumable_with("news-2", all.clone(), news(), options)
        .await;
    let ok: Vec<bool> = first.iter().map(|r| r.result.is_ok()).collect();
    assert_eq!(
        ok,
        [
            true, true, true, true, false, false, false, false, false, false
        ]
    );
    assert!(matches!(first[4].result, Err(BotError::Storage(_))));
    assert_eq!(received(&t, &all, "news"), [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);

    t.storage.set_down(false);
    // The 4th was delivered but its outcome could not be written: in doubt, not re-sent.
    assert_eq!(progress(&t.bot, "news-2").await, progress_of(10, 3, 0, 1));
    let second = t
        .bot
        .fan_out_resumable("news-2", all.clone(), news(), 1)
        .await;
    let earlier: Vec<Option<RecipientStatus>> = second.iter().map(|r| r.earlier.clone()).collect();
    assert_eq!(
        earlier[..4],
        [
            Some(RecipientStatus::Done),
            Some(RecipientStatus::Done),
            Some(RecipientStatus::Done),
            Some(RecipientStatus::InDoubt),
        ]
    );
    assert!(earlier[4..].iter().all(Option::is_none));
    assert_eq!(
        received(&t, &all, "news"),
        [1; 10],
        "every recipient exactly once"
    );
    assert_eq!(progress(&t.bot, "news-2").await, progress_of(10, 9, 0, 1));
}

#[tokio::test]
async fn a_crash_mid_batch_leaves_that_batch_in_doubt_and_nobody_is_messaged_twice() {
    let (t, gated, gate) = setup(5, Then::Hang);
    let all = users(&t, 10).await;
    let options = FanOutOptions {
        concurrency: 1,
        batch: 4,
        ..Default::default()
    };
    // The process dies while the 6th send is in flight: the fan-out is dropped mid-way.
    tokio::select! {
        _ = gated.fan_out_resumable_with("news-3", all.clone(), news(), options) => {
            panic!("the 6th send never returns")
        }
        _ = gate.hung.notified() => {}
    }
    assert_eq!(received(&t, &all, "news"), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    // Batch 1 (recipients 0-3) was recorded; batch 2 (4-7) was claimed, not recorded.
    assert_eq!(progress(&t.bot, "news-3").await, progress_of(10, 4, 0, 4));

    let resumed = t
        .bot
        .fan_out_resumable("news-3", all.clone(), news(), 4)
        .await;
    let in_doubt: Vec<bool> = resumed
        .iter()
        .map(|r| r.earlier == Some(RecipientStatus::InDoubt))
        .collect();
    assert_eq!(
        in_doubt,
        [
            false, false, false, false, true, true, true, true, false, false
        ]
    );
    assert_eq!(
        received(&t, &all, "news"),
        [1, 1, 1, 1, 1, 0, 0, 0, 1, 1],
        "nobody twice; the batch in doubt is left alone"
    );
    assert_eq!(progress(&t.bot, "news-3").await, progress_of(10, 6, 0, 4));

    // Opting into at-least-once re-sends the batch in doubt: one of it gets a second message.
    let options = FanOutOptions {
        resend_in_doubt: true,
        ..Default::default()
    };
    t.bot
        .fan_out_resumable_with("news-3", all.clone(), news(), options)
        .await;
    assert_eq!(received(&t, &all, "news"), [1, 1, 1, 1, 2, 1, 1, 1, 1, 1]);
    assert_eq!(progress(&t.bot, "news-3").await, progress_of(10, 10, 0, 0));
}

#[tokio::test]
async fn progress_is_written_once_per_batch_not_once_per_recipient() {
    let t = TestBot::new(bot());
    let all = users(&t, 40).await;
    let writes = t.storage.writes();
    let options = FanOutOptions {
        concurrency: 4,
        batch: 10,
        ..Default::default()
    };
    let results = t
        .bot
        .fan_out_resumable_with("news-4", all.clone(), news(), options)
        .await;
    assert!(results.iter().all(|r| r.result.is_ok()));
    // Per batch of ten: one claim, then one record of outcomes.
    assert_eq!(t.storage.writes() - writes, 4 * 2);
    let writes = t.storage.writes();
    t.bot
        .fan_out_resumable_with("news-4", all.clone(), news(), options)
        .await;
    assert_eq!(t.storage.writes(), writes, "a finished job writes nothing");
    assert_eq!(received(&t, &all, "news"), [1; 40]);
}

#[tokio::test]
async fn permanent_failures_and_unreachable_addresses_are_final_retry_safe_ones_are_not() {
    let t = TestBot::new(bot());
    let all = users(&t, 4).await;
    // u00 blocked the bot earlier: the address book marks the address unreachable.
    t.channel.fail_next_for("u00", Fault::Forbidden);
    let r = t.bot.send(vec![Message::to(&all[0]).text("x")]).await;
    assert!(r.unwrap()[0].is_err());
    t.channel.fail_next_for("u01", Fault::Forbidden);
    t.channel.fail_next_for("u02", Fault::Unreachable);
    let refused = t.channel.failed().len();

    let first = t
        .bot
        .fan_out_resumable("news-5", all.clone(), news(), 2)
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
        .fan_out_resumable("news-5", all.clone(), news(), 2)
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
    let t = TestBot::new(bot());
    let all = users(&t, 30).await;
    let other = t.sharing(bot());
    // Slow writes make the two runs interleave.
    t.storage.set_write_delay(Duration::from_millis(2));
    let options = FanOutOptions {
        concurrency: 3,
        batch: 4,
        ..Default::default()
    };
    let (a, b) = tokio::join!(
        t.bot
            .fan_out_resumable_with("news-6", all.clone(), news(), options),
        other
            .bot
            .fan_out_resumable_with("news-6", all.clone(), news(), options),
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
    let t = TestBot::new(bot());
    let all = users(&t, 3).await;
    let survey = FanOutAction::Dialog {
        id: "*:survey".into(),
        args: None,
        mode: ProactiveMode::Interrupt,
    };
    let mut twice = all.clone();
    twice.push(all[1].clone());
    let first = t
        .bot
        .fan_out_resumable("survey-1", twice, survey.clone(), 2)
        .await;
    assert_eq!(first.len(), 4);
    assert!(first[..3].iter().all(|r| r.result.is_ok()));
    assert!(matches!(first[3].result, Err(BotError::InvalidAddress(_))));
    let again = t
        .bot
        .fan_out_resumable("survey-1", all.clone(), survey, 2)
        .await;
    assert!(
        again
            .iter()
            .all(|r| r.earlier == Some(RecipientStatus::Done))
    );
    assert_eq!(received(&t, &all, "How was your day?"), [1, 1, 1]);
    for a in &all {
        let session = t.bot.load_session(a).await.unwrap();
        let surveys = session.stack().iter().filter(|f| f.id == "*:survey");
        assert_eq!(surveys.count(), 1, "the survey is on the stack once");
    }
    assert_eq!(t.bot.fan_out_progress("unknown").await.unwrap(), None);
}
