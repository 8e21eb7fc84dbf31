//! The reminder example (`examples::reminder`, run unchanged by `reminder-bot`) survives a
//! SIGKILL of the bot process and a restart, on Redis and on PostgreSQL.
//!
//! A user asks process `a` for a reminder; the reminder is due one minute later by the bot's
//! clock (`examples::reminder::DELAY`). `a` ticks its scheduler but is SIGKILLed long before
//! that. A new process `b` starts on the same store with its clock set so that the reminder
//! comes due two seconds after it starts (`--clock-offset-ms`, instead of waiting a minute).
//! The reminder must reach the user exactly once, as a proactive message, not before it is
//! due; then a third process `c`, whose clock is past the reminder and past the scheduler's
//! lease, must not send it again (nothing of it is left in the store).
//!
//! **The control.** The same steps on memory storage must *not* deliver the reminder: the
//! killed process took its only copy with it. The control also shows that `b` on memory does
//! deliver a reminder it was asked for itself, so the silence is the lost store, not a
//! scheduler loop that does not run: on Redis and PostgreSQL the test passes only because the
//! job outlived the process.

mod support;

use botcore::proactive::scheduler::LEASE_MS;
use examples::reminder::DELAY;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::bot::BotProcess;
use support::channel::{Arrival, FakeChannel};
use support::{Store, activity, deliver, get_json, inspector, now_ms, post_json, wait_until};

const REMINDER_BOT: &str = env!("CARGO_BIN_EXE_reminder-bot");
const TIMEOUT: Duration = Duration::from_secs(30);
const USER: &str = "alice";
const CONVERSATION: &str = "conv-reminder";
const OK: &str = "OK, I'll remind you in a minute.";
/// How long after `b` starts the reminder comes due by `b`'s clock.
const LEAD_MS: u64 = 2_000;
const DELAY_MS: u64 = DELAY.as_millis() as u64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reminder_survives_a_sigkill_and_a_restart_on_redis() {
    the_reminder_survives_a_sigkill_and_a_restart(Store::redis()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reminder_survives_a_sigkill_and_a_restart_on_postgres() {
    the_reminder_survives_a_sigkill_and_a_restart(Store::postgres()).await;
}

async fn the_reminder_survives_a_sigkill_and_a_restart(store: Store) {
    let started = Instant::now();
    let reader = inspector(store.storage().await);
    let channel = FakeChannel::start().await;
    let http = reqwest::Client::new();
    let mut args = store.bot_args();
    args.extend(["--tick-ms", "20"].map(str::to_owned));

    // `a` takes the request and ticks, but is killed long before the reminder is due.
    let mut a = BotProcess::start_program(REMINDER_BOT, "a", &args);
    let asked_at = now_ms();
    ask(&http, &a, &channel, "m1", "remind me to stretch").await;
    let asked_by = now_ms();
    let jobs = reader.scheduler().jobs().await.unwrap();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job.address.user.id, USER);
    assert!(
        (asked_at + DELAY_MS..=asked_by + DELAY_MS).contains(&job.at),
        "due {} ms after the request, expected {DELAY_MS}",
        job.at.saturating_sub(asked_at)
    );
    ticks_pass(&http, &a, 10).await;
    assert_eq!(reminders(&channel).len(), 0, "fired before it was due");
    a.kill();
    let jobs = reader.scheduler().jobs().await.unwrap();
    assert_eq!(
        jobs.len(),
        1,
        "the killed process's reminder is still stored"
    );
    assert_eq!(jobs[0].attempts, 0, "and nobody has started it");
    let due_at = jobs[0].at;

    // `b`, on the same store, with its clock LEAD_MS short of the reminder's due time.
    let offset = due_at as i64 - (now_ms() + LEAD_MS) as i64;
    let due_wall = (due_at as i64 - offset) as u64; // when it is due, by the system clock
    let mut b_args = args.clone();
    b_args.extend(["--clock-offset-ms".into(), offset.to_string()]);
    let mut b = BotProcess::start_program(REMINDER_BOT, "b", &b_args);
    let early = due_wall.saturating_sub(300);
    if now_ms() < early {
        tokio::time::sleep(Duration::from_millis(early - now_ms())).await;
        assert_eq!(reminders(&channel).len(), 0, "b sent the reminder early");
    }
    wait_until(
        TIMEOUT,
        "the restarted process sends the reminder",
        || async { (!reminders(&channel).is_empty()).then_some(()) },
    )
    .await;
    let arrived_at = now_ms();
    wait_until(TIMEOUT, "the reminder's job is gone", || async {
        let jobs = reader.scheduler().jobs().await.unwrap();
        jobs.is_empty().then_some(())
    })
    .await;
    ticks_pass(&http, &b, 10).await;
    let sent = reminders(&channel);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let reminder = &sent[0];
    assert_eq!(reminder.text, "Reminder: to stretch");
    assert_eq!(reminder.user, USER);
    assert_eq!(reminder.conversation, CONVERSATION);
    assert_eq!(
        reminder.path,
        format!("/v3/conversations/{CONVERSATION}/activities"),
        "a new (proactive) message, not a reply"
    );
    let b_stats = get_json(&http, &format!("{}/stats", b.url)).await.1;
    assert_eq!(b_stats["done"], 1, "{b_stats}");
    assert_eq!(b_stats["other"], 0, "{b_stats}");

    // `c`: a minute past the reminder and past any lease: there is nothing left to send.
    b.kill();
    let mut c_args = args.clone();
    let late = offset + (DELAY_MS + LEASE_MS) as i64;
    c_args.extend(["--clock-offset-ms".into(), late.to_string()]);
    let c = BotProcess::start_program(REMINDER_BOT, "c", &c_args);
    ticks_pass(&http, &c, 10).await;
    let sent = reminders(&channel);
    assert_eq!(sent.len(), 1, "sent again after a second restart: {sent:?}");
    assert_eq!(channel.len(), 2, "{:?}", channel.arrivals());
    eprintln!(
        "reminder on {}: asked a, a SIGKILLed, b sent the reminder {} ms after it was due, \
         once; c sent nothing; test took {:?}",
        store.kind(),
        arrived_at.saturating_sub(due_wall),
        started.elapsed()
    );
}

/// The control: on memory storage the SIGKILL loses the reminder (which is what the tests
/// above would catch), although the restarted process delivers one it was asked for itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_on_memory_storage_the_sigkill_loses_the_reminder() {
    let channel = FakeChannel::start().await;
    let http = reqwest::Client::new();
    let args = ["--storage", "memory", "--tick-ms", "20"].map(str::to_owned);
    let mut a = BotProcess::start_program(REMINDER_BOT, "a", &args);
    ask(&http, &a, &channel, "m1", "remind me to stretch").await;
    a.kill();

    // `b`'s clock is past everything `a` scheduled.
    let mut b_args = args.to_vec();
    let offset = (DELAY_MS + 1_000).to_string();
    b_args.extend(["--clock-offset-ms".into(), offset]);
    let b = BotProcess::start_program(REMINDER_BOT, "b", &b_args);
    ticks_pass(&http, &b, 25).await;
    assert_eq!(
        reminders(&channel).len(),
        0,
        "memory storage outlived a SIGKILL?"
    );

    // `b` itself does deliver the reminders it stores.
    ask(&http, &b, &channel, "m2", "remind me to check the control").await;
    let advance = json!({"advanceMs": DELAY_MS + 1_000});
    let (status, _) = post_json(&http, &format!("{}/clock", b.url), &advance).await;
    assert_eq!(status, 200);
    wait_until(TIMEOUT, "b sends its own reminder", || async {
        (!reminders(&channel).is_empty()).then_some(())
    })
    .await;
    ticks_pass(&http, &b, 10).await;
    let sent: Vec<String> = reminders(&channel).into_iter().map(|r| r.text).collect();
    assert_eq!(sent, ["Reminder: to check the control"]);
}

/// Sends `text` from the user to `bot` and waits for the bot's `OK` reply to it.
async fn ask(
    http: &reqwest::Client,
    bot: &BotProcess,
    channel: &FakeChannel,
    id: &str,
    text: &str,
) {
    let before = channel.len();
    let message = activity(channel.url(), CONVERSATION, USER, id, text);
    deliver(http, &bot.messages_url(), &message).await;
    let n = channel.wait_for(before + 1, Duration::ZERO, TIMEOUT).await;
    assert_eq!(n, before + 1, "{:?}", channel.arrivals());
    let reply = &channel.arrivals()[before];
    assert_eq!(reply.text, OK);
    assert_eq!(
        reply.path,
        format!("/v3/conversations/{CONVERSATION}/activities/{id}"),
        "a reply to the request"
    );
}

/// The reminders the channel got so far.
fn reminders(channel: &FakeChannel) -> Vec<Arrival> {
    let arrivals = channel.arrivals();
    let reminders = arrivals
        .into_iter()
        .filter(|a| a.text.starts_with("Reminder: "));
    reminders.collect()
}

/// Waits until `bot` has run `n` more scheduler ticks (without a tick error).
async fn ticks_pass(http: &reqwest::Client, bot: &BotProcess, n: u64) {
    let stats_url = format!("{}/stats", bot.url);
    let ticks = |stats: &Value| stats["ticks"].as_u64().unwrap();
    let first = get_json(http, &stats_url).await.1;
    let target = ticks(&first) + n;
    let last = wait_until(TIMEOUT, "the scheduler loop ticks", || async {
        let stats = get_json(http, &stats_url).await.1;
        (ticks(&stats) >= target).then_some(stats)
    })
    .await;
    assert_eq!(last["tickErrors"], 0, "{last}");
}
