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

mod lua;

use async_trait::async_trait;
use botcore::{Precondition, Storage, StorageError, Stored, Version, WriteOp};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, RedisError};
use std::sync::Arc;
use std::time::Duration;

pub use redis;

/// The namespace used unless [`RedisStorage::with_namespace`] says otherwise.
pub const DEFAULT_NAMESPACE: &str = "botcore";

/// At most this many index members are examined per script call while listing or purging, so
/// one call never blocks Redis for long.
const SCAN_BUDGET: usize = 1000;

/// Listing limits are capped here (Lua numbers are doubles).
const MAX_LIMIT: usize = 1 << 32;

/// A [`Storage`] on Redis. Cheap to clone: clones share one multiplexed connection.
#[derive(Clone, Debug)]
pub struct RedisStorage {
    conn: ConnectionManager,
    keys: Arc<KeyLayout>,
    max_value_bytes: Option<usize>,
}

#[derive(Debug)]
struct KeyLayout {
    namespace: String,
    record_prefix: String,
    counter: String,
    index: String,
}

impl KeyLayout {
    fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            record_prefix: format!("{namespace}:r:"),
            counter: format!("{namespace}:v"),
            index: format!("{namespace}:i"),
        }
    }

    fn record(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.record_prefix.len() + key.len());
        k.push_str(&self.record_prefix);
        k.push_str(key);
        k
    }
}

fn unavailable(e: RedisError) -> StorageError {
    StorageError::Unavailable(e.to_string())
}

/// The connection settings [`RedisStorage::connect`] uses: short timeouts and few reconnect
/// attempts, so a Redis that went away surfaces quickly as [`StorageError::Unavailable`].
pub fn default_manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(2)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(500))
}

impl RedisStorage {
    /// Connects to `url` (e.g. `redis://127.0.0.1:6379/0`) with [`default_manager_config`].
    /// Must be called inside a Tokio runtime.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        let client = Client::open(url)
            .map_err(|e| StorageError::Unavailable(format!("invalid redis url: {e}")))?;
        let conn = ConnectionManager::new_with_config(client, default_manager_config())
            .await
            .map_err(unavailable)?;
        Ok(Self::from_manager(conn))
    }

    /// Uses an existing connection manager (for custom timeouts, TLS, auth, …).
    pub fn from_manager(conn: ConnectionManager) -> Self {
        Self {
            conn,
            keys: Arc::new(KeyLayout::new(DEFAULT_NAMESPACE)),
            max_value_bytes: None,
        }
    }

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

    /// Removes index entries of records that expired; returns how many. Runs in bounded steps,
    /// so it never blocks Redis for long.
    pub async fn purge_expired(&self) -> Result<usize, StorageError> {
        let mut min = b"-".to_vec();
        let mut removed = 0;
        loop {
            let step = self.scan(&min, b"+", usize::MAX, SCAN_BUDGET).await?;
            removed += step.removed;
            match step.resume_after {
                Some(last) => min = exclusive(&last),
                None => return Ok(removed),
            }
        }
    }

    /// One call of the scan script.
    async fn scan(
        &self,
        min: &[u8],
        max: &[u8],
        wanted: usize,
        budget: usize,
    ) -> Result<ScanStep, StorageError> {
        let mut conn = self.conn.clone();
        let reply: Vec<Vec<u8>> = lua::SCAN_SCRIPT
            .key(&self.keys.index)
            .arg(&self.keys.record_prefix)
            .arg(min)
            .arg(max)
            .arg(wanted.min(MAX_LIMIT))
            .arg(budget)
            .invoke_async(&mut conn)
            .await
            .map_err(unavailable)?;
        let bad = || StorageError::Unavailable("unexpected reply from the scan script".into());
        let [last, done, removed, keys @ ..] = reply.as_slice() else {
            return Err(bad());
        };
        let removed = std::str::from_utf8(removed)
            .ok()
            .and_then(|r| r.parse().ok())
            .ok_or_else(bad)?;
        let keys = keys
            .iter()
            .map(|k| {
                String::from_utf8(k.clone()).map_err(|_| StorageError::Corrupt {
                    key: String::from_utf8_lossy(k).into_owned(),
                    reason: "index member is not UTF-8".into(),
                })
            })
            .collect::<Result<_, _>>()?;
        // Not done means the step stopped early, after examining `last` (which may be the
        // empty key).
        let resume_after = (done.as_slice() != b"1").then(|| last.clone());
        Ok(ScanStep {
            keys,
            removed,
            resume_after,
        })
    }
}

struct ScanStep {
    keys: Vec<String>,
    removed: usize,
    /// The last member examined, when the range is not exhausted.
    resume_after: Option<Vec<u8>>,
}

fn exclusive(member: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(member.len() + 1);
    v.push(b'(');
    v.extend_from_slice(member);
    v
}

/// Parses a stored record `{"v":<version>,"d":<json>}`.
fn decode(key: &str, raw: &[u8]) -> Result<Stored, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let rest = raw
        .strip_prefix(br#"{"v":"#)
        .ok_or_else(|| corrupt("no version envelope".into()))?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let version = std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| corrupt("bad version".into()))?;
    let data = rest[digits..]
        .strip_prefix(br#","d":"#)
        .and_then(|d| d.strip_suffix(b"}"))
        .ok_or_else(|| corrupt("no data in envelope".into()))?;
    let value = serde_json::from_slice(data).map_err(|e| corrupt(format!("bad JSON: {e}")))?;
    Ok(Stored {
        value,
        version: Version(version),
    })
}

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
            .map(|(key, r)| r.map(|r| decode(key, &r)).transpose())
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
        let limit = limit.min(MAX_LIMIT);
        if limit == 0 {
            return Ok(Vec::new());
        }
        // Keys are UTF-8, which never contains the byte 0xFF: every key starting with
        // `prefix` sorts before `prefix` + 0xFF.
        let max = if prefix.is_empty() {
            b"+".to_vec()
        } else {
            [b"(", prefix.as_bytes(), b"\xff"].concat()
        };
        let mut min = match after {
            Some(after) if after >= prefix => exclusive(after.as_bytes()),
            _ => [b"[", prefix.as_bytes()].concat(),
        };
        let mut keys = Vec::new();
        // Examine a little more than needed at first; grow the step while expired members
        // keep the page from filling.
        let mut budget = limit.clamp(16, SCAN_BUDGET);
        while keys.len() < limit {
            let wanted = limit - keys.len();
            let step = self
                .scan(&min, &max, wanted, budget.max(wanted.min(SCAN_BUDGET)))
                .await?;
            budget = (budget * 2).min(SCAN_BUDGET);
            keys.extend(step.keys);
            match step.resume_after {
                Some(last) => min = exclusive(&last),
                None => break,
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_envelopes() {
        let rec = decode("k", br#"{"v":42,"d":{"a":[1,"}"]}}"#).unwrap();
        assert_eq!(
            rec,
            Stored {
                value: json!({"a": [1, "}"]}),
                version: Version(42)
            }
        );
        let rec = decode("k", br#"{"v":18446744073709551615,"d":null}"#).unwrap();
        assert_eq!(rec.version, Version(u64::MAX));
        for bad in [
            &br#"{"d":1,"v":2}"#[..],
            br#"{"v":,"d":1}"#,
            br#"{"v":1,"d":}"#,
            br#"{"v":1,"d":1"#,
            b"garbage",
        ] {
            assert!(
                matches!(decode("k", bad), Err(StorageError::Corrupt { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn key_layout() {
        let k = KeyLayout::new("botcore");
        assert_eq!(
            (k.record("a:b"), k.counter.as_str(), k.index.as_str()),
            ("botcore:r:a:b".into(), "botcore:v", "botcore:i")
        );
    }
}
