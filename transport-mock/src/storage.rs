//! [`FaultyStorage`]: wraps any storage to make it slow or make it fail.

use async_trait::async_trait;
use botcore::{Storage, StorageError, Stored, Version, WriteOp};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
struct Knobs {
    read_delay_ms: AtomicU64,
    write_delay_ms: AtomicU64,
    down: AtomicBool,
    reads: AtomicU64,
    writes: AtomicU64,
}

/// A storage wrapper with injectable latency and outages. Clones share the knobs.
#[derive(Clone, Debug)]
pub struct FaultyStorage<S> {
    inner: S,
    knobs: Arc<Knobs>,
}

impl<S: Storage> FaultyStorage<S> {
    /// Wraps `inner`, healthy and fast.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            knobs: Arc::default(),
        }
    }

    /// Every read's answer arrives this long after the data was read (to make concurrent turns overlap).
    pub fn set_read_delay(&self, d: Duration) {
        self.knobs
            .read_delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every write waits this long first.
    pub fn set_write_delay(&self, d: Duration) {
        self.knobs
            .write_delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Makes every call fail with [`StorageError::Unavailable`] (the backend went away).
    pub fn set_down(&self, down: bool) {
        self.knobs.down.store(down, Ordering::SeqCst);
    }

    /// How many read batches were made.
    pub fn reads(&self) -> u64 {
        self.knobs.reads.load(Ordering::SeqCst)
    }

    /// How many write batches were made.
    pub fn writes(&self) -> u64 {
        self.knobs.writes.load(Ordering::SeqCst)
    }

    async fn pause(ms: u64) {
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    fn check(&self) -> Result<(), StorageError> {
        if self.knobs.down.load(Ordering::SeqCst) {
            return Err(StorageError::Unavailable(
                "storage is down (injected fault)".into(),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl<S: Storage> Storage for FaultyStorage<S> {
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        self.knobs.reads.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        // The answer is slow to come back: what was read may be stale by the time it arrives.
        let read = self.inner.read_many(keys).await;
        Self::pause(self.knobs.read_delay_ms.load(Ordering::SeqCst)).await;
        read
    }

    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        self.knobs.writes.fetch_add(1, Ordering::SeqCst);
        Self::pause(self.knobs.write_delay_ms.load(Ordering::SeqCst)).await;
        self.check()?;
        self.inner.write_many(ops).await
    }

    async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.check()?;
        self.inner.list_keys(prefix, after, limit).await
    }
}
