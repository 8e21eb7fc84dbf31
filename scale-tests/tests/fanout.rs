//! A resumable fan-out to 10,000 recipients, its process SIGKILLed halfway and started again
//! with the same job id: nobody is messaged twice, and the only recipients left without the
//! message are in the one batch the progress reports in doubt, by id.
//!
//! To kill the run at a known point, the fake channel answers the first 5,000 sends and holds
//! the rest unanswered. With batches of 32 and 8 sends at a time, the run is then frozen in
//! the batch of recipients 4,992..5,024: the first 8 of it were answered, the next 8 reached
//! the channel and wait for their answer, the last 16 were never sent. The process is killed
//! there, so that claimed batch has no recorded outcome: it is in doubt (maybe messaged, maybe
//! not), and a resumed run leaves it alone (at-most-once, the default).

mod support;

use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};
use support::bot::BotProcess;
use support::channel::FakeChannel;
use support::{Store, address, get_json, post_json, seed_address_book, wait_until};

const RECIPIENTS: usize = 10_000;
const HALF: usize = 5_000;
const BATCH: usize = 32;
const CONCURRENCY: usize = 8;
const JOB: &str = "news-1";
const TIMEOUT: Duration = Duration::from_secs(60);

fn user(i: usize) -> String {
    format!("u{i:05}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_fan_out_messages_nobody_twice_and_leaves_only_the_batch_in_doubt_on_redis() {
    a_resumed_fan_out_messages_nobody_twice_and_leaves_only_the_batch_in_doubt(Store::redis())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_resumed_fan_out_messages_nobody_twice_and_leaves_only_the_batch_in_doubt_on_postgres() {
    a_resumed_fan_out_messages_nobody_twice_and_leaves_only_the_batch_in_doubt(Store::postgres())
        .await;
}

async fn a_resumed_fan_out_messages_nobody_twice_and_leaves_only_the_batch_in_doubt(store: Store) {
    let started = Instant::now();
    let storage = store.storage().await;
    let channel = FakeChannel::start().await;
    let everyone: Vec<_> = (0..RECIPIENTS)
        .map(|i| address(channel.url(), &user(i), &format!("c{i:05}")))
        .collect();
    seed_address_book(&storage, &everyone).await;
    let mut bot = BotProcess::start("a", &store.bot_args());
    let http = reqwest::Client::new();
    let request = json!({"text": "news", "batch": BATCH, "concurrency": CONCURRENCY});
    let start = async |bot: &BotProcess| {
        let url = format!("{}/fanout/{JOB}", bot.url);
        let (status, body) = post_json(&http, &url, &request).await;
        assert_eq!(
            (status, &body["addresses"]),
            (202, &json!(RECIPIENTS)),
            "{body}"
        );
    };

    channel.hold_after(HALF);
    start(&bot).await;
    let frozen = channel
        .wait_for(HALF + CONCURRENCY, Duration::from_millis(300), TIMEOUT)
        .await;
    assert_eq!(
        frozen,
        HALF + CONCURRENCY,
        "8 sends in flight once the channel stalls"
    );
    let sent_before = started.elapsed();
    bot.kill();
    let before_kill = channel.arrivals();
    channel.release();

    // The journal after the crash: whole batches done, one in doubt, the rest pending.
    bot.restart();
    let done_batches = HALF / BATCH * BATCH;
    let (status, progress) = get_json(&http, &format!("{}/progress/{JOB}", bot.url)).await;
    assert_eq!(status, 200, "{progress}");
    let expected = |done: usize, pending: usize| json!({"total": RECIPIENTS, "done": done, "failed": 0, "inDoubt": BATCH, "pending": pending});
    assert_eq!(
        progress,
        expected(done_batches, RECIPIENTS - done_batches - BATCH)
    );

    // The same job again, in the new process.
    start(&bot).await;
    let run = wait_until(TIMEOUT, "the resumed fan-out finishes", || async {
        let (_, run) = get_json(&http, &format!("{}/fanout/{JOB}", bot.url)).await;
        (run["finished"] == true).then_some(run)
    })
    .await;
    let resumed_took = started.elapsed();
    let (_, progress) = get_json(&http, &format!("{}/progress/{JOB}", bot.url)).await;
    assert_eq!(progress, expected(RECIPIENTS - BATCH, 0));
    assert_eq!(run["failed"], json!([]), "{}", run["failed"]);
    assert_eq!(run["earlierDone"], json!(done_batches));

    // Nobody got the message twice.
    let arrivals = channel.arrivals();
    let mut received: HashMap<&str, usize> = HashMap::new();
    for a in &arrivals {
        assert_eq!(a.text, "news");
        *received.entry(a.user.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "messaged twice: {twice:?}");

    // The recipients the progress reports in doubt are one batch, by id: the one that was
    // being sent when the process died.
    let in_doubt: BTreeSet<String> = ids(&run["inDoubt"]);
    let batch: BTreeSet<String> = (done_batches..done_batches + BATCH).map(user).collect();
    assert_eq!(in_doubt, batch);
    // Everyone outside it got the message exactly once; inside it, exactly those whose send
    // had started before the kill (answered or held by the channel), the rest never.
    let started_in_batch: BTreeSet<String> = (done_batches..HALF + CONCURRENCY).map(user).collect();
    let never: BTreeSet<String> = (0..RECIPIENTS)
        .map(user)
        .filter(|u| !received.contains_key(u.as_str()))
        .collect();
    let not_started: BTreeSet<String> = batch.difference(&started_in_batch).cloned().collect();
    assert_eq!(
        never, not_started,
        "not sent = the in-doubt batch minus its sends under way"
    );
    for u in &started_in_batch {
        assert!(
            before_kill.iter().any(|a| &a.user == u),
            "{u} reached the channel before the kill"
        );
    }
    // The resumed run sent to exactly the pending recipients, none of them in doubt.
    let resumed: BTreeSet<String> = ids(&run["sent"]);
    let pending: BTreeSet<String> = (done_batches + BATCH..RECIPIENTS).map(user).collect();
    assert_eq!(resumed, pending);
    let after_kill: BTreeSet<String> = arrivals[before_kill.len()..]
        .iter()
        .map(|a| a.user.clone())
        .collect();
    assert_eq!(after_kill, pending);
    eprintln!(
        "fanout on {}: {RECIPIENTS} recipients, killed after {} sends ({sent_before:?}), \
         resumed and done at {resumed_took:?}; {} in doubt, {} never sent",
        store.kind(),
        before_kill.len(),
        in_doubt.len(),
        never.len()
    );
}

fn ids(v: &Value) -> BTreeSet<String> {
    serde_json::from_value(v.clone()).unwrap()
}
