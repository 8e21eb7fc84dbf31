//! `RateLimited`: bursts and pacing, independent conversations, channel caps, `max_wait`,
//! `429` pauses and retries, bounded memory. Time is virtual: a manual clock moved by the
//! sleeper, so every wait is measured exactly and no test sleeps for real.

mod support;

use async_trait::async_trait;
use botcore::proactive::fanout::FanOutAction;
use botcore::rate_limit::{Rate, RateLimited, RateLimits, Sleeper};
use botcore::{Bot, Clock, Connector, DeliveryError, ManualClock, Message};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use transport_mock::{Fault, MOCK_CHANNEL_ID, MockChannel, START_MS, TestBot};

/// Virtual time for the limiter: a sleeper registers its wake-up and yields; when no task has
/// moved for a few rounds (everyone is asleep), the clock jumps to the earliest wake-up.
#[derive(Clone, Debug)]
struct VirtualTime {
    clock: ManualClock,
    timers: Arc<Mutex<Timers>>,
}

#[derive(Debug, Default)]
struct Timers {
    wakes: Vec<u64>,
    epoch: u64,
    sleeps: usize,
}

impl VirtualTime {
    fn new() -> Self {
        Self::on(ManualClock::new(START_MS))
    }

    fn on(clock: ManualClock) -> Self {
        Self {
            clock,
            timers: Arc::default(),
        }
    }

    fn timers(&self) -> MutexGuard<'_, Timers> {
        self.timers.lock().unwrap()
    }

    fn elapsed_ms(&self) -> u64 {
        self.clock.now_ms() - START_MS
    }

    fn sleeps(&self) -> usize {
        self.timers().sleeps
    }
}

#[async_trait]
impl Sleeper for VirtualTime {
    async fn sleep(&self, duration: Duration) {
        let wake = self.clock.now_ms() + duration.as_micros().div_ceil(1_000) as u64;
        let mut seen = {
            let mut t = self.timers();
            t.wakes.push(wake);
            t.sleeps += 1;
            t.epoch += 1;
            t.epoch
        };
        let mut quiet = 0;
        while self.clock.now_ms() < wake {
            tokio::task::yield_now().await;
            let mut t = self.timers();
            if t.epoch != seen {
                seen = t.epoch;
                quiet = 0;
                continue;
            }
            quiet += 1;
            if quiet == 3 {
                let now = self.clock.now_ms();
                if let Some(next) = t.wakes.iter().copied().filter(|&w| w > now).min() {
                    self.clock.set(next);
                }
                t.epoch += 1;
                seen = t.epoch;
                quiet = 0;
            }
        }
        let mut t = self.timers();
        if let Some(i) = t.wakes.iter().position(|&w| w == wake) {
            t.wakes.swap_remove(i);
        }
        t.epoch += 1;
    }
}

fn to(channel: &str, conversation: &str) -> Message {
    let address = support::address(channel, "ann").with_conversation(conversation);
    Message::to(&address).text(format!("to {conversation}"))
}

fn limited(limits: RateLimits, time: &VirtualTime) -> (RateLimited<MockChannel>, MockChannel) {
    let channel = MockChannel::new();
    let connector = RateLimited::new(channel.clone(), limits)
        .with_clock(time.clock.clone())
        .with_sleeper(time.clone());
    (connector, channel)
}

/// Every call the channel answered, delivered or refused.
fn calls(channel: &MockChannel) -> usize {
    channel.sent_len() + channel.failed().len()
}

#[tokio::test]
async fn a_burst_goes_out_at_once_then_sends_are_paced() {
    let time = VirtualTime::new();
    let (rl, channel) = limited(RateLimits::new(Rate::new(3, 2.0)), &time);
    let mut at = Vec::new();
    for _ in 0..7 {
        rl.send(&to(MOCK_CHANNEL_ID, "c1")).await.unwrap();
        at.push(time.elapsed_ms());
    }
    assert_eq!(at, [0, 0, 0, 500, 1_000, 1_500, 2_000]);
    assert_eq!(channel.sent_len(), 7);
    // After a quiet period the burst is back.
    time.clock.advance(Duration::from_secs(10));
    let before = time.elapsed_ms();
    for _ in 0..3 {
        rl.send(&to(MOCK_CHANNEL_ID, "c1")).await.unwrap();
    }
    assert_eq!(time.elapsed_ms(), before);
}

#[tokio::test]
async fn conversations_do_not_slow_each_other() {
    let time = VirtualTime::new();
    let (rl, channel) = limited(RateLimits::new(Rate::new(1, 1.0)), &time);
    let five = |conversation: &'static str| {
        let rl = &rl;
        async move {
            for _ in 0..5 {
                rl.send(&to(MOCK_CHANNEL_ID, conversation)).await.unwrap();
            }
        }
    };
    tokio::join!(five("a"), five("b"));
    // One a second each, side by side: 4 s, not the 9 s of one shared bucket.
    assert_eq!(time.elapsed_ms(), 4_000);
    assert_eq!(channel.sent_to("a").len(), 5);
    assert_eq!(channel.sent_to("b").len(), 5);
    // "a" is out of tokens; "b" and a third conversation are not held up by it.
    rl.send(&to(MOCK_CHANNEL_ID, "a")).await.unwrap();
    let sleeps = time.sleeps();
    rl.send(&to(MOCK_CHANNEL_ID, "c")).await.unwrap();
    assert_eq!(time.sleeps(), sleeps, "a fresh conversation never waits");
}

#[tokio::test]
async fn a_channel_cap_is_shared_by_every_conversation_of_the_channel() {
    let time = VirtualTime::new();
    let limits = RateLimits::new(Rate::new(10, 10.0))
        .with_channel(MOCK_CHANNEL_ID, Rate::new(2, 2.0))
        .with_default_channel(Rate::new(1, 1.0));
    let (rl, channel) = limited(limits, &time);
    let time = &time;
    let sends = (0..6).map(|i| {
        let rl = &rl;
        async move {
            rl.send(&to(MOCK_CHANNEL_ID, &format!("c{i}")))
                .await
                .unwrap();
            time.elapsed_ms()
        }
    });
    let mut at = futures::future::join_all(sends).await;
    at.sort();
    // Six conversations, one send each: the channel's 2 at once, then 2 a second.
    assert_eq!(at, [0, 0, 500, 1_000, 1_500, 2_000]);
    assert_eq!(channel.sent_len(), 6);
    // Another channel has its own bucket (the default rate: 1 at once, then 1 a second).
    let start = time.elapsed_ms();
    rl.send(&to("other", "x1")).await.unwrap();
    assert_eq!(time.elapsed_ms(), start, "not held up by the busy channel");
    rl.send(&to("other", "x2")).await.unwrap();
    assert_eq!(time.elapsed_ms(), start + 1_000);
}

#[tokio::test]
async fn a_send_that_would_wait_past_max_wait_fails_without_calling_the_channel() {
    let time = VirtualTime::new();
    let limits = RateLimits::new(Rate::new(1, 1.0)).with_max_wait(Duration::from_millis(500));
    let (rl, channel) = limited(limits, &time);
    rl.send(&to(MOCK_CHANNEL_ID, "c1")).await.unwrap();
    let err = rl.send(&to(MOCK_CHANNEL_ID, "c1")).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Throttled {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert!(err.is_retry_safe());
    assert_eq!(
        calls(&channel),
        1,
        "the refused send never reached the channel"
    );
    assert_eq!(
        (time.elapsed_ms(), time.sleeps()),
        (0, 0),
        "and did not wait"
    );
    // The refused send took no token: a second later the next one goes straight out.
    time.clock.advance(Duration::from_secs(1));
    rl.send(&to(MOCK_CHANNEL_ID, "c1")).await.unwrap();
    assert_eq!((calls(&channel), time.sleeps()), (2, 0));
}

#[tokio::test]
async fn a_429_pauses_the_conversation_and_the_send_is_retried_and_delivered_once() {
    let time = VirtualTime::new();
    let (rl, channel) = limited(RateLimits::new(Rate::new(5, 5.0)), &time);
    channel.fail_next_for("ann", Fault::Throttled(Duration::from_secs(3)));
    let first = to(MOCK_CHANNEL_ID, "a");
    let (a, other_done_at) = tokio::join!(rl.send(&first), async {
        rl.send(&to(MOCK_CHANNEL_ID, "b")).await.unwrap();
        time.elapsed_ms()
    });
    a.unwrap();
    assert_eq!(time.elapsed_ms(), 3_000, "retried after the Retry-After");
    assert_eq!(channel.failed().len(), 1);
    assert_eq!(channel.sent_to("a").len(), 1, "delivered exactly once");
    assert_eq!(calls(&channel), 3, "a twice (429, then accepted), b once");
    assert_eq!(other_done_at, 0, "another conversation is not paused");
}

#[tokio::test]
async fn a_429_from_a_channel_limited_per_bot_pauses_the_whole_channel() {
    let time = VirtualTime::new();
    let limits = RateLimits::new(Rate::new(5, 5.0)).with_channel_pause_on_429(MOCK_CHANNEL_ID);
    let (rl, channel) = limited(limits, &time);
    channel.fail_next_for("ann", Fault::Throttled(Duration::from_secs(3)));
    let first = to(MOCK_CHANNEL_ID, "a");
    let (a, other_done_at) = tokio::join!(rl.send(&first), async {
        rl.send(&to(MOCK_CHANNEL_ID, "b")).await.unwrap();
        time.elapsed_ms()
    });
    a.unwrap();
    assert_eq!(
        other_done_at, 3_000,
        "the other conversation waited for the pause"
    );
    assert_eq!((channel.sent_len(), channel.failed().len()), (2, 1));
}

#[tokio::test]
async fn retries_after_429_are_bounded() {
    let time = VirtualTime::new();
    let limits = RateLimits::new(Rate::new(5, 5.0))
        .with_max_retries(2)
        .with_max_wait(Duration::from_secs(10));
    let (rl, channel) = limited(limits, &time);
    for _ in 0..3 {
        channel.fail_next(Fault::Throttled(Duration::from_secs(1)));
    }
    let err = rl.send(&to(MOCK_CHANNEL_ID, "a")).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Throttled {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert_eq!(
        (calls(&channel), channel.sent_len()),
        (3, 0),
        "1 try + 2 retries"
    );
    assert_eq!(time.elapsed_ms(), 2_000);

    // A Retry-After longer than max_wait is not waited for: the caller gets it back.
    channel.fail_next(Fault::Throttled(Duration::from_secs(60)));
    let start = time.elapsed_ms();
    let err = rl.send(&to(MOCK_CHANNEL_ID, "b")).await.unwrap_err();
    assert_eq!(
        err,
        DeliveryError::Throttled {
            retry_after: Some(Duration::from_secs(60))
        }
    );
    assert_eq!(calls(&channel), 4, "the channel was asked once");
    assert_eq!(time.elapsed_ms(), start);
    // The pause holds for later sends to that conversation too.
    assert!(rl.send(&to(MOCK_CHANNEL_ID, "b")).await.is_err());
    assert_eq!(calls(&channel), 4);
}

#[tokio::test]
async fn buckets_are_bounded_and_only_full_ones_are_forgotten_first() {
    // All busy at once: the hard cap holds.
    let time = VirtualTime::new();
    let limits = RateLimits::new(Rate::new(1, 1.0)).with_max_conversations(64);
    let (rl, _) = limited(limits, &time);
    for i in 0..2_000 {
        rl.send(&to(MOCK_CHANNEL_ID, &format!("c{i}")))
            .await
            .unwrap();
        assert!(rl.tracked_conversations() <= 64);
    }
    assert!(rl.tracked_conversations() > 0);

    // Conversations going quiet: their buckets refill and are swept, well under the cap.
    let time = VirtualTime::new();
    let (rl, _) = limited(RateLimits::new(Rate::new(1, 1.0)), &time);
    for round in 0..50 {
        for i in 0..100 {
            rl.send(&to(MOCK_CHANNEL_ID, &format!("r{round}-{i}")))
                .await
                .unwrap();
        }
        time.clock.advance(Duration::from_secs(2));
    }
    let tracked = rl.tracked_conversations();
    assert!(
        tracked < 1_200,
        "{tracked} buckets kept for 5,000 conversations"
    );
    // A conversation that just sent is still limited, whatever was swept around it.
    rl.send(&to(MOCK_CHANNEL_ID, "busy")).await.unwrap();
    for i in 0..1_000 {
        rl.send(&to(MOCK_CHANNEL_ID, &format!("late-{i}")))
            .await
            .unwrap();
    }
    let start = time.elapsed_ms();
    rl.send(&to(MOCK_CHANNEL_ID, "busy")).await.unwrap();
    assert_eq!(time.elapsed_ms() - start, 1_000);
}

#[tokio::test]
async fn a_bot_behind_a_rate_limited_connector_fans_out_under_the_channel_cap() {
    let quiet = || Bot::builder().dialog("/", support::ends_at_once());
    let t = TestBot::new(quiet());
    let users = ["ann", "bo", "cy", "dee", "eve", "fay"];
    for u in users {
        t.user(u).say("hi").await;
    }
    let time = VirtualTime::on(t.clock.clone());
    let limits =
        RateLimits::new(Rate::new(3, 1.0)).with_channel(MOCK_CHANNEL_ID, Rate::new(2, 2.0));
    let connector = RateLimited::new(t.channel.clone(), limits)
        .with_clock(t.clock.clone())
        .with_sleeper(time.clone());
    let bot = support::bot_sending_through(&t, quiet(), connector);
    let addresses = users.iter().map(|u| t.user(u).address).collect();
    let news = FanOutAction::Message(Message::default().text("news"));
    let results = bot.fan_out(addresses, news).concurrency(6).await;
    assert!(results.iter().all(|r| r.result.is_ok()));
    assert_eq!(time.elapsed_ms(), 2_000, "2 at once, then 2 a second");
    for u in users {
        assert_eq!(t.user(u).new_texts(), ["news"]);
    }
}
