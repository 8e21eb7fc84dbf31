//! Redis [`Storage`] for botcore: versioned JSON records with compare-and-set batches done in
//! Lua on one multiplexed [`ConnectionManager`].
//!
//! - Each record is a Redis string `{"v":<version>,"d":<value>}` under `<namespace>:r:<key>`,
//!   with a PEXPIRE when written with a TTL (a write without a TTL makes it permanent).
//! - Versions are per record: a write gives `max(previous + 1, clock)`, where the clock is the
//!   Redis server's time in microseconds × 1000 plus the write's position in its batch. They
//!   increase on every write and a deleted (or expired) and recreated record starts above every
//!   version it had before, so a stale reader's version never matches again. There is no
//!   global counter.
//! - [`Storage::write_many`] is a single Lua script over the batch's record keys (plus the
//!   index of each [`INDEXED_FAMILIES`] family it creates or deletes records in): it checks all
//!   preconditions, then applies all operations, so a batch is atomic. A turn's writes touch
//!   only that turn's records.
//! - [`Storage::list_keys`] never uses `KEYS`. The families botcore lists (`address/`, `job/`,
//!   `fanout/`) have a sorted set each (`<namespace>:i:<family>`), paged with `ZRANGEBYLEX`;
//!   records that expired leave stale members behind, which listings skip and remove, and
//!   [`RedisStorage::purge_expired`] sweeps (call it now and then if you write such records
//!   with TTLs but rarely list them). Any other prefix is listed by a `SCAN` of the namespace:
//!   correct, but a walk of the whole database per page.
//! - A Redis that cannot be reached gives [`StorageError::Unavailable`]; the connection
//!   manager reconnects on later calls.
//!
//! Namespaces are used verbatim as key prefixes: choose namespaces that are not of the form
//! `<another namespace>:r:…` or `<another namespace>:i:…`. Every key a script touches is passed
//! to it in `KEYS`, and Redis Cluster hash tags (`{…}`) in the namespace or in record keys
//! decide the slot, so a batch's keys can share one; the crate README says how, what still
//! keeps this backend on a standalone Redis (or a primary with replicas), and how a store of
//! the layout before (global counter and index) is migrated ([`RedisStorage::migrate_layout`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), botcore::StorageError> {
//! use botcore::{Precondition, StorageExt, json};
//! let storage = storage_redis::RedisStorage::connect("redis://127.0.0.1:6379/")
//!     .await?
//!     .with_namespace("mybot")
//!     .with_max_value_bytes(256 * 1024);
//! storage.write("user:1", json!({"name": "Ada"}), Precondition::IfAbsent).await?;
//! # Ok(()) }
//! ```

mod connect;
mod envelope;
mod index;
mod key_layout;
mod lua;
mod migrate;
mod scan;
mod write;

use async_trait::async_trait;
use botcore::{Storage, StorageError, Stored, Version, WriteOp};
use key_layout::{KeyLayout, family};
use redis::RedisError;
use redis::aio::ConnectionManager;
use std::sync::Arc;

pub use connect::default_manager_config;
pub use key_layout::INDEXED_FAMILIES;
pub use redis;

/// The namespace used unless [`RedisStorage::with_namespace`] says otherwise.
pub const DEFAULT_NAMESPACE: &str = "botcore";

/// A [`Storage`] on Redis. Cheap to clone: clones share one multiplexed connection.
#[derive(Clone, Debug)]
pub struct RedisStorage {
    conn: ConnectionManager,
    keys: Arc<KeyLayout>,
    max_value_bytes: Option<usize>,
}

fn unavailable(e: RedisError) -> StorageError {
    StorageError::Unavailable(e.to_string())
}

impl RedisStorage {
    /// The same connection, with every key under `namespace` (default [`DEFAULT_NAMESPACE`]).
    pub fn with_namespace(mut self, namespace: impl AsRef<str>) -> Self {
        self.keys = Arc::new(KeyLayout::new(namespace.as_ref()));
        self
    }

    /// Rejects values whose serialized JSON is longer than `bytes` with
    /// [`StorageError::TooLarge`].
    pub fn with_max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = Some(bytes);
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.keys.namespace
    }
}

#[async_trait]
impl Storage for RedisStorage {
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.keys.record(key));
        }
        let mut conn = self.conn.clone();
        let raw: Vec<Option<Vec<u8>>> = cmd.query_async(&mut conn).await.map_err(unavailable)?;
        if raw.len() != keys.len() {
            return Err(StorageError::Unavailable(
                "MGET returned the wrong number of values".into(),
            ));
        }
        keys.iter()
            .zip(raw)
            .map(|(key, r)| r.map(|r| envelope::decode(key, &r)).transpose())
            .collect()
    }

    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        self.write_batch(&ops).await
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
        // A prefix with a `/` lies inside one family; if that family is indexed, so are all
        // the keys it matches.
        match family(prefix) {
            Some(f) => {
                let index = self.keys.index(f);
                self.list_index(&index, prefix, after, limit).await
            }
            None => self.list_scan(prefix, after, limit).await,
        }
    }
}
