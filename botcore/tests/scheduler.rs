//! The scheduler: one record per job, claimed one at a time, retried, set aside when corrupt.

use async_trait::async_trait;
use botcore::proactive::scheduler::{
    JobAction, JobOutcome, JobReport, LEASE_MS, MAX_ATTEMPTS, MAX_JOBS_PER_TICK,
};
use botcore::{
    Bot, BotBuilder, BotError, Clock, DeliveryError, Message, Middleware, Precondition, Storage,
    StorageError, StorageExt, Waterfall, json,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use transport_mock::{Fault, FaultyStorage, TestBot, TestUser};

fn bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new().step(|s, _| {
            s.send("hello");
            s.end_dialog();
            Ok(())
        }),
    )
}

/// A test bot and users who have each written once (so they may be contacted).
async fn with_users(names: &[&str]) -> (TestBot, Vec<TestUser>) {
    let t = TestBot::new(bot());
    let mut users = Vec::new();
    for name in names {
        let u = t.user(name);
        u.say("hi").await.expect(&["hello"]);
        users.push(u);
    }
    (t, users)
}

fn text(to: &TestUser, text: &str) -> JobAction {
    JobAction::Message {
        message: Message::to(&to.address).text(text),
    }
}

async fn schedule_in(t: &TestBot, to: &TestUser, ms: u64, say: &str) -> String {
    let at = t.clock.now_ms() + ms;
    t.bot
        .schedule(at, &to.address, text(to, say))
        .await
        .unwrap()
}

async fn tick(t: &TestBot) -> Vec<JobReport> {
    t.bot.tick().await.unwrap()
}

async fn keys(t: &TestBot, prefix: &str) -> Vec<String> {
    t.storage.list_keys(prefix, None, 1_000).await.unwrap()
}

#[tokio::test]
async fn two_processes_ticking_together_deliver_every_job_exactly_once() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    for i in 0..20 {
        schedule_in(&t, ann, 1_000 + i, &format!("job {i:02}")).await;
    }
    let (p1, p2) = (t.sharing(bot()), t.sharing(bot()));
    // Slow reads make the two ticks interleave and race for the same jobs.
    t.storage.set_read_delay(Duration::from_millis(2));
    t.clock.advance(Duration::from_secs(2));
    let (a, b) = tokio::join!(p1.bot.tick(), p2.bot.tick());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 20, "each job reported by one process");
    assert!(!a.is_empty() && !b.is_empty(), "both processes took jobs");
    assert!(
        a.iter()
            .chain(&b)
            .all(|r| matches!(r.outcome, JobOutcome::Done))
    );
    let mut texts = ann.new_texts();
    texts.sort();
    let expected: Vec<String> = (0..20).map(|i| format!("job {i:02}")).collect();
    assert_eq!(texts, expected, "every job delivered, none twice");
    assert!(t.bot.scheduled().await.unwrap().is_empty());
    assert_eq!(
        t.advance(Duration::from_secs(LEASE_MS / 1_000 + 1)).await,
        0
    );
    assert!(ann.new_messages().is_empty());
}

#[tokio::test]
async fn sixty_four_concurrent_schedules_are_all_stored_and_ticks_are_bounded() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    t.storage.set_write_delay(Duration::from_millis(1));
    let at = t.clock.now_ms() + 1_000;
    let calls = (0..64).map(|i| t.bot.schedule(at, &ann.address, text(ann, &format!("{i}"))));
    let mut ids: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    assert_eq!(t.bot.scheduled().await.unwrap().len(), 64);
    assert_eq!(keys(&t, "job/").await.len(), 64, "one record per job");
    t.storage.set_write_delay(Duration::ZERO);
    assert_eq!(t.advance(Duration::from_secs(1)).await, MAX_JOBS_PER_TICK);
    assert_eq!(t.tick().await, 64 - MAX_JOBS_PER_TICK);
    assert_eq!(ann.new_texts().len(), 64);
}

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
    let pending = t.bot.scheduled().await.unwrap();
    assert_eq!((pending[0].at, pending[0].attempts), (retry_at, 1));
    assert_eq!(
        t.advance(Duration::from_secs(119)).await,
        0,
        "not before Retry-After"
    );
    let reports = t.bot.tick().await.unwrap();
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
    assert!(t.bot.scheduled().await.unwrap().is_empty());
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
    assert!(t.bot.scheduled().await.unwrap().is_empty());
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
    let err = doomed.bot.tick().await.unwrap_err();
    assert!(matches!(
        err,
        BotError::Storage(StorageError::Unavailable(_))
    ));
    assert_eq!(ann.new_texts(), ["ping"]);
    t.storage.set_down(false);
    assert_eq!(t.tick().await, 0, "the lease still holds");
    assert_eq!(t.advance(Duration::from_secs(61)).await, 1);
    assert_eq!(ann.new_texts(), ["ping"], "run again: at least once");
    assert!(t.bot.scheduled().await.unwrap().is_empty());
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
        matches!(t.bot.scheduled().await, Err(BotError::CorruptState(ref m)) if m.contains(&key)),
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
    assert!(t.bot.scheduled().await.unwrap().is_empty());
}

#[tokio::test]
async fn cancelled_jobs_never_run_even_after_a_retry_moved_them() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    let plain = schedule_in(&t, ann, 1_000, "plain").await;
    let retried = schedule_in(&t, ann, 2_000, "retried").await;
    assert!(t.bot.cancel_scheduled(&plain).await.unwrap());
    assert!(
        !t.bot.cancel_scheduled(&plain).await.unwrap(),
        "already gone"
    );
    assert!(!t.bot.cancel_scheduled("no-such-job").await.unwrap());
    t.channel.fail_next(Fault::Unreachable);
    t.clock.advance(Duration::from_secs(2));
    let reports = tick(&t).await;
    assert!(matches!(reports[0].outcome, JobOutcome::Retrying { .. }));
    assert!(
        t.bot.cancel_scheduled(&retried).await.unwrap(),
        "found where it moved"
    );
    assert!(
        keys(&t, "job").await.is_empty(),
        "no job and no pointer left"
    );
    assert_eq!(t.advance(Duration::from_secs(3_600)).await, 0);
    assert!(ann.new_messages().is_empty());
}

#[tokio::test]
async fn jobs_found_too_late_are_skipped_and_others_still_run_late() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    let at = t.clock.now_ms() + 1_000;
    let strict = t
        .bot
        .schedule_job(at, &ann.address, text(ann, "strict"), Some(5_000))
        .await
        .unwrap();
    schedule_in(&t, ann, 1_000, "lenient").await;
    t.clock.set(at + 3_600_000);
    let reports = tick(&t).await;
    assert_eq!(reports.len(), 2);
    let skipped = reports.iter().find(|r| r.id == strict).unwrap();
    assert!(matches!(
        skipped.outcome,
        JobOutcome::Skipped { late_ms: 3_600_000 }
    ));
    assert_eq!(ann.new_texts(), ["lenient"]);
    assert!(t.bot.scheduled().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_tick_with_nothing_due_writes_nothing() {
    let (t, users) = with_users(&["ann"]).await;
    schedule_in(&t, &users[0], 60_000, "later").await;
    let writes = t.storage.writes();
    assert!(tick(&t).await.is_empty());
    assert_eq!(t.advance(Duration::from_secs(59)).await, 0);
    assert_eq!(t.storage.writes(), writes);
    assert_eq!(t.advance(Duration::from_secs(1)).await, 1);
}

#[tokio::test]
async fn jobs_are_listed_and_run_in_due_order() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    for (ms, say) in [(5, "e"), (1, "a"), (3, "c"), (2, "b"), (4, "d")] {
        schedule_in(&t, ann, ms * 1_000, say).await;
    }
    let listed: Vec<u64> = t
        .bot
        .scheduled()
        .await
        .unwrap()
        .iter()
        .map(|j| j.at)
        .collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    assert_eq!(listed.len(), 5);
    assert_eq!(t.advance(Duration::from_secs(3)).await, 3);
    assert_eq!(ann.new_texts(), ["a", "b", "c"]);
    assert_eq!(t.advance(Duration::from_secs(2)).await, 2);
    assert_eq!(ann.new_texts(), ["d", "e"]);
}
