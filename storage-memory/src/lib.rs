//! In-process [`Storage`] for botcore: versioned JSON records with compare-and-set batches,
//! TTLs, namespaces and listing, kept in memory.
//!
//! Reads and writes are on the hot path of every turn, so records live in sharded maps (one
//! `Mutex` per shard, chosen by key hash) and a batch locks only the shards it touches, in
//! ascending order, so batches stay atomic without deadlocks. Versions come from one counter
//! shared by every namespace, so a version is never reused, even after a delete.
//! `read_many` locks one shard at a time, so it is not a snapshot across keys; writes are
//! compare-and-set, which is what keeps turns consistent.
//!
//! ```
//! use botcore::{Precondition, StorageExt, json};
//! use storage_memory::MemoryStorage;
//! # block_on(async {
//! let storage = MemoryStorage::new().with_namespace("bot-a");
//! let v1 = storage.write("user:1", json!({"name": "Ada"}), Precondition::IfAbsent).await?;
//! let rec = storage.read("user:1").await?.expect("written");
//! assert_eq!(rec.version, v1);
//! # Ok::<(), botcore::StorageError>(())
//! # });
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use async_trait::async_trait;
use botcore::{Clock, Precondition, Storage, StorageError, Stored, SystemClock, Version, WriteOp};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Number of shards; a power of two.
const SHARDS: usize = 32;
/// Every this many batches that write with a TTL, one shard is swept of expired records.
/// Storages that never use TTLs never sweep.
const SWEEP_EVERY: u64 = 256;

/// One shard: namespace → key → record.
type Shard = HashMap<Arc<str>, HashMap<String, Entry>>;

#[derive(Debug)]
struct Entry {
    value: Value,
    version: u64,
    /// Milliseconds since the epoch at which the record expires.
    expires_at: Option<u64>,
}

impl Entry {
    fn live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// The data every view of one storage shares.
struct Shared {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// The last version handed out.
    last_version: AtomicU64,
    ttl_batches: AtomicU64,
}

impl Shared {
    fn shard_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) & (SHARDS - 1)
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // No code that can panic runs under a shard lock, so a poisoned lock holds
        // consistent data.
        self.shards[shard].lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An in-memory [`Storage`]. Clones (and views made with [`MemoryStorage::with_namespace`])
/// share the same data.
#[derive(Clone)]
pub struct MemoryStorage {
    shared: Arc<Shared>,
    namespace: Arc<str>,
    max_value_bytes: Option<usize>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStorage")
            .field("namespace", &self.namespace)
            .field("max_value_bytes", &self.max_value_bytes)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty storage: no size limit, the system clock, the empty namespace.
    pub fn new() -> Self {
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect();
        let shared = Shared {
            shards,
            hasher: RandomState::new(),
            last_version: AtomicU64::new(0),
            ttl_batches: AtomicU64::new(0),
        };
        Self {
            shared: Arc::new(shared),
            namespace: Arc::from(""),
            max_value_bytes: None,
            clock: Arc::new(SystemClock),
        }
    }

    /// Rejects values whose serialized JSON is longer than `bytes` with
    /// [`StorageError::TooLarge`].
    pub fn with_max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = Some(bytes);
        self
    }

    /// Reads time (for TTLs) from `clock`, e.g. a [`botcore::ManualClock`] in tests.
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.with_shared_clock(Arc::new(clock))
    }

    /// Like [`MemoryStorage::with_clock`], for a clock already behind an `Arc`.
    pub fn with_shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A view of the same data in which only keys of namespace `namespace` exist. Namespaces
    /// are fully separate (`"a"` + key `"bc"` never meets `"ab"` + key `"c"`).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Arc::from(namespace.into());
        self
    }

    /// The namespace of this view.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Number of live records in this namespace (expired ones are not counted).
    pub fn len(&self) -> usize {
        let now = self.clock.now_ms();
        (0..SHARDS)
            .map(|i| {
                let shard = self.shared.lock(i);
                shard
                    .get(&*self.namespace)
                    .map_or(0, |m| m.values().filter(|e| e.live(now)).count())
            })
            .sum()
    }

    /// Whether this namespace holds no live record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Removes expired records from every shard. They are otherwise dropped lazily: when
    /// touched, listed, or by a periodic sweep of one shard every few hundred batches that
    /// use TTLs.
    pub fn purge_expired(&self) {
        let now = self.clock.now_ms();
        for i in 0..SHARDS {
            sweep(&mut self.shared.lock(i), now);
        }
    }

    fn check_size(&self, op: &WriteOp) -> Result<(), StorageError> {
        let (Some(limit), Some(value)) = (self.max_value_bytes, &op.value) else {
            return Ok(());
        };
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, value)
            .map_err(|e| StorageError::Unavailable(format!("cannot serialize value: {e}")))?;
        if counter.0 > limit {
            return Err(StorageError::TooLarge {
                key: op.key.clone(),
                size: counter.0,
                limit,
            });
        }
        Ok(())
    }

    fn maybe_sweep(&self, now: u64) {
        let n = self.shared.ttl_batches.fetch_add(1, Ordering::Relaxed);
        if n % SWEEP_EVERY == SWEEP_EVERY - 1 {
            let shard = (n / SWEEP_EVERY) as usize % SHARDS;
            sweep(&mut self.shared.lock(shard), now);
        }
    }
}

fn sweep(shard: &mut Shard, now: u64) {
    shard.retain(|_, records| {
        records.retain(|_, e| e.live(now));
        !records.is_empty()
    });
}

/// Counts serialized bytes without keeping them.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The shards a batch has locked, in ascending shard order.
struct Locked<'a> {
    guards: Vec<(usize, MutexGuard<'a, Shard>)>,
}

impl Locked<'_> {
    fn shard(&mut self, shard: usize) -> &mut Shard {
        let pos = self
            .guards
            .binary_search_by_key(&shard, |(i, _)| *i)
            .expect("every shard of the batch is locked");
        &mut self.guards[pos].1
    }
}

fn precondition_holds(pre: Precondition, current: Option<&Entry>) -> bool {
    match (pre, current) {
        (Precondition::Any, _) => true,
        (Precondition::IfAbsent, cur) => cur.is_none(),
        (Precondition::IfMatch(v), Some(e)) => e.version == v.0,
        (Precondition::IfMatch(_), None) => false,
    }
}

#[async_trait]
impl Storage for MemoryStorage {
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        let now = self.clock.now_ms();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let mut shard = self.shared.lock(self.shared.shard_of(key));
            let Some(records) = shard.get_mut(&*self.namespace) else {
                out.push(None);
                continue;
            };
            match records.get(*key) {
                Some(e) if e.live(now) => {
                    out.push(Some(Stored {
                        value: e.value.clone(),
                        version: Version(e.version),
                    }));
                }
                Some(_) => {
                    records.remove(*key);
                    out.push(None);
                }
                None => out.push(None),
            }
        }
        Ok(out)
    }

    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        for op in &ops {
            self.check_size(op)?;
        }
        let shard_ids: Vec<usize> = ops.iter().map(|op| self.shared.shard_of(&op.key)).collect();
        let mut order = shard_ids.clone();
        order.sort_unstable();
        order.dedup();
        let uses_ttl = ops.iter().any(|op| op.ttl.is_some());
        let now = self.clock.now_ms();
        let mut locked = Locked {
            guards: order
                .into_iter()
                .map(|i| (i, self.shared.lock(i)))
                .collect(),
        };

        // Check every precondition against the state before the batch.
        for (op, &shard) in ops.iter().zip(&shard_ids) {
            let current = locked
                .shard(shard)
                .get(&*self.namespace)
                .and_then(|records| records.get(&op.key))
                .filter(|e| e.live(now));
            if !precondition_holds(op.precondition, current) {
                return Err(StorageError::Conflict {
                    key: op.key.clone(),
                });
            }
        }

        // Apply. Replaced records are dropped after the locks are released.
        let mut out = Vec::with_capacity(ops.len());
        let mut replaced = Vec::with_capacity(ops.len());
        for (op, shard) in ops.into_iter().zip(shard_ids) {
            let shard = locked.shard(shard);
            match op.value {
                Some(value) => {
                    let version = self.shared.last_version.fetch_add(1, Ordering::Relaxed) + 1;
                    let expires_at = op
                        .ttl
                        .map(|ttl| now.saturating_add((ttl.as_millis() as u64).max(1)));
                    let records = shard.entry(self.namespace.clone()).or_default();
                    let entry = Entry {
                        value,
                        version,
                        expires_at,
                    };
                    replaced.extend(records.insert(op.key, entry));
                    out.push(Some(Version(version)));
                }
                None => {
                    if let Some(records) = shard.get_mut(&*self.namespace) {
                        replaced.extend(records.remove(&op.key));
                    }
                    out.push(None);
                }
            }
        }
        drop(locked);
        drop(replaced);
        if uses_ttl {
            self.maybe_sweep(now);
        }
        Ok(out)
    }

    async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let now = self.clock.now_ms();
        let mut keys = Vec::new();
        for i in 0..SHARDS {
            let mut shard = self.shared.lock(i);
            let Some(records) = shard.get_mut(&*self.namespace) else {
                continue;
            };
            records.retain(|k, e| {
                let live = e.live(now);
                if live && k.starts_with(prefix) && after.is_none_or(|a| k.as_str() > a) {
                    keys.push(k.clone());
                }
                live
            });
        }
        if keys.len() > limit {
            keys.select_nth_unstable(limit);
            keys.truncate(limit);
        }
        keys.sort_unstable();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_of_is_in_range_and_spreads() {
        let s = MemoryStorage::new();
        let mut seen = [false; SHARDS];
        for i in 0..1000 {
            seen[s.shared.shard_of(&format!("key-{i}"))] = true;
        }
        assert!(
            seen.iter().all(|&b| b),
            "1000 keys should touch every shard"
        );
    }

    fn raw_records(s: &MemoryStorage) -> usize {
        (0..SHARDS)
            .map(|i| s.shared.lock(i).values().map(HashMap::len).sum::<usize>())
            .sum()
    }

    #[tokio::test]
    async fn batches_with_ttls_sweep_expired_records() {
        use botcore::ManualClock;
        use std::time::Duration;
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

    #[test]
    fn byte_counter_matches_serialized_length() {
        let v = serde_json::json!({"a": [1, 2.5, "é"], "b": null});
        let mut c = ByteCounter(0);
        serde_json::to_writer(&mut c, &v).unwrap();
        assert_eq!(c.0, serde_json::to_vec(&v).unwrap().len());
    }
}
