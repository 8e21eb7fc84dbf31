//! Regression tests for the proactive machinery: fan-out journal, scheduler, rate limiter.

mod support;

use async_trait::async_trait;
use botcore::proactive::fanout::{FanOutAction, FanOutOptions};
use botcore::rate_limit::{Rate, RateLimited, RateLimits};
use botcore::{
    Address, Clock, Connector, JobAction, Message, ProactiveMode, Storage, StorageError, Stored,
    Version, WriteOp,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use storage_memory::MemoryStorage;
use support::{received, survey_bot, users_who_wrote};
use transport_mock::{FaultyStorage, MOCK_CHANNEL_ID, MockChannel, TestBot};

/// Hides every `fanout/` record from the first journal read: the state a run sees when it
/// loaded the journal just before another run of the same job wrote its first claim.
#[derive(Debug, Clone)]
struct StaleFirstJournalRead {
    inner: FaultyStorage<MemoryStorage>,
    hidden: Arc<AtomicBool>,
}

#[async_trait]
impl Storage for StaleFirstJournalRead {
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        let mut r = self.inner.read_many(keys).await?;
        if keys.iter().any(|k| k.starts_with("fanout/"))
            && !self.hidden.swap(true, Ordering::SeqCst)
        {
            for x in r.iter_mut() {
                *x = None;
            }
        }
        Ok(r)
    }
    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        self.inner.write_many(ops).await
    }
    async fn list_keys(
        &self,
        p: &str,
        a: Option<&str>,
        l: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.list_keys(p, a, l).await
    }
}

#[tokio::test]
async fn overlapping_fan_out_runs_with_different_batches_message_each_recipient_once() {
    let t = TestBot::new(survey_bot());
    let all = users_who_wrote(&t, 2).await;
    let news = FanOutAction::Message(Message::default().text("news"));
    // Run A: one batch of two, claimed as chunk 0 and delivered.
    let a = FanOutOptions {
        concurrency: 1,
        batch: 2,
        ..Default::default()
    };
    t.bot
        .fan_out(all.clone(), news.clone())
        .options(a)
        .resumable("job")
        .await;
    assert_eq!(received(&t, &all, "news"), [1, 1]);
    // Run B of the same job, overlapping: it read the journal before A's claim landed.
    let storage = StaleFirstJournalRead {
        inner: t.storage.clone(),
        hidden: Arc::default(),
    };
    let b_bot = support::bot_storing_in(&t, survey_bot(), storage);
    let b = FanOutOptions {
        concurrency: 1,
        batch: 1,
        ..Default::default()
    };
    b_bot
        .fan_out(all.clone(), news)
        .options(b)
        .resumable("job")
        .await;
    assert_eq!(
        received(&t, &all, "news"),
        [1, 1],
        "u01 was in A's claim (chunk 0), B sent again"
    );
}

#[tokio::test]
async fn a_rate_that_never_refills_stops_at_its_burst() {
    let limits = RateLimits::new(Rate::new(5, 0.0)).with_max_wait(Duration::from_millis(10));
    let connector = RateLimited::new(MockChannel::new(), limits);
    let to = support::mock_address("ann", "c1");
    let mut ok = 0;
    for _ in 0..50 {
        if connector.send(&Message::to(&to).text("hi")).await.is_ok() {
            ok += 1;
        }
    }
    assert_eq!(ok, 5, "burst 5, never refills: only 5 may go out");
}

/// Applies the turn's commit, then answers `Unavailable` (as the contract allows: "the batch
/// may or may not have been applied").
#[derive(Debug, Clone)]
struct LostAck {
    inner: FaultyStorage<MemoryStorage>,
    armed: Arc<AtomicBool>,
}

#[async_trait]
impl Storage for LostAck {
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        self.inner.read_many(keys).await
    }
    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        let turn = ops.iter().any(|o| o.key.starts_with("private/"));
        let r = self.inner.write_many(ops).await?;
        if turn && self.armed.swap(false, Ordering::SeqCst) {
            return Err(StorageError::Unavailable(
                "connection reset after the write".into(),
            ));
        }
        Ok(r)
    }
    async fn list_keys(
        &self,
        p: &str,
        a: Option<&str>,
        l: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.inner.list_keys(p, a, l).await
    }
}

#[tokio::test]
async fn a_scheduled_dialog_whose_commit_ack_was_lost_is_not_begun_twice() {
    let t = TestBot::new(survey_bot());
    let ann = t.user("ann");
    ann.say("hi").await;
    let armed = Arc::new(AtomicBool::new(false));
    let storage = LostAck {
        inner: t.storage.clone(),
        armed: armed.clone(),
    };
    let b = support::bot_storing_in(&t, survey_bot(), storage);
    let at = t.clock.now_ms() + 1_000;
    let action = JobAction::dialog("survey", ProactiveMode::Interrupt);
    b.scheduler().at(at, &ann.address, action).await.unwrap();
    t.clock.advance(Duration::from_secs(2));
    armed.store(true, Ordering::SeqCst);
    b.scheduler().tick().await.unwrap();
    t.clock.advance(Duration::from_secs(120));
    b.scheduler().tick().await.unwrap();
    let state = t.state(&ann).await;
    assert_eq!(
        state.stack_ids(),
        ["*:survey", "BotBuilder:prompt-text"],
        "the survey is begun once"
    );
}

#[derive(Debug, Clone)]
struct AdvanceClock(botcore::ManualClock);

#[async_trait]
impl botcore::rate_limit::Sleeper for AdvanceClock {
    async fn sleep(&self, d: Duration) {
        self.0.advance(d);
    }
}

/// Answers every start_conversation with 429 Retry-After: 5 s and records when it was called.
#[derive(Debug, Clone)]
struct Throttling {
    clock: botcore::ManualClock,
    calls: Arc<std::sync::Mutex<Vec<u64>>>,
}

#[async_trait]
impl Connector for Throttling {
    async fn send(&self, _m: &Message) -> Result<botcore::Receipt, botcore::DeliveryError> {
        unreachable!()
    }
    async fn start_conversation(&self, _a: &Address) -> Result<Address, botcore::DeliveryError> {
        self.calls.lock().unwrap().push(self.clock.now_ms());
        Err(botcore::DeliveryError::Throttled {
            retry_after: Some(Duration::from_secs(5)),
        })
    }
}

#[tokio::test]
async fn a_429_on_start_conversation_waits_for_retry_after() {
    let clock = botcore::ManualClock::new(1_700_000_000_000);
    let inner = Throttling {
        clock: clock.clone(),
        calls: Arc::default(),
    };
    let limits = RateLimits::new(Rate::new(3, 1.0)).with_max_wait(Duration::from_secs(60));
    let c = RateLimited::new(inner.clone(), limits)
        .with_clock(clock.clone())
        .with_sleeper(AdvanceClock(clock.clone()));
    let to = support::address(MOCK_CHANNEL_ID, "ann");
    let _ = c.start_conversation(&to).await;
    let calls = inner.calls.lock().unwrap().clone();
    let gaps: Vec<u64> = calls.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= 5_000), "calls {gaps:?} ms apart");
}
