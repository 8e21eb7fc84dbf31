//! Deleting expired records: on demand ([`PostgresStorage::purge_expired`]) and, at most once
//! per sweep interval, in the background after a write.
//!
//! Reads, listings and preconditions already treat expired rows as absent; the sweep only
//! frees their space. It deletes in bounded batches through the `expires_at` index, and it
//! checks `expires_at` again on each row it deletes, so a record rewritten in the meantime
//! (with a later expiry or none) stays.

use crate::{PostgresStorage, Shared, error};
use botcore::StorageError;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Rows one sweep statement deletes at most.
const SWEEP_BATCH: i64 = 1_000;

/// When the next background sweep may start.
#[derive(Debug)]
pub(crate) struct Sweeper {
    interval_ms: Option<u64>,
    /// The time (ms, by the writer's clock) of the last sweep start; 0: none yet.
    last_ms: AtomicU64,
    running: AtomicBool,
}

impl Sweeper {
    pub(crate) fn new(interval: Option<Duration>) -> Self {
        Self {
            interval_ms: interval.map(|i| i.as_millis().min(u64::MAX as u128) as u64),
            last_ms: AtomicU64::new(0),
            running: AtomicBool::new(false),
        }
    }

    /// Whether a sweep should start now (and, if so, marks it started).
    fn due(&self, now_ms: u64) -> bool {
        let Some(interval) = self.interval_ms else {
            return false;
        };
        let last = self.last_ms.load(Ordering::Relaxed);
        if last != 0 && now_ms.saturating_sub(last) < interval {
            return false;
        }
        // The first write only starts the interval, so short-lived storages never sweep.
        let won = self
            .last_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok();
        won && last != 0 && !self.running.swap(true, Ordering::Acquire)
    }
}

/// Deletes every expired row of the table, in batches; returns how many.
pub(crate) async fn sweep(shared: &Shared, now: Option<i64>) -> Result<u64, StorageError> {
    let client = shared.pool.get().await.map_err(error::pool)?;
    let statement = client
        .prepare_cached(&shared.sql.sweep)
        .await
        .map_err(|e| error::unavailable("sweep", &e))?;
    let mut total = 0;
    loop {
        let deleted = client
            .execute(&statement, &[&now, &SWEEP_BATCH])
            .await
            .map_err(|e| error::unavailable("sweep", &e))?;
        total += deleted;
        if deleted < SWEEP_BATCH as u64 {
            return Ok(total);
        }
    }
}

impl PostgresStorage {
    /// Deletes every expired record of the table (all namespaces) now; returns how many.
    /// Writes also do this in the background, at most once per
    /// [`crate::PostgresOptions::sweep_interval`].
    pub async fn purge_expired(&self) -> Result<u64, StorageError> {
        let now = self.now_param();
        tokio::time::timeout(self.shared.op_timeout, sweep(&self.shared, now))
            .await
            .map_err(|_| StorageError::Unavailable("postgres sweep timed out".into()))?
    }

    /// Starts a background sweep if one is due.
    pub(crate) fn maybe_sweep(&self) {
        let now = self.now_param();
        let now_ms = now.map_or_else(|| self.clock_ms(), |n| n as u64);
        if !self.shared.sweeper.due(now_ms) {
            return;
        }
        let shared: Arc<Shared> = self.shared.clone();
        tokio::spawn(async move {
            let result = tokio::time::timeout(shared.op_timeout, sweep(&shared, now)).await;
            shared.sweeper.running.store(false, Ordering::Release);
            match result {
                Ok(Ok(n)) => {
                    tracing::debug!(table = %shared.table, deleted = n, "swept expired records")
                }
                Ok(Err(e)) => tracing::warn!(table = %shared.table, error = %e, "sweep failed"),
                Err(_) => tracing::warn!(table = %shared.table, "sweep timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_once_per_interval() {
        let s = Sweeper::new(Some(Duration::from_secs(60)));
        assert!(!s.due(1_000), "the first write only starts the clock");
        assert!(!s.due(30_000));
        assert!(s.due(61_000));
        assert!(!s.due(62_000), "one sweep per interval");
        s.running.store(false, Ordering::Release);
        assert!(!s.due(100_000));
        assert!(s.due(121_000));
        assert!(!s.due(200_000), "still running");
        let never = Sweeper::new(None);
        assert!(!never.due(1) && !never.due(u64::MAX));
    }
}
