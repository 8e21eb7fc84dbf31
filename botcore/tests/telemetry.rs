//! The metrics botcore records, read from a recorder installed for the test's thread (the
//! tests run on a current-thread runtime): turns by kind and outcome, deliveries by outcome,
//! `429`s and pauses, scheduler ticks and jobs, fan-out recipients.

use botcore::proactive::fanout::FanOutAction;
use botcore::rate_limit::{Rate, RateLimited, RateLimits};
use botcore::telemetry::*;
use botcore::{Bot, BotBuilder, JobAction, Message, StepError};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use std::time::Duration;
use transport_mock::{Fault, MockChannel, TestBot};

/// A metric's name and labels.
type Series = (String, Vec<(String, String)>);

/// What the recorder holds, at one moment.
struct Recorded(Vec<(Series, DebugValue)>);

impl Recorded {
    fn take(snapshotter: &Snapshotter) -> Self {
        let all = snapshotter.snapshot().into_vec().into_iter();
        Self(
            all.map(|(key, _, _, value)| {
                let key = key.key();
                let labels = key.labels();
                let labels = labels.map(|l| (l.key().to_owned(), l.value().to_owned()));
                ((key.name().to_owned(), labels.collect()), value)
            })
            .collect(),
        )
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<&DebugValue> {
        self.0.iter().find_map(|((n, l), v)| {
            let same = l.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, want)| l.iter().any(|(lk, lv)| lk == k && lv == want));
            (n == name && same).then_some(v)
        })
    }

    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        match self.value(name, labels) {
            Some(DebugValue::Counter(n)) => *n,
            _ => 0,
        }
    }

    fn gauge(&self, name: &str) -> Option<f64> {
        match self.value(name, &[]) {
            Some(DebugValue::Gauge(g)) => Some(g.into_inner()),
            _ => None,
        }
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        match self.value(name, labels) {
            Some(DebugValue::Histogram(h)) => h.iter().map(|v| v.into_inner()).collect(),
            _ => Vec::new(),
        }
    }
}

/// A recorder for this thread, for as long as the guard lives.
fn record() -> (Snapshotter, metrics::LocalRecorderGuard<'static>) {
    let recorder: &'static DebuggingRecorder = Box::leak(Box::new(DebuggingRecorder::new()));
    (
        recorder.snapshotter(),
        metrics::set_default_local_recorder(recorder),
    )
}

fn echo() -> BotBuilder {
    Bot::builder()
        .dialog_fn("/", async |s, _| {
            s.send(format!("echo: {}", s.text()));
            s.end_dialog();
        })
        .dialog_fn("notice", async |s, _| {
            s.send("A notice.");
            s.end_dialog();
        })
}

#[tokio::test]
async fn turns_and_deliveries_are_counted_by_kind_and_outcome() {
    let (snapshotter, _guard) = record();
    let failing = echo().dialog_fn("fail", async |_, _| -> Result<(), StepError> {
        Err(StepError::msg("broken"))
    });
    let test = TestBot::new(failing);
    let ann = test.user("ann");
    ann.say("hi").await.expect(&["echo: hi"]);
    test.channel.fail_next(Fault::Forbidden);
    ann.say("again").await;
    test.bot
        .proactive(&ann.address)
        .begin("notice")
        .interrupt()
        .await
        .unwrap();
    test.bot
        .proactive(&ann.address)
        .begin("fail")
        .interrupt()
        .await
        .unwrap_err();

    let m = Recorded::take(&snapshotter);
    let user_ok = [("kind", "user"), ("outcome", "ok")];
    assert_eq!(m.counter(TURNS_TOTAL, &user_ok), 2);
    let proactive_ok = [("kind", "proactive"), ("outcome", "ok")];
    assert_eq!(m.counter(TURNS_TOTAL, &proactive_ok), 1);
    let proactive_failed = [("kind", "proactive"), ("outcome", "failed")];
    assert_eq!(m.counter(TURNS_TOTAL, &proactive_failed), 1);
    assert_eq!(m.counter(DELIVERIES_TOTAL, &[("outcome", "ok")]), 2);
    assert_eq!(m.counter(DELIVERIES_TOTAL, &[("outcome", "permanent")]), 1);
    let latencies = m.histogram(TURN_DURATION_SECONDS, &[("kind", "user")]);
    assert_eq!(latencies.len(), 2);
    assert!(
        latencies.iter().all(|s| (0.0..10.0).contains(s)),
        "{latencies:?}"
    );
    assert_eq!(m.counter(TURN_CONFLICTS_TOTAL, &[("kind", "user")]), 0);
}

#[tokio::test]
async fn a_failed_step_counts_a_reset_turn() {
    let (snapshotter, _guard) = record();
    let bot = Bot::builder().dialog_fn("/", async |_, _| -> Result<(), StepError> {
        Err(StepError::msg("broken"))
    });
    let test = TestBot::new(bot);
    let replies = test.user("ann").say("hi").await;
    assert!(replies.error().is_some());

    let m = Recorded::take(&snapshotter);
    assert_eq!(
        m.counter(TURNS_TOTAL, &[("kind", "user"), ("outcome", "reset")]),
        1
    );
    // The error message and the endOfConversation went out.
    assert_eq!(m.counter(DELIVERIES_TOTAL, &[("outcome", "ok")]), 2);
}

#[tokio::test]
async fn a_429_counts_a_pause_and_the_retry_succeeds() {
    let (snapshotter, _guard) = record();
    let channel = MockChannel::new();
    let limits = RateLimits::new(Rate::new(10, 10.0)).with_max_wait(Duration::from_secs(2));
    let connector = RateLimited::new(channel.clone(), limits);
    let test = TestBot::new(echo());
    let bot = echo()
        .connector(connector)
        .storage(test.storage.clone())
        .build()
        .unwrap();
    let ann = test.user("ann");
    let mut hi = Message::to(&ann.address).text("hi");
    hi.address.id = Some("m1".into());
    channel.fail_next(Fault::Throttled(Duration::from_millis(20)));
    bot.receive(hi).await.unwrap();
    assert_eq!(channel.sent_len(), 1);

    let m = Recorded::take(&snapshotter);
    assert_eq!(m.counter(RATE_LIMIT_THROTTLED_TOTAL, &[]), 1);
    assert_eq!(m.histogram(RATE_LIMIT_PAUSE_SECONDS, &[]), [0.02]);
    let waits = m.histogram(RATE_LIMIT_WAIT_SECONDS, &[]);
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0] > 0.0 && waits[0] <= 0.02, "{waits:?}");
    assert_eq!(m.counter(DELIVERIES_TOTAL, &[("outcome", "ok")]), 1);
}

#[tokio::test]
async fn scheduler_ticks_count_due_jobs_and_their_lag() {
    let (snapshotter, _guard) = record();
    let test = TestBot::new(echo());
    let ann = test.user("ann");
    ann.say("hi").await;
    let reminder = JobAction::message(Message::to(&ann.address).text("Stand-up"));
    let scheduler = test.bot.scheduler();
    scheduler
        .after(Duration::from_secs(60), &ann.address, reminder)
        .await
        .unwrap();
    assert_eq!(test.tick().await, 0);
    assert_eq!(test.advance(Duration::from_secs(61)).await, 1);

    let m = Recorded::take(&snapshotter);
    assert_eq!(m.counter(SCHEDULER_TICKS_TOTAL, &[("outcome", "ok")]), 2);
    assert_eq!(m.counter(SCHEDULER_JOBS_TOTAL, &[("outcome", "done")]), 1);
    assert_eq!(m.histogram(SCHEDULER_LAG_SECONDS, &[]), [1.0]);
    assert_eq!(m.gauge(SCHEDULER_DUE_JOBS), Some(1.0));
}

#[tokio::test]
async fn fan_out_recipients_are_counted_as_they_return() {
    let (snapshotter, _guard) = record();
    let test = TestBot::new(echo());
    let (ann, bob) = (test.user("ann"), test.user("bob"));
    ann.say("hi").await;
    bob.say("hi").await;
    test.channel.fail_next_for("bob", Fault::Forbidden);
    let everyone = vec![ann.address.clone(), bob.address.clone()];
    let results = test
        .bot
        .fan_out(everyone, FanOutAction::message("News"))
        .await;
    assert_eq!(results.iter().filter(|r| r.result.is_ok()).count(), 1);

    let m = Recorded::take(&snapshotter);
    assert_eq!(m.counter(FANOUT_RUNS_TOTAL, &[]), 1);
    assert_eq!(m.gauge(FANOUT_ACTIVE), Some(0.0));
    assert_eq!(
        m.counter(FANOUT_RECIPIENTS_TOTAL, &[("outcome", "done")]),
        1
    );
    assert_eq!(
        m.counter(FANOUT_RECIPIENTS_TOTAL, &[("outcome", "failed")]),
        1
    );
}
