//! The scheduler when delivery or storage fails: jobs retried with back-off, dropped when a
//! retry is not safe, run again when a lease expires, and set aside when corrupt.

mod support;

use async_trait::async_trait;
use botcore::proactive::scheduler::{JobOutcome, LEASE_MS, MAX_ATTEMPTS};
use botcore::{
    BotError, Clock, DeliveryError, Message, Middleware, Precondition, StorageError, StorageExt,
    json,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::scheduler::{bot, keys, schedule_in, tick, with_users};
use transport_mock::{Fault, FaultyStorage};

#[tokio::test]
async fn a_throttled_job_is_retried_after_retry_after_and_delivered_once() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    let id = schedule_in(&t, ann, 1_000, "stand-up").await;
    t.channel
        .fail_next(Fault::Throttled(Duration::from_secs(120)));
    t.clock.advance(Duration::from_secs(1));
    let reports = tick(&t).await;
    let retry_at = t.clock.now_ms() + 120_000;
    assert_eq!(
        (reports[0].id.as_str(), reports[0].attempt),
        (id.as_str(), 1)
    );
    assert!(
        matches!(&reports[0].outcome, JobOutcome::Retrying { at, error: BotError::Delivery(DeliveryError::Throttled { .. }) } if *at == retry_at),
        "{reports:?}"
    );
    assert!(ann.new_messages().is_empty());
    let pending = t.bot.scheduler().jobs().await.unwrap();
    assert_eq!((pending[0].at, pending[0].attempts), (retry_at, 1));
    assert_eq!(
        t.advance(Duration::from_secs(119)).await,
        0,
        "not before Retry-After"
    );
    let reports = t.bot.scheduler().tick().await.unwrap();
    assert!(reports.is_empty());
    t.clock.advance(Duration::from_secs(1));
    let reports = tick(&t).await;
    assert!(matches!(reports[0].outcome, JobOutcome::Done));
    assert_eq!(
        (reports[0].id.as_str(), reports[0].attempt),
        (id.as_str(), 2)
    );
    assert_eq!(ann.new_texts(), ["stand-up"]);
    assert_eq!(t.advance(Duration::from_secs(3_600)).await, 0);
    assert!(ann.new_messages().is_empty(), "delivered once");
    assert!(
        keys(&t, "job").await.is_empty(),
        "no job and no pointer left"
    );
}

#[tokio::test]
async fn retries_back_off_exponentially_and_stop_after_the_last_attempt() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    schedule_in(&t, ann, 0, "ping").await;
    let mut waits = Vec::new();
    for attempt in 1..=MAX_ATTEMPTS {
        t.channel.fail_next(Fault::Unreachable);
        let now = t.clock.now_ms();
        let reports = tick(&t).await;
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].attempt, attempt);
        match &reports[0].outcome {
            JobOutcome::Retrying { at, .. } if attempt < MAX_ATTEMPTS => {
                waits.push(at - now);
                t.clock.set(*at);
            }
            JobOutcome::Dropped(BotError::Delivery(DeliveryError::Unreachable(_)))
                if attempt == MAX_ATTEMPTS => {}
            other => panic!("attempt {attempt}: {other:?}"),
        }
    }
    assert_eq!(waits, [15_000, 30_000, 60_000, 120_000]);
    assert!(t.bot.scheduler().jobs().await.unwrap().is_empty());
    assert!(ann.new_messages().is_empty());
}

#[tokio::test]
async fn permanent_and_ambiguous_failures_drop_the_job_at_once() {
    let (t, users) = with_users(&["ann", "bo"]).await;
    let (ann, bo) = (&users[0], &users[1]);
    schedule_in(&t, ann, 1_000, "to ann").await;
    schedule_in(&t, bo, 2_000, "to bo").await;
    t.channel.fail_next_for("ann", Fault::ServerError);
    t.channel.fail_next_for("bo", Fault::Forbidden);
    t.clock.advance(Duration::from_secs(2));
    let reports = tick(&t).await;
    assert_eq!(reports.len(), 2);
    assert!(matches!(
        reports[0].outcome,
        JobOutcome::Dropped(BotError::Delivery(DeliveryError::Ambiguous(_)))
    ));
    assert!(matches!(
        reports[1].outcome,
        JobOutcome::Dropped(BotError::Delivery(DeliveryError::Permanent {
            status: 403,
            ..
        }))
    ));
    assert!(t.bot.scheduler().jobs().await.unwrap().is_empty());
    assert_eq!(t.advance(Duration::from_secs(3_600)).await, 0);
    assert!(ann.new_messages().is_empty() && bo.new_messages().is_empty());
}

#[tokio::test]
async fn a_job_claimed_by_a_runner_that_stopped_runs_after_the_lease_expires() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    schedule_in(&t, ann, 1_000, "ping").await;
    t.clock.advance(Duration::from_secs(1));
    // Another process claimed the job and died before running it.
    let key = keys(&t, "job/").await.pop().unwrap();
    let stored = t.storage.read(&key).await.unwrap().unwrap();
    let mut claimed = stored.value.clone();
    claimed["attempts"] = json!(1);
    claimed["leaseUntil"] = json!(t.clock.now_ms() + LEASE_MS);
    t.storage
        .write(&key, claimed, Precondition::IfMatch(stored.version))
        .await
        .unwrap();
    let writes = t.storage.writes();
    assert_eq!(t.tick().await, 0, "leased: passed over");
    assert_eq!(t.advance(Duration::from_secs(59)).await, 0);
    assert_eq!(t.storage.writes(), writes, "passing over writes nothing");
    assert!(ann.new_messages().is_empty());
    t.clock.advance(Duration::from_secs(1));
    let reports = tick(&t).await;
    assert!(matches!(reports[0].outcome, JobOutcome::Done));
    assert_eq!(reports[0].attempt, 2);
    assert_eq!(ann.new_texts(), ["ping"]);
}

/// Takes the storage down as soon as a message goes out: the process cannot record that the
/// job ran, as if it crashed right after sending.
#[derive(Debug)]
struct DownOnSend(
    FaultyStorage<storage_memory::MemoryStorage>,
    Arc<AtomicBool>,
);

#[async_trait]
impl Middleware for DownOnSend {
    async fn send(&self, _message: &mut Message) -> Result<(), BotError> {
        if self.1.swap(false, Ordering::SeqCst) {
            self.0.set_down(true);
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_job_whose_outcome_was_not_recorded_runs_again_after_the_lease_at_least_once() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    schedule_in(&t, ann, 1_000, "ping").await;
    let armed = Arc::new(AtomicBool::new(true));
    let doomed = t.sharing(bot().middleware(DownOnSend(t.storage.clone(), armed.clone())));
    t.clock.advance(Duration::from_secs(1));
    let err = doomed.bot.scheduler().tick().await.unwrap_err();
    assert!(matches!(
        err,
        BotError::Storage(StorageError::Unavailable(_))
    ));
    assert_eq!(ann.new_texts(), ["ping"]);
    t.storage.set_down(false);
    assert_eq!(t.tick().await, 0, "the lease still holds");
    assert_eq!(t.advance(Duration::from_secs(61)).await, 1);
    assert_eq!(ann.new_texts(), ["ping"], "run again: at least once");
    assert!(t.bot.scheduler().jobs().await.unwrap().is_empty());
    assert_eq!(t.advance(Duration::from_secs(61)).await, 0);
}

#[tokio::test]
async fn a_corrupt_job_record_is_reported_and_moved_aside_without_blocking_the_next() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    schedule_in(&t, ann, 1_000, "lost").await;
    let next = schedule_in(&t, ann, 2_000, "next").await;
    let key = keys(&t, "job/").await.remove(0);
    t.storage
        .write(&key, json!({"garbage": true}), Precondition::Any)
        .await
        .unwrap();
    assert!(
        matches!(t.bot.scheduler().jobs().await, Err(BotError::CorruptState(ref m)) if m.contains(&key)),
        "a corrupt record is not swallowed"
    );
    t.clock.advance(Duration::from_secs(2));
    let reports = tick(&t).await;
    assert_eq!(reports.len(), 2);
    assert!(
        matches!(&reports[0].outcome, JobOutcome::Dropped(BotError::CorruptState(m)) if m.contains(&key))
    );
    assert_eq!(reports[1].id, next);
    assert!(matches!(reports[1].outcome, JobOutcome::Done));
    assert_eq!(ann.new_texts(), ["next"]);
    let aside = keys(&t, "job-corrupt/").await;
    assert_eq!(aside.len(), 1);
    let kept = t.storage.read(&aside[0]).await.unwrap().unwrap().value;
    assert_eq!(
        kept["value"],
        json!({"garbage": true}),
        "the record is kept"
    );
    assert!(t.bot.scheduler().jobs().await.unwrap().is_empty());
}
