//! The sharded record maps behind [`crate::MemoryStorage`]: [`SHARDS`] maps (one `Mutex`
//! each), a key's shard chosen by its hash, and the set of shards a batch holds locked.
//!
//! [`Shared`] is what every view of one storage shares: the shards plus the version counter
//! and the count of batches that wrote with a TTL (which paces sweeps, see [`crate::ttl`]).

use foldhash::fast::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};

/// Number of shards; a power of two.
pub(crate) const SHARDS: usize = 32;

/// One shard: namespace → key → record. Keys are hashed with foldhash, seeded at random per
/// map (a fraction of the cost of `SipHash`, still unpredictable from outside).
pub(crate) type Shard = HashMap<Arc<str>, Records, RandomState>;

/// The records of one namespace in one shard.
pub(crate) type Records = HashMap<Box<str>, Entry, RandomState>;

#[derive(Debug)]
pub(crate) struct Entry {
    /// The value's compact JSON (see [`crate::codec`]); shared, so a read copies it out of
    /// the shard without holding the lock while it decodes.
    pub(crate) value: Arc<[u8]>,
    pub(crate) version: u64,
    /// Milliseconds since the epoch at which the record expires.
    pub(crate) expires_at: Option<u64>,
}

impl Entry {
    pub(crate) fn live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// The data every view of one storage shares.
pub(crate) struct Shared {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// The last version handed out.
    pub(crate) last_version: AtomicU64,
    pub(crate) ttl_batches: AtomicU64,
}

impl Shared {
    /// Empty shards, no version handed out yet.
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            hasher: RandomState::default(),
            last_version: AtomicU64::new(0),
            ttl_batches: AtomicU64::new(0),
        }
    }

    pub(crate) fn shard_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) & (SHARDS - 1)
    }

    pub(crate) fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // No code that can panic runs under a shard lock, so a poisoned lock holds
        // consistent data.
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks every shard in `shards` once, in ascending order, so that batches locking
    /// overlapping sets of shards never deadlock.
    pub(crate) fn lock_all(&self, shards: &[usize]) -> Locked<'_> {
        let mut order = shards.to_vec();
        order.sort_unstable();
        order.dedup();
        Locked {
            guards: order.into_iter().map(|i| (i, self.lock(i))).collect(),
        }
    }
}

/// The shards a batch has locked, in ascending shard order.
pub(crate) struct Locked<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl Locked<'_> {
    pub(crate) fn shard(&mut self, shard: usize) -> &mut Shard {
        let pos = self
            .guards
            .binary_search_by_key(&shard, |(i, _)| *i)
            .expect("every shard of the batch is locked");
        &mut self.guards[pos].1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_of_is_in_range_and_spreads() {
        let s = Shared::new();
        let mut seen = [false; SHARDS];
        for i in 0..1000 {
            seen[s.shard_of(&format!("key-{i}"))] = true;
        }
        assert!(
            seen.iter().all(|&b| b),
            "1000 keys should touch every shard"
        );
    }
}
