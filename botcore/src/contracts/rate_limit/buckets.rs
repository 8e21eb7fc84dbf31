//! The token buckets of [`RateLimited`](super::RateLimited), kept by `governor`.
//!
//! Governor does the GCRA arithmetic and the per-key bookkeeping; this module only maps a
//! [`Rate`] to a [`Quota`], gives governor our [`Clock`], splits the keyed maps in shards and
//! bounds how many buckets they keep.

use super::{Rate, RateLimits};
use crate::contracts::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::{HashMapStateStore, ShrinkableKeyedStateStore};
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{NotUntil, Quota, RateLimiter};
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Our [`Clock`] as governor reads time: nanoseconds since the Unix epoch.
#[derive(Clone, Debug)]
struct LimiterClock(Arc<dyn Clock>);

impl governor::clock::Clock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.0.now_ms().saturating_mul(1_000_000))
    }
}

/// `rate` in governor's terms.
fn quota(rate: Rate) -> Quota {
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    // Capped so that governor's time stamps (`now + interval * burst`, in nanoseconds since
    // the limiter was made) cannot overflow: a rate that (nearly) never refills must still
    // stop at its burst.
    let cap = (1u64 << 62) / u64::from(burst.get());
    let interval = if rate.per_second > 0.0 && rate.per_second.is_finite() {
        ((1e9 / rate.per_second).round() as u64).clamp(1, cap)
    } else {
        // Never refills: one "interval" longer than any wait anyone will accept.
        cap
    };
    Quota::with_period(Duration::from_nanos(interval))
        .expect("the interval is at least 1 ns")
        .allow_burst(burst)
}

/// How long until the refused bucket has a token.
fn wait(refused: &NotUntil<Nanos>, clock: &LimiterClock) -> Duration {
    refused.wait_time_from(governor::clock::Clock::now(clock))
}

/// One bucket of its own (a channel with a rate of its own).
type Direct = RateLimiter<NotKeyed, InMemoryState, LimiterClock, NoOpMiddleware<Nanos>>;

const SHARDS: usize = 16;
const MIN_SWEEP: usize = 64;

/// Governor's hash-map store split in shards, so that sends to different conversations seldom
/// wait for the same lock (each is held only for governor's arithmetic, never across an
/// `await`). Clones share the maps: the limiter owns one, [`Keyed`] keeps one to count and
/// evict.
#[derive(Clone, Debug)]
struct Shards(Arc<[HashMapStateStore<String>]>);

impl Shards {
    fn new(max: usize) -> Self {
        Self(
            (0..max.clamp(1, SHARDS))
                .map(|_| HashMapStateStore::default())
                .collect(),
        )
    }

    fn shard(&self, key: &str) -> &HashMapStateStore<String> {
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key) as usize;
        &self.0[h % self.0.len()]
    }

    fn contains(&self, key: &str) -> bool {
        self.shard(key).lock().contains_key(key)
    }

    /// Forgets the buckets that will be full soonest until at most `keep` are left.
    fn evict_to(&self, keep: usize) {
        let mut all: Vec<(u64, usize, String)> = Vec::new();
        for (i, shard) in self.0.iter().enumerate() {
            let map = shard.lock();
            all.extend(map.iter().map(|(k, state)| (tat(state), i, k.clone())));
        }
        let Some(n) = all.len().checked_sub(keep).filter(|&n| n > 0) else {
            return;
        };
        all.select_nth_unstable_by_key(n - 1, |(tat, ..)| *tat);
        for (_, i, k) in &all[..n] {
            self.0[*i].lock().remove(k);
        }
    }
}

/// When a bucket will be full again (its theoretical arrival time), read without changing it.
fn tat(state: &InMemoryState) -> u64 {
    let read = state.measure_and_replace(&NotKeyed::NonKey, Err::<((), Nanos), _>);
    read.err().flatten().map_or(0, Nanos::as_u64)
}

impl StateStore for Shards {
    type Key = String;

    fn measure_and_replace<T, F, E>(&self, key: &String, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.shard(key).measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<String> for Shards {
    fn retain_recent(&self, drop_below: Nanos) {
        for shard in self.0.iter() {
            shard.retain_recent(drop_below);
        }
    }

    fn len(&self) -> usize {
        self.0
            .iter()
            .map(ShrinkableKeyedStateStore::<String>::len)
            .sum()
    }

    fn is_empty(&self) -> bool {
        self.0
            .iter()
            .all(ShrinkableKeyedStateStore::<String>::is_empty)
    }
}

/// Buckets of one rate by key, at most about `max` of them in memory.
#[derive(Debug)]
struct Keyed {
    limiter: RateLimiter<String, Shards, LimiterClock, NoOpMiddleware<Nanos>>,
    shards: Shards,
    max: usize,
    /// About how many buckets there are (counted up as keys are added, set after a sweep).
    count: AtomicUsize,
    /// Twice what the last sweep left: sweeping sooner would mostly find buckets in use.
    sweep_at: AtomicUsize,
}

impl Keyed {
    fn new(rate: Rate, clock: LimiterClock, max: usize) -> Self {
        let shards = Shards::new(max);
        Self {
            limiter: RateLimiter::new(quota(rate), shards.clone(), clock),
            shards,
            max: max.max(1),
            count: AtomicUsize::new(0),
            sweep_at: AtomicUsize::new(0),
        }
    }

    /// Takes a token from `key`'s bucket, or says how long until it has one.
    fn take(&self, key: &str) -> Result<(), Duration> {
        if !self.shards.contains(key) {
            self.make_room();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|refused| wait(&refused, self.limiter.clock()))
    }

    /// Before a new bucket is added: sweeps when the buckets have doubled since the last
    /// sweep, and keeps them under `max`.
    fn make_room(&self) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let threshold = self.sweep_at.load(Ordering::Relaxed).max(MIN_SWEEP);
        if n <= threshold.min(self.max) {
            return;
        }
        // A full bucket behaves exactly like a missing one: governor forgets those.
        self.limiter.retain_recent();
        if self.limiter.len() >= self.max {
            // Every bucket left is in use: forget the ones that will be full soonest (a
            // sixteenth at a time, so that a flood of new keys does not scan on every send).
            self.shards.evict_to(self.max - 1 - self.max / SHARDS);
        }
        let len = self.limiter.len();
        self.count.store(len + 1, Ordering::Relaxed);
        self.sweep_at.store(len * 2, Ordering::Relaxed);
    }

    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// Every bucket a [`RateLimited`](super::RateLimited) connector takes tokens from.
#[derive(Debug)]
pub(super) struct Buckets {
    conversations: Keyed,
    /// Channels with a rate of their own.
    channels: HashMap<String, Direct>,
    /// The other channels, by channel id, when there is a default channel rate.
    other_channels: Option<Keyed>,
}

impl Buckets {
    /// Empty buckets for `limits`, reading time from `clock`.
    pub(super) fn new(limits: &RateLimits, clock: &Arc<dyn Clock>) -> Self {
        let clock = || LimiterClock(clock.clone());
        let max = limits.max_conversations;
        Self {
            conversations: Keyed::new(limits.per_conversation, clock(), max),
            channels: limits
                .per_channel
                .iter()
                .map(|(id, rate)| (id.clone(), Direct::direct_with_clock(quota(*rate), clock())))
                .collect(),
            other_channels: limits
                .default_channel
                .map(|rate| Keyed::new(rate, clock(), max.min(1_024))),
        }
    }

    /// Takes a token from the conversation's bucket (when there is a conversation), then from
    /// the channel's (when it has a limit), or says how long until the bucket that refused has
    /// one. When the channel refuses, the conversation's token is spent all the same.
    pub(super) fn take(&self, channel: &str, conversation: Option<&str>) -> Result<(), Duration> {
        if let Some(key) = conversation {
            self.conversations.take(key)?;
        }
        match self.channels.get(channel) {
            Some(limiter) => limiter
                .check()
                .map_err(|refused| wait(&refused, limiter.clock())),
            None => self
                .other_channels
                .as_ref()
                .map_or(Ok(()), |keyed| keyed.take(channel)),
        }
    }

    /// How many conversation buckets are in memory.
    pub(super) fn conversations(&self) -> usize {
        self.conversations.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::clock::ManualClock;

    const START_MS: u64 = 1_700_000_000_000;

    fn clock() -> (ManualClock, LimiterClock) {
        let manual = ManualClock::new(START_MS);
        (manual.clone(), LimiterClock(Arc::new(manual)))
    }

    #[test]
    fn rates_that_never_refill_stop_at_their_burst_without_overflowing() {
        for rate in [
            Rate::new(2, 0.0),
            Rate::new(2, -1.0),
            Rate::new(2, f64::NAN),
            Rate::new(2, 1e-300),
            Rate::new(u32::MAX, 0.0),
            Rate::new(0, 0.0),
        ] {
            let (manual, clock) = clock();
            let keyed = Keyed::new(rate, clock, 8);
            let burst = rate.burst.clamp(1, 3);
            for _ in 0..burst {
                assert!(keyed.take("k").is_ok(), "{rate:?}");
            }
            if rate.burst > 3 {
                continue;
            }
            manual.advance(Duration::from_secs(365 * 86_400));
            let wait = keyed.take("k").unwrap_err();
            assert!(wait > Duration::from_secs(50 * 365 * 86_400), "{rate:?}");
        }
    }

    #[test]
    fn reading_a_buckets_time_stamp_takes_no_token() {
        let (_, clock) = clock();
        let keyed = Keyed::new(Rate::new(2, 1.0), clock, 8);
        keyed.take("k").unwrap();
        for _ in 0..3 {
            let state = keyed.shards.shard("k").lock();
            assert_eq!(tat(&state["k"]), 1_000_000_000, "full again in a second");
        }
        assert!(keyed.take("k").is_ok(), "the second token is still there");
        assert_eq!(keyed.take("k"), Err(Duration::from_secs(1)));
    }

    #[test]
    fn at_the_cap_the_buckets_closest_to_full_are_forgotten_first() {
        let (manual, clock) = clock();
        let keyed = Keyed::new(Rate::new(1, 1.0), clock, 16);
        keyed.take("old").unwrap();
        manual.advance(Duration::from_millis(500));
        for i in 0..15 {
            keyed.take(&format!("k{i}")).unwrap();
        }
        assert_eq!(keyed.len(), 16);
        assert!(keyed.take("old").is_err(), "still busy");
        // A new key at the cap: all are busy, so the ones full soonest go, "old" first.
        keyed.take("new").unwrap();
        assert!(keyed.len() <= 16);
        assert!(keyed.take("old").is_ok(), "forgotten, so it may send early");
        assert!(keyed.take("new").is_err(), "the newest is kept");
    }

    #[test]
    fn full_buckets_are_swept_once_the_buckets_have_doubled() {
        let (manual, clock) = clock();
        let keyed = Keyed::new(Rate::new(1, 1.0), clock, 100_000);
        for round in 0..20 {
            for i in 0..100 {
                keyed.take(&format!("r{round}-{i}")).unwrap();
            }
            manual.advance(Duration::from_secs(2));
        }
        assert!(keyed.len() <= 400, "{} kept", keyed.len());
    }

    #[test]
    fn a_channel_that_refuses_spends_the_conversations_token() {
        let (_, clock) = clock();
        let limits = RateLimits::new(Rate::new(2, 1.0)).with_channel("ch", Rate::new(1, 1.0));
        let buckets = Buckets::new(&limits, &clock.0);
        buckets.take("ch", Some("a")).unwrap();
        assert_eq!(
            buckets.take("ch", Some("b")),
            Err(Duration::from_secs(1)),
            "the channel's token is gone"
        );
        assert!(buckets.take("other", Some("b")).is_ok(), "b's second token");
        assert!(buckets.take("other", Some("b")).is_err(), "b spent both");
        assert!(buckets.take("other", None).is_ok(), "no limit on other");
    }
}
