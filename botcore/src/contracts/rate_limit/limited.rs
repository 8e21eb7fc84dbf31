//! [`RateLimited`]: the connector wrapper, its waits and its `429` retries.

use super::buckets::Buckets;
use super::pauses::Pauses;
use super::{RateLimits, Sleeper, TokioSleeper};
use crate::contracts::address::Address;
use crate::contracts::clock::Clock;
use crate::contracts::connector::{Connector, DeliveryError, Receipt};
use crate::contracts::message::Message;
use crate::contracts::telemetry;
use async_trait::async_trait;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Where a call goes: its channel and, when it has one, its conversation.
pub(super) struct Target<'a> {
    pub(super) channel: &'a str,
    pub(super) conversation: Option<String>,
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
/// answers. See the [module docs](super).
pub struct RateLimited<C> {
    inner: C,
    limits: RateLimits,
    buckets: Buckets,
    pauses: Pauses,
    clock: Arc<dyn Clock>,
    sleeper: Arc<dyn Sleeper>,
}

impl<C: Debug> Debug for RateLimited<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimited")
            .field("inner", &self.inner)
            .field("limits", &self.limits)
            .field("conversations", &self.buckets.conversations())
            .finish_non_exhaustive()
    }
}

impl<C: Connector> RateLimited<C> {
    /// Wraps `inner`, reading a monotonic clock and sleeping on the tokio timer.
    pub fn new(inner: C, limits: RateLimits) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(MonotonicClock::new());
        Self {
            inner,
            buckets: Buckets::new(&limits, &clock),
            pauses: Pauses::default(),
            limits,
            clock,
            sleeper: Arc::new(TokioSleeper),
        }
    }

    /// Reads time from `clock` (it must move with the sleeper: virtual time in tests).
    ///
    /// The buckets are made anew on that clock: call this before the first send.
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self.buckets = Buckets::new(&self.limits, &self.clock);
        self.pauses = Pauses::default();
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
        self.buckets.conversations()
    }

    fn now_us(&self) -> u64 {
        self.clock.now_ms().saturating_mul(1_000)
    }

    /// Waits until no pause holds `target` and its buckets give it a token, unless that would
    /// take longer than what is left of `max_wait` since `start`.
    async fn acquire(&self, target: &Target<'_>, start: u64) -> Result<(), DeliveryError> {
        loop {
            let now = self.now_us();
            // A waiting send holds no token: it asks again once the pause or the bucket that
            // held it back says it may go.
            let wait = match self.pauses.remaining(target, now) {
                Some(wait) => wait,
                None => match self
                    .buckets
                    .take(target.channel, target.conversation.as_deref())
                {
                    Ok(()) => return Ok(()),
                    Err(wait) => micros(wait),
                },
            };
            let budget = micros(self.limits.max_wait).saturating_sub(now.saturating_sub(start));
            if wait > budget {
                telemetry::rate_limit_refused();
                return Err(DeliveryError::Throttled {
                    retry_after: Some(Duration::from_micros(wait)),
                });
            }
            telemetry::rate_limit_wait(Duration::from_micros(wait));
            self.sleeper.sleep(Duration::from_micros(wait)).await;
        }
    }

    /// Pauses the conversation of `target` (and its channel, when the channel is paused as a
    /// whole) for `pause`. Returns whether anything holds the pause.
    fn pause(&self, target: &Target<'_>, pause: Duration) -> bool {
        let now = self.now_us();
        let until = now.saturating_add(micros(pause));
        let max = self.limits.max_conversations;
        let mut held = false;
        if let Some(key) = target.conversation.as_deref() {
            self.pauses.pause(key, now, until, max);
            held = true;
        }
        if self.limits.pause_channel_on_429.contains(target.channel) {
            self.pauses.pause(target.channel, now, until, max);
            held = true;
        }
        held
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
        let mut retries = 0;
        loop {
            self.acquire(&target, start).await?;
            match op().await {
                Err(DeliveryError::Throttled { retry_after }) => {
                    // The target is paused even when no retry follows, so later sends
                    // respect the channel's `Retry-After` too.
                    let pause = retry_after.unwrap_or_else(|| self.backoff(retries + 1));
                    let held = self.pause(&target, pause);
                    telemetry::channel_throttled(pause);
                    if retries >= self.limits.max_retries {
                        return Err(DeliveryError::Throttled { retry_after });
                    }
                    retries += 1;
                    telemetry::send_retried(retries);
                    tracing::debug!(?pause, retries, "throttled by the channel; pausing");
                    // Nothing holds a pause for a target without a conversation (starting a
                    // conversation on a channel not paused as a whole): wait it out here.
                    if !held {
                        let elapsed = self.now_us().saturating_sub(start);
                        if micros(pause) > micros(self.limits.max_wait).saturating_sub(elapsed) {
                            telemetry::rate_limit_refused();
                            return Err(DeliveryError::Throttled {
                                retry_after: Some(pause),
                            });
                        }
                        telemetry::rate_limit_wait(pause);
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
