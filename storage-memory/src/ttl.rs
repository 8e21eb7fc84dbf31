//! Expiry of records written with a TTL. An expired record is invisible at once and dropped
//! lazily: when a read finds it or a write replaces it, when a listing passes it, by a periodic
//! sweep of one shard every [`SWEEP_EVERY`] batches that use TTLs, or by
//! [`MemoryStorage::purge_expired`].

use crate::MemoryStorage;
use crate::shard::{SHARDS, Shard};
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Every this many batches that write with a TTL, one shard is swept of expired records.
/// Storages that never use TTLs never sweep.
pub(crate) const SWEEP_EVERY: u64 = 256;

/// When a record written at `now` with `ttl` expires, in milliseconds since the epoch; a TTL
/// under a millisecond counts as one.
pub(crate) fn expires_at(now: u64, ttl: Duration) -> u64 {
    now.saturating_add((ttl.as_millis() as u64).max(1))
}

impl MemoryStorage {
    /// Counts a batch that wrote with a TTL, and sweeps the next shard in turn every
    /// [`SWEEP_EVERY`] such batches.
    pub(crate) fn maybe_sweep(&self, now: u64) {
        let n = self.shared.ttl_batches.fetch_add(1, Ordering::Relaxed);
        if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let shard = (n / SWEEP_EVERY) as usize % SHARDS;
            sweep(&mut self.shared.lock(shard), now);
        }
    }
}

/// Drops the expired records of `shard`, and namespaces left empty.
pub(crate) fn sweep(shard: &mut Shard, now: u64) {
    shard.retain(|_, records| {
        records.retain(|_, e| e.live(now));
        !records.is_empty()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcore::{ManualClock, Precondition, Storage, WriteOp};
    use serde_json::Value;
    use std::collections::HashMap;

    fn raw_records(s: &MemoryStorage) -> usize {
        (0..SHARDS)
            .map(|i| s.shared.lock(i).values().map(HashMap::len).sum::<usize>())
            .sum()
    }

    #[tokio::test]
    async fn batches_with_ttls_sweep_expired_records() {
        let clock = ManualClock::new(0);
        let s = MemoryStorage::new().with_clock(clock.clone());
        let ttl = Duration::from_secs(1);
        let ops =
            (0..100).map(|i| WriteOp::put(format!("tmp:{i}"), Value::Null, Precondition::Any));
        s.write_many(ops.map(|op| op.with_ttl(ttl)).collect())
            .await
            .unwrap();
        clock.advance(Duration::from_secs(2));
        let keep = || vec![WriteOp::put("keep", Value::Null, Precondition::Any)];
        for _ in 0..SWEEP_EVERY * SHARDS as u64 {
            s.write_many(keep()).await.unwrap();
        }
        assert_eq!(
            raw_records(&s),
            1 + 100,
            "batches without TTLs do not sweep"
        );
        for _ in 0..SWEEP_EVERY * SHARDS as u64 {
            s.write_many(vec![keep().remove(0).with_ttl(ttl * 100)])
                .await
                .unwrap();
        }
        assert_eq!(raw_records(&s), 1, "every shard was swept once");
    }
}
