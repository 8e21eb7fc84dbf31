//! 1,000 scheduled jobs, two `scale-bot` processes ticking on one Redis, one of them SIGKILLed
//! mid-stream; then a job that comes due while both are down.
//!
//! **The duplicate bound.** A tick claims one due job at a time: it writes a lease
//! (`LEASE_MS`, 60 s) into the job with compare-and-set, runs it, then deletes it with
//! compare-and-set on the leased version. So a job runs twice only when its runner dies
//! between that claim and that delete, and then only once the lease has run out. `scale-bot`
//! runs one tick at a time, so at the moment of the SIGKILL at most **one** job is in flight
//! in the killed process. The test finds the killed process's claims in the store (once the
//! survivor has run everything else, the jobs left that were started, `attempts >= 1`, and
//! stay put), asserts there is at most one, and then allows duplicates only for those jobs: every other job
//! fires exactly once. Instead of waiting 60 s for the lease to run out, the survivor's clock
//! is moved past it (`POST /clock`).
//!
//! **Catch-up.** With both processes down, jobs come due: one with a lateness bound it is
//! still within when the processes are back, one with none, and one whose bound (200 ms) has
//! passed. The first two fire once after the restart; the third is skipped, never sent.

mod support;

use botcore::proactive::scheduler::LEASE_MS;
use botcore::{JobAction, Message};
use serde_json::json;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};
use support::bot::BotProcess;
use support::channel::FakeChannel;
use support::{Store, address, get_json, inspector, now_ms, post_json, wait_until};

const JOBS: usize = 1_000;
const USERS: usize = 50;
const TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_jobs_fire_once_across_processes_a_sigkill_and_downtime_on_redis() {
    scheduled_jobs_fire_once_across_processes_a_sigkill_and_downtime(Store::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scheduled_jobs_fire_once_across_processes_a_sigkill_and_downtime_on_postgres() {
    scheduled_jobs_fire_once_across_processes_a_sigkill_and_downtime(Store::postgres()).await;
}

async fn scheduled_jobs_fire_once_across_processes_a_sigkill_and_downtime(store: Store) {
    let started = Instant::now();
    let storage = store.storage().await;
    let reader = inspector(storage.clone());
    let channel = FakeChannel::start().await;
    // A channel round trip of a few ms: the killed process is most likely mid-send.
    channel.set_delay(Duration::from_millis(3));
    let users: Vec<_> = (0..USERS)
        .map(|u| address(channel.url(), &format!("user{u}"), &format!("conv{u}")))
        .collect();
    support::seed_address_book(&storage, &users).await;
    let mut args = store.bot_args();
    args.extend(["--tick-ms", "10"].map(str::to_owned));
    let mut a = BotProcess::start("a", &args);
    let mut b = BotProcess::start("b", &args);
    let http = reqwest::Client::new();

    // 1,000 jobs coming due over the next two seconds.
    let first_due = now_ms() + 300;
    let jobs: Vec<_> = (0..JOBS)
        .map(|i| {
            json!({"at": first_due + 2 * i as u64, "address": users[i % USERS], "text": format!("job{i}")})
        })
        .collect();
    let (status, body) = post_json(
        &http,
        &format!("{}/schedule", a.url),
        &json!({"jobs": jobs}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let ids: Vec<String> = serde_json::from_value(body["ids"].clone()).unwrap();
    let text_of: HashMap<&str, String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), format!("job{i}")))
        .collect();

    channel.wait_for(300, Duration::ZERO, TIMEOUT).await;
    a.kill();
    let fired_at_kill = channel.len();

    // b runs every job nobody holds a lease on. What is left then, and stays, are the jobs
    // the killed process had claimed (started, `attempts >= 1`) and not finished: its
    // leases keep b away from them.
    let started_only = || async {
        let left = reader.scheduler().jobs().await.unwrap();
        let all_started = left.iter().all(|j| j.attempts >= 1);
        all_started.then(|| left.into_iter().map(|j| j.id).collect::<BTreeSet<_>>())
    };
    let orphans = wait_until(TIMEOUT, "b runs every job a had not claimed", || async {
        let first = started_only().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        (started_only().await? == first).then_some(first)
    })
    .await;
    assert!(
        orphans.len() <= 1,
        "one tick at a time runs one job at a time: {orphans:?} in flight at once"
    );
    let fired = fired_texts(&channel);
    assert!(fired.len() >= JOBS - orphans.len(), "{} fired", fired.len());
    assert!(
        fired.values().all(|&n| n == 1),
        "a job ran twice before any lease ran out"
    );

    // Past the lease (by b's clock), b takes the orphan over.
    let advance = json!({"advanceMs": LEASE_MS + 1_000});
    let (status, _) = post_json(&http, &format!("{}/clock", b.url), &advance).await;
    assert_eq!(status, 200);
    wait_until(TIMEOUT, "every job fired and none left", || async {
        let left = reader.scheduler().jobs().await.unwrap();
        (left.is_empty() && fired_texts(&channel).len() == JOBS).then_some(())
    })
    .await;
    let fired = fired_texts(&channel);
    let orphan_texts: BTreeSet<&String> = orphans.iter().map(|id| &text_of[id.as_str()]).collect();
    let duplicates: BTreeSet<&String> = fired
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(t, _)| t)
        .collect();
    assert!(
        duplicates.is_subset(&orphan_texts),
        "only a job in flight in the killed process may run twice: {duplicates:?}, in flight: {orphan_texts:?}"
    );
    assert!(fired.values().all(|&n| n <= 2), "{fired:?}");
    assert_eq!(fired.len(), JOBS);
    let stats = |p: &BotProcess| {
        let url = format!("{}/stats", p.url);
        let http = http.clone();
        async move { get_json(&http, &url).await.1 }
    };
    let b_stats = stats(&b).await;
    assert_eq!(b_stats["dropped"], 0, "{b_stats}");
    assert_eq!(b_stats["retrying"], 0, "{b_stats}");
    let duplicate_count = duplicates.len();

    // Catch-up: both processes down while three jobs come due.
    b.kill();
    let before = channel.len();
    let due = now_ms() + 200;
    let to = &users[0];
    let schedule = async |text: &str, lateness: Option<u64>| {
        let action = JobAction::message(Message::to(to).text(text));
        reader
            .scheduler()
            .at_with_lateness(due, to, action, lateness)
            .await
            .unwrap()
    };
    schedule("catch-up within 60 s", Some(60_000)).await;
    schedule("catch-up unbounded", None).await;
    schedule("catch-up too late", Some(200)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    a.restart();
    b.restart();
    wait_until(TIMEOUT, "the late jobs are run or skipped", || async {
        reader
            .scheduler()
            .jobs()
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
    let late: Vec<String> = channel.arrivals()[before..]
        .iter()
        .map(|a| a.text.clone())
        .collect();
    let mut late_sorted = late.clone();
    late_sorted.sort();
    assert_eq!(
        late_sorted,
        ["catch-up unbounded", "catch-up within 60 s"],
        "{late:?}"
    );
    let skipped =
        stats(&a).await["skipped"].as_u64().unwrap() + stats(&b).await["skipped"].as_u64().unwrap();
    assert_eq!(
        skipped, 1,
        "the job past its lateness bound is skipped once"
    );
    eprintln!(
        "scheduler on {}: {JOBS} jobs, a killed after {fired_at_kill} had fired with {} in flight, \
         {duplicate_count} fired twice; catch-up ok; test took {:?}",
        store.kind(),
        orphans.len(),
        started.elapsed()
    );
}

/// How many times each job text reached the channel.
fn fired_texts(channel: &FakeChannel) -> HashMap<String, usize> {
    let mut fired = HashMap::new();
    for a in channel.arrivals() {
        *fired.entry(a.text).or_default() += 1;
    }
    fired
}
