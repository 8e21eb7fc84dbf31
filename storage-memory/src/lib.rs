//! In-process [`Storage`] for botcore: versioned JSON records with compare-and-set batches,
//! TTLs, namespaces and listing, kept in memory.
//!
//! Records are kept as their compact JSON bytes (a fraction of the memory of JSON trees), so a
//! read decodes and a write encodes. Reads and writes are on the hot path of every turn, so
//! records live in sharded maps (one
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

mod codec;
mod shard;
mod ttl;

use async_trait::async_trait;
use botcore::{Clock, Precondition, Storage, StorageError, Stored, SystemClock, Version, WriteOp};
use shard::{Entry, SHARDS, Shared};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

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
        Self {
            shared: Arc::new(Shared::new()),
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
            ttl::sweep(&mut self.shared.lock(i), now);
        }
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
            // Only the bytes' reference count is touched under the shard lock.
            let found = {
                let mut shard = self.shared.lock(self.shared.shard_of(key));
                match shard.get_mut(&*self.namespace) {
                    None => None,
                    Some(records) => match records.get(*key) {
                        Some(e) if e.live(now) => Some((e.value.clone(), e.version)),
                        Some(_) => {
                            records.remove(*key);
                            None
                        }
                        None => None,
                    },
                }
            };
            out.push(match found {
                Some((bytes, version)) => Some(Stored {
                    value: codec::decode(key, &bytes)?,
                    version: Version(version),
                }),
                None => None,
            });
        }
        Ok(out)
    }

    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        // Encoded before any lock is taken; a value over the size limit fails the batch here.
        let encoded = ops
            .iter()
            .map(|op| self.encode(op))
            .collect::<Result<Vec<_>, _>>()?;
        let shard_ids: Vec<usize> = ops.iter().map(|op| self.shared.shard_of(&op.key)).collect();
        let uses_ttl = ops.iter().any(|op| op.ttl.is_some());
        let now = self.clock.now_ms();
        let mut locked = self.shared.lock_all(&shard_ids);

        // Check every precondition against the state before the batch.
        for (op, &shard) in ops.iter().zip(&shard_ids) {
            let current = locked
                .shard(shard)
                .get(&*self.namespace)
                .and_then(|records| records.get(op.key.as_str()))
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
        for ((op, value), shard) in ops.into_iter().zip(encoded).zip(shard_ids) {
            let shard = locked.shard(shard);
            match value {
                Some(value) => {
                    let version = self.shared.last_version.fetch_add(1, Ordering::Relaxed) + 1;
                    let expires_at = op.ttl.map(|ttl| ttl::expires_at(now, ttl));
                    let records = shard.entry(self.namespace.clone()).or_default();
                    let entry = Entry {
                        value,
                        version,
                        expires_at,
                    };
                    replaced.extend(records.insert(op.key.into_boxed_str(), entry));
                    out.push(Some(Version(version)));
                }
                None => {
                    if let Some(records) = shard.get_mut(&*self.namespace) {
                        replaced.extend(records.remove(op.key.as_str()));
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
                if live && k.starts_with(prefix) && after.is_none_or(|a| &**k > a) {
                    keys.push(k.to_string());
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
