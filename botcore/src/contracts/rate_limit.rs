//! [`RateLimited`]: a [`Connector`] wrapper that keeps sends under the channel's rate limits.
//!
//! Every send takes a token from its conversation's bucket and, when the channel has a limit,
//! from the channel's bucket. Without a free token the send waits (asynchronously) for the
//! next one, up to [`RateLimits::max_wait`]; a send that would wait longer fails at once with
//! [`DeliveryError::Throttled`] and the inner connector is not called. When the channel still
//! answers `429` ([`DeliveryError::Throttled`] from the inner connector), the conversation's
//! bucket (and the channel's, for channels listed in [`RateLimits::pause_channel_on_429`]) is
//! paused for the `Retry-After` the channel asked for and the send is tried again, at most
//! [`RateLimits::max_retries`] times: a `429` means the message was not accepted, so a retry
//! cannot duplicate it.
//!
//! ```
//! use botcore::rate_limit::{Rate, RateLimited, RateLimits};
//! use botcore::{Address, ChannelAccount, Connector, Message};
//! use std::time::Duration;
//! use transport_mock::{MOCK_CHANNEL_ID, MockChannel};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let limits = RateLimits::new(Rate::new(3, 1.0)) // per conversation: 3 at once, then 1 a second
//!     .with_channel(MOCK_CHANNEL_ID, Rate::new(30, 30.0))
//!     .with_max_wait(Duration::from_secs(5));
//! let connector = RateLimited::new(MockChannel::new(), limits);
//! let (ann, bot) = (ChannelAccount::new("ann"), ChannelAccount::new("bot"));
//! let to = Address::new(MOCK_CHANNEL_ID, ann, bot)
//!     .with_conversation("c1")
//!     .with_service_url("https://mock.channel.invalid");
//! assert!(connector.send(&Message::to(&to).text("hi")).await.is_ok());
//! # }
//! ```
//!
//! Wrap the transport's connector before giving it to the bot
//! (`Bot::builder().connector(RateLimited::new(http, limits))`). A transport that retries `429`
//! by itself (transport-http does, see its `retry` settings) should be told not to, so that the
//! channel's answer reaches this wrapper and pauses the other sends to the same conversation.
//!
//! **Buckets.** Each bucket is a GCRA token bucket: it stores one time stamp (when it will be
//! full again), so a bucket that is full carries no information and can be forgotten. Buckets
//! live in sharded maps behind `std` mutexes held only for the arithmetic (never across an
//! `await`), so sends to different conversations do not queue behind one lock. A shard is swept
//! of full buckets whenever it has doubled since the last sweep, and never holds more than its
//! share of [`RateLimits::max_conversations`]: when that many conversations are busy at once,
//! the one closest to full is forgotten (it may then send up to one burst early).
//!
//! A send waiting for its token holds it: if the caller drops the send, the token is lost
//! (the bucket is, if anything, stricter than configured).
//!
//! **Time.** Time is read from a [`Clock`] and waited with a [`Sleeper`]: by default a
//! monotonic clock and the tokio timer; tests inject a clock and a sleeper that move virtual
//! time ([`RateLimited::with_clock`], [`RateLimited::with_sleeper`]).

use crate::contracts::address::Address;
use crate::contracts::clock::Clock;
use crate::contracts::connector::{Connector, DeliveryError, Receipt};
use crate::contracts::message::Message;
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A token-bucket rate: `burst` sends at once, then `per_second` on average.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    /// How many sends may go out back to back after a quiet period (at least 1).
    pub burst: u32,
    /// The sustained rate. Zero, negative or NaN: the bucket never refills (only the burst).
    pub per_second: f64,
}

impl Rate {
    /// `burst` at once, then `per_second`.
    pub const fn new(burst: u32, per_second: f64) -> Self {
        Self { burst, per_second }
    }

    fn gcra(&self) -> Gcra {
        // Capped so that `now + interval * burst` cannot overflow: a rate that (nearly) never
        // refills must still stop at its burst instead of saturating into "always allowed".
        let cap = (1u64 << 52) / u64::from(self.burst.max(1));
        let interval = if self.per_second > 0.0 && self.per_second.is_finite() {
            ((1_000_000.0 / self.per_second).round() as u64).clamp(1, cap)
        } else {
            // Never refills: one "interval" longer than any wait anyone will accept.
            cap
        };
        Gcra {
            interval,
            tolerance: interval.saturating_mul(u64::from(self.burst.max(1) - 1)),
        }
    }
}

/// The limits a [`RateLimited`] connector keeps.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RateLimits {
    /// Every conversation's own bucket.
    pub per_conversation: Rate,
    /// Buckets shared by every conversation of a channel, by channel id.
    pub per_channel: HashMap<String, Rate>,
    /// The channel bucket of channels not in `per_channel` (`None`: no channel limit).
    pub default_channel: Option<Rate>,
    /// The longest a send waits for a token (in total, including pauses after `429`s).
    pub max_wait: Duration,
    /// How many times a send answered `429` is tried again.
    pub max_retries: u32,
    /// The pause after a `429` without `Retry-After` (doubled on each retry, with jitter).
    pub retry_backoff: Duration,
    /// Channels whose `429` pauses every conversation of the channel, not just the one that
    /// was answered (for channels whose limit is per bot rather than per conversation).
    pub pause_channel_on_429: HashSet<String>,
    /// The most conversation buckets kept in memory.
    pub max_conversations: usize,
}

impl Default for RateLimits {
    /// A conservative default: per conversation a burst of 3, then one a second; no channel
    /// limit; waits up to 10 s; 3 retries after a `429`; up to 100,000 buckets.
    fn default() -> Self {
        Self::new(Rate::new(3, 1.0))
    }
}

impl RateLimits {
    /// `per_conversation` for every conversation, and the defaults for everything else.
    pub fn new(per_conversation: Rate) -> Self {
        Self {
            per_conversation,
            per_channel: HashMap::new(),
            default_channel: None,
            max_wait: Duration::from_secs(10),
            max_retries: 3,
            retry_backoff: Duration::from_secs(1),
            pause_channel_on_429: HashSet::new(),
            max_conversations: 100_000,
        }
    }

    /// Limits every conversation of `channel_id` together to `rate`.
    pub fn with_channel(mut self, channel_id: impl Into<String>, rate: Rate) -> Self {
        self.per_channel.insert(channel_id.into(), rate);
        self
    }

    /// Limits each channel not named with [`with_channel`](Self::with_channel) to `rate`.
    pub fn with_default_channel(mut self, rate: Rate) -> Self {
        self.default_channel = Some(rate);
        self
    }

    /// Sets [`max_wait`](Self::max_wait).
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Sets [`max_retries`](Self::max_retries).
    pub fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets [`retry_backoff`](Self::retry_backoff).
    pub fn with_retry_backoff(mut self, backoff: Duration) -> Self {
        self.retry_backoff = backoff;
        self
    }

    /// A `429` from `channel_id` pauses the whole channel.
    pub fn with_channel_pause_on_429(mut self, channel_id: impl Into<String>) -> Self {
        self.pause_channel_on_429.insert(channel_id.into());
        self
    }

    /// Sets [`max_conversations`](Self::max_conversations).
    pub fn with_max_conversations(mut self, max: usize) -> Self {
        self.max_conversations = max;
        self
    }

    fn channel_rate(&self, channel_id: &str) -> Option<Rate> {
        self.per_channel
            .get(channel_id)
            .copied()
            .or(self.default_channel)
    }
}

/// Waits: how a [`RateLimited`] connector lets time pass.
#[async_trait]
pub trait Sleeper: Send + Sync + Debug + 'static {
    /// Returns after `duration` (as the clock given with it measures time).
    async fn sleep(&self, duration: Duration);
}

/// Sleeps on the tokio timer (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

#[async_trait]
impl Sleeper for TokioSleeper {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// Wall-clock milliseconds that never go backwards (the default clock of the limiter).
#[derive(Debug)]
struct MonotonicClock {
    base_ms: u64,
    start: Instant,
}

impl MonotonicClock {
    fn new() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self {
            base_ms,
            start: Instant::now(),
        }
    }
}

impl Clock for MonotonicClock {
    fn now_ms(&self) -> u64 {
        self.base_ms + self.start.elapsed().as_millis() as u64
    }
}

/// GCRA parameters in microseconds: one token per `interval`, `tolerance` of burst.
#[derive(Clone, Copy, Debug)]
struct Gcra {
    interval: u64,
    tolerance: u64,
}

impl Gcra {
    /// A bucket that never limits, only carries pauses.
    const PAUSE_ONLY: Self = Self {
        interval: 0,
        tolerance: 0,
    };
}

/// One bucket; times in microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// The theoretical arrival time: the bucket is full again at `tat`.
    tat: u64,
    /// The end of the latest `429` pause.
    paused_until: u64,
}

impl Bucket {
    fn allowed_at(bucket: Option<&Self>, g: Gcra, now: u64) -> u64 {
        bucket.map_or(now, |b| now.max(b.tat.saturating_sub(g.tolerance)))
    }

    fn take(&mut self, g: Gcra, at: u64) {
        self.tat = self.tat.max(at).saturating_add(g.interval);
    }

    /// Empties the bucket until `until`: the next token is free then, and the burst refills
    /// at the steady rate afterwards instead of all at once.
    fn pause(&mut self, g: Gcra, until: u64) {
        self.tat = self.tat.max(until.saturating_add(g.tolerance));
        self.paused_until = self.paused_until.max(until);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

const SHARDS: usize = 16;
const MIN_SWEEP: usize = 64;

#[derive(Debug, Default)]
struct Shard {
    buckets: HashMap<String, Bucket>,
    sweep_at: usize,
}

impl Shard {
    /// The bucket of `key`, made room for if it is new.
    fn entry(&mut self, key: &str, now: u64, cap: usize) -> &mut Bucket {
        if !self.buckets.contains_key(key) {
            self.make_room(now, cap);
        }
        self.buckets.entry(key.to_owned()).or_default()
    }

    fn make_room(&mut self, now: u64, cap: usize) {
        if self.buckets.len() < self.sweep_at.max(MIN_SWEEP).min(cap) {
            return;
        }
        // A full bucket behaves exactly like a missing one: forgetting it changes nothing.
        self.buckets.retain(|_, b| b.tat > now);
        while self.buckets.len() >= cap {
            // Every bucket left is in use: forget the one that will be full soonest.
            let Some(k) = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.tat)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.buckets.remove(&k);
        }
        self.sweep_at = self.buckets.len() * 2;
    }
}

#[derive(Debug)]
struct Buckets {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
}

impl Buckets {
    fn new(max: usize) -> Self {
        let n = max.clamp(1, SHARDS);
        Self {
            shards: (0..n).map(|_| Mutex::default()).collect(),
            per_shard: (max / n).max(1),
        }
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key) as usize;
        // Only arithmetic runs under the lock: a panic there leaves consistent data.
        self.shards[h % self.shards.len()]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> usize {
        (0..self.shards.len())
            .map(|i| {
                self.shards[i]
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .buckets
                    .len()
            })
            .sum()
    }
}

/// Where a call goes: its channel and, when it has one, its conversation.
struct Target<'a> {
    channel: &'a str,
    conversation: Option<String>,
}

impl<'a> Target<'a> {
    fn of(address: &'a Address) -> Self {
        Self {
            channel: &address.channel_id,
            // The separator cannot appear in a channel id.
            conversation: address
                .conversation_id()
                .map(|c| format!("{}\u{1f}{c}", address.channel_id)),
        }
    }
}

/// A [`Connector`] that keeps per-conversation and per-channel rate limits and honours `429`
/// answers. See the [module docs](self).
pub struct RateLimited<C> {
    inner: C,
    limits: RateLimits,
    conversations: Buckets,
    channels: Buckets,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl<C: Debug> Debug for RateLimited<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimited")
            .field("inner", &self.inner)
            .field("limits", &self.limits)
            .field("conversations", &self.conversations.len())
            .finish_non_exhaustive()
    }
}

impl<C: Connector> RateLimited<C> {
    /// Wraps `inner`, reading a monotonic clock and sleeping on the tokio timer.
    pub fn new(inner: C, limits: RateLimits) -> Self {
        Self {
            inner,
            conversations: Buckets::new(limits.max_conversations),
            channels: Buckets::new(limits.max_conversations.min(1_024)),
            limits,
            clock: Arc::new(MonotonicClock::new()),
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// Reads time from `clock` (it must move with the sleeper: virtual time in tests).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Waits with `sleeper`.
    pub fn with_sleeper(mut self, sleeper: impl Sleeper) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// The wrapped connector.
    pub fn inner(&self) -> &C {
        &self.inner
    }

    /// The limits kept.
    pub fn limits(&self) -> &RateLimits {
        &self.limits
    }

    /// How many conversation buckets are in memory (at most about
    /// [`RateLimits::max_conversations`]).
    pub fn tracked_conversations(&self) -> usize {
        self.conversations.len()
    }

    fn now_us(&self) -> u64 {
        self.clock.now_ms().saturating_mul(1_000)
    }

    fn channel_gcra(&self, channel: &str) -> Option<Gcra> {
        self.limits.channel_rate(channel).map(|r| r.gcra())
    }

    /// Takes a token from each bucket of `target` at the earliest time all of them allow,
    /// unless that is more than `budget` away. Returns `(wait, reserved_at)` or the wait needed.
    fn reserve(&self, target: &Target<'_>, now: u64, budget: u64) -> Result<(u64, u64), u64> {
        let conv_g = self.limits.per_conversation.gcra();
        let chan_g = self.channel_gcra(target.channel);
        // Lock order, everywhere: conversation shard, then channel shard.
        let mut conv = target
            .conversation
            .as_deref()
            .map(|k| (k, self.conversations.shard(k)));
        let mut chan = self.channels.shard(target.channel);
        let conv_at = conv.as_ref().map_or(now, |(k, s)| {
            Bucket::allowed_at(s.buckets.get(*k), conv_g, now)
        });
        let chan_bucket = chan.buckets.get(target.channel);
        let chan_at = Bucket::allowed_at(chan_bucket, chan_g.unwrap_or(Gcra::PAUSE_ONLY), now);
        let has_chan = chan_g.is_some() || chan_bucket.is_some();
        let at = conv_at.max(chan_at);
        let wait = at - now;
        if wait > budget {
            return Err(wait);
        }
        if let Some((k, s)) = conv.as_mut() {
            s.entry(k, now, self.conversations.per_shard)
                .take(conv_g, at);
        }
        if has_chan {
            let cap = self.channels.per_shard;
            chan.entry(target.channel, now, cap)
                .take(chan_g.unwrap_or(Gcra::PAUSE_ONLY), at);
        }
        Ok((wait, at))
    }

    /// Whether a pause was put on a bucket of `target` after a token was reserved for `at`.
    fn paused_past(&self, target: &Target<'_>, at: u64) -> bool {
        let conv = target.conversation.as_deref().is_some_and(|k| {
            self.conversations
                .shard(k)
                .buckets
                .get(k)
                .is_some_and(|b| b.paused_until > at)
        });
        conv || self
            .channels
            .shard(target.channel)
            .buckets
            .get(target.channel)
            .is_some_and(|b| b.paused_until > at)
    }

    fn pause(&self, target: &Target<'_>, pause: Duration) {
        let now = self.now_us();
        let until = now.saturating_add(micros(pause));
        if let Some(k) = target.conversation.as_deref() {
            let g = self.limits.per_conversation.gcra();
            let cap = self.conversations.per_shard;
            self.conversations
                .shard(k)
                .entry(k, now, cap)
                .pause(g, until);
        }
        if self.limits.pause_channel_on_429.contains(target.channel) {
            let g = self.channel_gcra(target.channel);
            self.channels
                .shard(target.channel)
                .entry(target.channel, now, self.channels.per_shard)
                .pause(g.unwrap_or(Gcra::PAUSE_ONLY), until);
        }
    }

    /// The pause after the `retry`-th `429` that named no `Retry-After`: exponential, with jitter
    /// (between half and all of it) so throttled conversations do not come back in step.
    fn backoff(&self, retry: u32) -> Duration {
        use std::hash::{BuildHasher, RandomState};
        let full = self
            .limits
            .retry_backoff
            .saturating_mul(1 << retry.saturating_sub(1).min(16))
            .min(self.limits.max_wait);
        let r = (RandomState::new().hash_one(retry) % 1_000) as u32;
        full / 2 + full / 2 / 1_000 * r
    }

    /// Runs `op` when the buckets of `target` allow it, pausing and retrying after `429`s.
    async fn call<T, F, Fut>(&self, target: Target<'_>, op: F) -> Result<T, DeliveryError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, DeliveryError>>,
    {
        let start = self.now_us();
        let max_wait = micros(self.limits.max_wait);
        let mut retries = 0;
        loop {
            loop {
                let now = self.now_us();
                let budget = max_wait.saturating_sub(now.saturating_sub(start));
                let (wait, at) = self.reserve(&target, now, budget).map_err(|needed| {
                    DeliveryError::Throttled {
                        retry_after: Some(Duration::from_micros(needed)),
                    }
                })?;
                if wait > 0 {
                    self.sleeper.sleep(Duration::from_micros(wait)).await;
                }
                // A 429 answered to another send while this one waited: its token is void.
                if !self.paused_past(&target, at) {
                    break;
                }
            }
            match op().await {
                Err(DeliveryError::Throttled { retry_after }) => {
                    // The bucket is paused even when no retry follows, so later sends
                    // respect the channel's `Retry-After` too.
                    let pause = retry_after.unwrap_or_else(|| self.backoff(retries + 1));
                    self.pause(&target, pause);
                    if retries >= self.limits.max_retries {
                        return Err(DeliveryError::Throttled { retry_after });
                    }
                    retries += 1;
                    tracing::debug!(?pause, retries, "throttled by the channel; pausing");
                    // Nothing holds a pause for a target without a conversation (starting a
                    // conversation on a channel not paused as a whole): wait it out here.
                    if !self.paused_past(&target, self.now_us()) {
                        let now = self.now_us();
                        let budget = max_wait.saturating_sub(now.saturating_sub(start));
                        if micros(pause) > budget {
                            return Err(DeliveryError::Throttled {
                                retry_after: Some(pause),
                            });
                        }
                        self.sleeper.sleep(pause).await;
                    }
                }
                other => return other,
            }
        }
    }
}

#[async_trait]
impl<C: Connector> Connector for RateLimited<C> {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        self.call(Target::of(&message.address), || self.inner.send(message))
            .await
    }

    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        let target = Target {
            channel: &address.channel_id,
            conversation: None,
        };
        self.call(target, || self.inner.start_conversation(address))
            .await
    }

    async fn update(&self, activity_id: &str, message: &Message) -> Result<(), DeliveryError> {
        self.call(Target::of(&message.address), || {
            self.inner.update(activity_id, message)
        })
        .await
    }

    async fn delete(&self, address: &Address, activity_id: &str) -> Result<(), DeliveryError> {
        self.call(Target::of(address), || {
            self.inner.delete(address, activity_id)
        })
        .await
    }
}
