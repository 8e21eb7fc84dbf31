//! Redis [`Storage`] for botcore: versioned JSON records with compare-and-set batches done in
//! Lua on one multiplexed [`ConnectionManager`].
//!
//! - Each record is a Redis string `{"v":<version>,"d":<value>}` under `<namespace>:r:<key>`,
//!   with a PEXPIRE when written with a TTL (a write without a TTL makes it permanent).
//! - Versions come from `INCR <namespace>:v`, so they are never reused, even after a delete.
//! - [`Storage::write_many`] is a single Lua script over every key of the batch: it checks all
//!   preconditions, then applies all operations, so a batch is atomic.
//! - [`Storage::list_keys`] never uses `KEYS`: the same script keeps a sorted set of keys per
//!   namespace (`<namespace>:i`), paged with `ZRANGEBYLEX`. Records that expired leave stale
//!   members behind; listings skip and remove them, and [`RedisStorage::purge_expired`] sweeps
//!   the whole index (call it now and then if you write with TTLs but rarely list).
//! - A Redis that cannot be reached gives [`StorageError::Unavailable`]; the connection
//!   manager reconnects on later calls.
//!
//! Namespaces are used verbatim as key prefixes: choose namespaces that are not of the form
//! `<another namespace>:r:…`. The scripts touch several keys of a namespace, so this backend
//! targets a standalone Redis (or a primary with replicas), not Redis Cluster.
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

use async_trait::async_trait;
use botcore::{Precondition, Storage, StorageError, Stored, Version, WriteOp};
use key_layout::KeyLayout;
use redis::RedisError;
use redis::aio::ConnectionManager;
use std::sync::Arc;

pub use connect::default_manager_config;
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

/// The key of the operation that a `conflict` or `corrupt` reply of the write script names by
/// its 1-based position in the batch.
fn parse_index(
    key_of: impl Fn(usize) -> String,
    raw: Option<&String>,
) -> Result<String, StorageError> {
    let bad = || StorageError::Unavailable("unexpected reply from the write script".into());
    let i: usize = raw.and_then(|r| r.parse().ok()).ok_or_else(bad)?;
    if i == 0 {
        return Err(bad());
    }
    Ok(key_of(i - 1))
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
        let mut inv = lua::WRITE_SCRIPT.prepare_invoke();
        inv.key(&self.keys.counter).key(&self.keys.index);
        for op in &ops {
            let data = match &op.value {
                Some(value) => {
                    let data = serde_json::to_string(value).map_err(|e| {
                        StorageError::Unavailable(format!("cannot serialize value: {e}"))
                    })?;
                    if let Some(limit) = self.max_value_bytes.filter(|&limit| data.len() > limit) {
                        return Err(StorageError::TooLarge {
                            key: op.key.clone(),
                            size: data.len(),
                            limit,
                        });
                    }
                    data
                }
                None => String::new(),
            };
            let (cond, expected) = match op.precondition {
                Precondition::Any => ("a", String::new()),
                Precondition::IfMatch(v) => ("m", v.0.to_string()),
                Precondition::IfAbsent => ("n", String::new()),
            };
            // A TTL under a millisecond still expires (PX 0 is an error in Redis).
            let ttl_ms = op
                .ttl
                .map_or(0, |t| t.as_millis().clamp(1, i64::MAX as u128) as u64);
            inv.key(self.keys.record(&op.key))
                .arg(if op.value.is_some() { "p" } else { "d" })
                .arg(cond)
                .arg(expected)
                .arg(ttl_ms)
                .arg(&op.key)
                .arg(data);
        }
        let mut conn = self.conn.clone();
        let reply: Vec<String> = inv.invoke_async(&mut conn).await.map_err(unavailable)?;
        let key_of = |i: usize| ops.get(i).map(|op| op.key.clone()).unwrap_or_default();
        match reply.first().map(String::as_str) {
            Some("ok") if reply.len() == ops.len() + 1 => reply[1..]
                .iter()
                .map(|v| match v.as_str() {
                    "" => Ok(None),
                    v => v.parse().map(|v| Some(Version(v))).map_err(|_| {
                        StorageError::Unavailable(format!(
                            "write script returned a bad version {v:?}"
                        ))
                    }),
                })
                .collect(),
            Some("conflict") => Err(StorageError::Conflict {
                key: parse_index(key_of, reply.get(1))?,
            }),
            Some("corrupt") => Err(StorageError::Corrupt {
                key: parse_index(key_of, reply.get(1))?,
                reason: "stored record has no version envelope".into(),
            }),
            _ => Err(StorageError::Unavailable(format!(
                "unexpected reply from the write script: {reply:?}"
            ))),
        }
    }

    async fn list_keys(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.list_index(prefix, after, limit).await
    }
}
