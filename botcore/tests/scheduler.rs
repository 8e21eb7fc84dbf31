//! The scheduler: one record per job, claimed one at a time by one of several processes,
//! bounded ticks, cancellation, lateness, and due order.

mod support;

use botcore::Clock;
use botcore::proactive::scheduler::{JobOutcome, LEASE_MS, MAX_JOBS_PER_TICK};
use std::time::Duration;
use support::scheduler::{bot, keys, schedule_in, text, tick, with_users};
use transport_mock::Fault;

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
    let (s1, s2) = (p1.bot.scheduler(), p2.bot.scheduler());
    let (a, b) = tokio::join!(s1.tick(), s2.tick());
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
    assert!(t.bot.scheduler().jobs().await.unwrap().is_empty());
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
    let scheduler = t.bot.scheduler();
    let calls = (0..64).map(|i| scheduler.at(at, &ann.address, text(ann, &format!("{i}"))));
    let mut ids: Vec<String> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    assert_eq!(t.bot.scheduler().jobs().await.unwrap().len(), 64);
    assert_eq!(keys(&t, "job/").await.len(), 64, "one record per job");
    t.storage.set_write_delay(Duration::ZERO);
    assert_eq!(t.advance(Duration::from_secs(1)).await, MAX_JOBS_PER_TICK);
    assert_eq!(t.tick().await, 64 - MAX_JOBS_PER_TICK);
    assert_eq!(ann.new_texts().len(), 64);
}

#[tokio::test]
async fn cancelled_jobs_never_run_even_after_a_retry_moved_them() {
    let (t, users) = with_users(&["ann"]).await;
    let ann = &users[0];
    let plain = schedule_in(&t, ann, 1_000, "plain").await;
    let retried = schedule_in(&t, ann, 2_000, "retried").await;
    assert!(t.bot.scheduler().cancel(&plain).await.unwrap());
    assert!(
        !t.bot.scheduler().cancel(&plain).await.unwrap(),
        "already gone"
    );
    assert!(!t.bot.scheduler().cancel("no-such-job").await.unwrap());
    t.channel.fail_next(Fault::Unreachable);
    t.clock.advance(Duration::from_secs(2));
    let reports = tick(&t).await;
    assert!(matches!(reports[0].outcome, JobOutcome::Retrying { .. }));
    assert!(
        t.bot.scheduler().cancel(&retried).await.unwrap(),
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
        .scheduler()
        .at_with_lateness(at, &ann.address, text(ann, "strict"), Some(5_000))
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
    assert!(t.bot.scheduler().jobs().await.unwrap().is_empty());
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
        .scheduler()
        .jobs()
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
