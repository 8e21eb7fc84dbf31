//! [`RateLimited`]: a [`Connector`] wrapper that keeps sends under the channel's rate limits.
//!
//! Every send takes a token from its conversation's bucket and, when the channel has a limit,
//! from the channel's bucket. Without a free token the send waits (asynchronously) for the
//! next one, up to [`RateLimits::max_wait`] in all; a send whose next token is further away
//! than what is left of that fails at once with [`DeliveryError::Throttled`] and the inner
//! connector is not called. When the channel still answers `429` ([`DeliveryError::Throttled`]
//! from the inner connector), the conversation (and the channel, for channels listed in
//! [`RateLimits::pause_channel_on_429`]) is paused for the `Retry-After` the channel asked for
//! and the send is tried again, at most [`RateLimits::max_retries`] times: a `429` means the
//! message was not accepted, so a retry cannot duplicate it.
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
//! **Buckets.** The buckets are [`governor`] rate limiters (GCRA): a keyed limiter holds every
//! conversation's bucket, each channel named with [`RateLimits::with_channel`] has a limiter
//! of its own, and a keyed limiter holds the buckets of the other channels when there is a
//! [`RateLimits::default_channel`]. The limiters read the same [`Clock`] as the rest of the
//! wrapper. A bucket is one time stamp (when it will be full again), so a full bucket carries
//! nothing and can be forgotten. The keyed buckets live in governor's hash-map stores, split
//! in shards so that sends to different conversations seldom wait for the same lock (held
//! only for governor's arithmetic, never across an `await`). Whenever the buckets have doubled
//! since the last sweep, governor's `retain_recent` forgets the ones that are full again; and
//! no more than [`RateLimits::max_conversations`] are kept: when that many conversations are
//! busy at once, the ones closest to full are forgotten (they may then send up to one burst
//! early).
//!
//! A waiting send holds no token: it sleeps until the bucket that refused it says it will
//! have one and asks again, so a send dropped while it waits costs nothing, and sends waiting
//! for the same bucket are not queued: whichever asks first once a token is free takes it. A
//! send takes its conversation's token before the channel's; when the channel has none free,
//! the conversation's token is spent all the same (the conversation is held back a little
//! more than configured, never less).
//!
//! **Pauses.** A `429` pause is kept beside the buckets, by conversation (and by channel): a
//! send to a paused conversation waits until the pause is over (or fails at once when that is
//! further away than its `max_wait` allows). The pause does not touch the bucket, which goes
//! on refilling meanwhile: when the pause is over the conversation may send up to one burst.
//! A `429` to a call without a conversation (starting one) on a channel not paused as a whole
//! pauses nothing: that call waits the `Retry-After` out itself.
//!
//! **Time.** Time is read from a [`Clock`] and waited with a [`Sleeper`]: by default a
//! monotonic clock and the tokio timer; tests inject a clock and a sleeper that move virtual
//! time ([`RateLimited::with_clock`], [`RateLimited::with_sleeper`]), and the governor
//! limiters follow the injected clock.
//!
//! [`Clock`]: crate::Clock
//! [`Connector`]: crate::Connector
//! [`DeliveryError::Throttled`]: crate::DeliveryError::Throttled

mod buckets;
mod limited;
mod pauses;

pub use limited::RateLimited;

use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::time::Duration;

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
