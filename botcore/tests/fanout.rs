//! Resumable fan-outs through failures: progress journaled in storage survives refused
//! sends, a storage outage and a crash, and resuming messages nobody twice.

mod support;

use async_trait::async_trait;
use botcore::proactive::fanout::{FanOutOptions, RecipientStatus};
use botcore::{Address, Bot, BotError, Connector, DeliveryError, Message, Receipt};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use storage_memory::MemoryStorage;
use support::fanout::{news, progress, progress_of};
use support::{received, survey_bot, users_who_wrote};
use tokio::sync::Notify;
use transport_mock::{FaultyStorage, MockChannel, TestBot};

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
    let t = TestBot::new(survey_bot());
    let gate = Gate {
        channel: t.channel.clone(),
        storage: t.storage.clone(),
        sends: Arc::default(),
        after,
        then,
        hung: Arc::default(),
    };
    let gated = support::bot_sending_through(&t, survey_bot(), gate.clone());
    (t, gated, gate)
}

#[tokio::test]
async fn failures_mid_way_are_retried_by_the_next_run_and_everyone_gets_one_message() {
    let (t, gated, _) = setup(4, Then::Refuse);
    let all = users_who_wrote(&t, 10).await;
    let options = FanOutOptions {
        concurrency: 2,
        batch: 3,
        ..Default::default()
    };
    let first = gated
        .fan_out(all.clone(), news())
        .options(options)
        .resumable("news-1")
        .await;
    let ok = first.iter().filter(|r| r.result.is_ok()).count();
    assert_eq!(ok, 4);
    assert!(first.iter().all(|r| r.earlier.is_none()));
    assert_eq!(progress(&t.bot, "news-1").await, progress_of(10, 4, 0, 0));

    // The same job again, on a healthy connector.
    let second = t
        .bot
        .fan_out(all.clone(), news())
        .concurrency(2)
        .resumable("news-1")
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
        .fan_out(all.clone(), news())
        .concurrency(2)
        .resumable("news-1")
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
    let all = users_who_wrote(&t, 10).await;
    let options = FanOutOptions {
        concurrency: 1,
        batch: 1,
        ..Default::default()
    };
    let first = gated
        .fan_out(all.clone(), news())
        .options(options)
        .resumable("news-2")
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
        .fan_out(all.clone(), news())
        .concurrency(1)
        .resumable("news-2")
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
    let all = users_who_wrote(&t, 10).await;
    let options = FanOutOptions {
        concurrency: 1,
        batch: 4,
        ..Default::default()
    };
    // The process dies while the 6th send is in flight: the fan-out is dropped mid-way.
    tokio::select! {
        _ = gated.fan_out(all.clone(), news()).options(options).resumable("news-3") => {
            panic!("the 6th send never returns")
        }
        _ = gate.hung.notified() => {}
    }
    assert_eq!(received(&t, &all, "news"), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
    // Batch 1 (recipients 0-3) was recorded; batch 2 (4-7) was claimed, not recorded.
    assert_eq!(progress(&t.bot, "news-3").await, progress_of(10, 4, 0, 4));

    let resumed = t
        .bot
        .fan_out(all.clone(), news())
        .concurrency(4)
        .resumable("news-3")
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
        .fan_out(all.clone(), news())
        .options(options)
        .resumable("news-3")
        .await;
    assert_eq!(received(&t, &all, "news"), [1, 1, 1, 1, 2, 1, 1, 1, 1, 1]);
    assert_eq!(progress(&t.bot, "news-3").await, progress_of(10, 10, 0, 0));
}
