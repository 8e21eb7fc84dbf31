//! The [`Storage`] contract: versioned JSON records with compare-and-set.
//!
//! A backend implements two methods: [`Storage::read_many`] and [`Storage::write_many`]. A
//! batch write is atomic: every precondition is checked first, and either every operation is
//! applied or none is. That is what makes a turn a transaction (load with versions → run →
//! save with compare-and-set). Everything else (single-key helpers, listing for fan-outs) is
//! built on top or optional.
//!
//! The contract, as the conformance suite (`botcore::testing`, feature `testing`) checks it:
//! - every write gives the record a new version, never reused, even after a delete;
//! - a batch's preconditions are checked against the state before the batch (a batch that
//!   deletes `b` and then puts `b` with [`Precondition::IfAbsent`] is a conflict);
//! - a write without a TTL removes any earlier TTL;
//! - [`StorageError::TooLarge`] measures the compact JSON size in bytes; a value of exactly the
//!   limit is accepted, and a rejected batch leaves every old value in place;
//! - `read_many` need not be a consistent snapshot across keys (turns rely on the
//!   compare-and-set of the write, not on the read);
//! - `list_keys` returns full pages until the last one.

use async_trait::async_trait;
use serde_json::Value;
use std::fmt::Debug;
use std::time::Duration;

/// The version of a stored record. Every write produces a new one. Opaque: compare, don't count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Version(pub u64);

/// A record as read: its value and its version.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// The value.
    pub value: Value,
    /// The version to pass to [`Precondition::IfMatch`].
    pub version: Version,
}

/// When a write or delete may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// Always (last writer wins).
    Any,
    /// Only if the stored version is this one.
    IfMatch(Version),
    /// Only if there is no record under the key.
    IfAbsent,
}

/// One operation of a batch write.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteOp {
    /// The key.
    pub key: String,
    /// The new value, or `None` to delete.
    pub value: Option<Value>,
    /// When the operation may go ahead.
    pub precondition: Precondition,
    /// Expire the record after this long (backends without TTL support ignore it).
    pub ttl: Option<Duration>,
}

impl WriteOp {
    /// Put `value` under `key` if `precondition` holds.
    pub fn put(key: impl Into<String>, value: Value, precondition: Precondition) -> Self {
        Self {
            key: key.into(),
            value: Some(value),
            precondition,
            ttl: None,
        }
    }

    /// Delete `key` if `precondition` holds.
    pub fn delete(key: impl Into<String>, precondition: Precondition) -> Self {
        Self {
            key: key.into(),
            value: None,
            precondition,
            ttl: None,
        }
    }

    /// Sets a time to live.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A precondition did not hold; nothing in the batch was written.
    #[error("version conflict on key {key}")]
    Conflict {
        /// The first key whose precondition failed.
        key: String,
    },
    /// A value is larger than the backend accepts; nothing in the batch was written.
    #[error("value for key {key} is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// The key.
        key: String,
        /// The serialized size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The backend is unreachable or failed; the batch may or may not have been applied.
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    /// A stored value could not be decoded.
    #[error("stored value under {key} is corrupt: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

/// Versioned JSON records with atomic compare-and-set batches.
#[async_trait]
pub trait Storage: Send + Sync + Debug + 'static {
    /// Reads `keys`; a missing key reads as `None`. The result has one entry per key, in order.
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError>;

    /// Applies `ops` atomically: all preconditions are checked, then all ops are applied, or
    /// none is. Returns, per op, the new version (`None` for a delete).
    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError>;

    /// Up to `limit` keys starting with `prefix` and sorting strictly after `after` (exclusive),
    /// in key order.
    /// Used for paged listings (the address book). Backends that cannot list return
    /// [`StorageError::Unavailable`].
    async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
}

/// Single-key conveniences over any [`Storage`].
#[async_trait]
pub trait StorageExt: Storage {
    /// Reads one key.
    async fn read(&self, key: &str) -> Result<Option<Stored>, StorageError> {
        Ok(self.read_many(&[key]).await?.pop().flatten())
    }

    /// Writes one key; returns the new version.
    async fn write(
        &self,
        key: &str,
        value: Value,
        precondition: Precondition,
    ) -> Result<Version, StorageError> {
        let v = self
            .write_many(vec![WriteOp::put(key, value, precondition)])
            .await?;
        v.into_iter()
            .next()
            .flatten()
            .ok_or_else(|| StorageError::Unavailable("backend returned no version".into()))
    }

    /// Deletes one key (deleting a missing key with [`Precondition::Any`] is not an error).
    async fn delete(&self, key: &str, precondition: Precondition) -> Result<(), StorageError> {
        self.write_many(vec![WriteOp::delete(key, precondition)])
            .await
            .map(|_| ())
    }

    /// Read-modify-write with compare-and-set: reads `keys`, lets `decide` look at them and
    /// return the writes to make (with preconditions on the versions it read), and writes
    /// them; on a conflict it reads again, at most [`UPDATE_ATTEMPTS`] times, then gives up
    /// with [`StorageError::Conflict`].
    ///
    /// ```
    /// use botcore::storage::{Precondition, StorageExt, Update, WriteOp};
    /// use botcore::json;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let store = storage_memory::MemoryStorage::new();
    /// let count: u64 = store
    ///     .update(&["counter"], |read| {
    ///         let (n, pre) = match &read[0] {
    ///             Some(s) => (s.value.as_u64().unwrap_or(0), Precondition::IfMatch(s.version)),
    ///             None => (0, Precondition::IfAbsent),
    ///         };
    ///         Ok::<_, botcore::StorageError>(Update::Write(vec![WriteOp::put("counter", json!(n + 1), pre)], n + 1))
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!(count, 1);
    /// # }
    /// ```
    async fn update<T, E, F>(&self, keys: &[&str], mut decide: F) -> Result<T, E>
    where
        T: Send,
        E: From<StorageError> + Send,
        F: FnMut(Vec<Option<Stored>>) -> Result<Update<T>, E> + Send,
    {
        let mut last = String::new();
        for _ in 0..UPDATE_ATTEMPTS {
            let read = if keys.is_empty() {
                Vec::new()
            } else {
                self.read_many(keys).await?
            };
            match decide(read)? {
                Update::Done(value) => return Ok(value),
                Update::Write(ops, value) => match self.write_many(ops).await {
                    Ok(_) => return Ok(value),
                    Err(StorageError::Conflict { key }) => last = key,
                    Err(e) => return Err(e.into()),
                },
            }
        }
        Err(StorageError::Conflict { key: last }.into())
    }

    /// One page of the records whose keys start with `prefix`, after `after`: the keys with
    /// their records (keys deleted between the listing and the read are left out), and the
    /// `after` of the next page (`None` on the last page).
    async fn read_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Stored)>, Option<String>), StorageError> {
        let keys = self.list_keys(prefix, after, limit).await?;
        let next = (keys.len() == limit && limit > 0)
            .then(|| keys.last().cloned())
            .flatten();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let stored = if refs.is_empty() {
            Vec::new()
        } else {
            self.read_many(&refs).await?
        };
        let page = keys
            .into_iter()
            .zip(stored)
            .filter_map(|(k, s)| Some((k, s?)))
            .collect();
        Ok((page, next))
    }
}

/// How many times [`StorageExt::update`] reads again after a conflict.
pub const UPDATE_ATTEMPTS: usize = 8;

/// What a [`StorageExt::update`] step decided.
#[derive(Debug)]
pub enum Update<T> {
    /// Make these writes; once they are made, the update returns the value.
    Write(Vec<WriteOp>, T),
    /// Nothing to write: the update returns the value.
    Done(T),
}

impl<S: Storage + ?Sized> StorageExt for S {}

#[async_trait]
impl<S: Storage + ?Sized> Storage for std::sync::Arc<S> {
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        (**self).read_many(keys).await
    }
    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        (**self).write_many(ops).await
    }
    async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        (**self).list_keys(prefix, after, limit).await
    }
}
