//! PostgreSQL [`Storage`] for botcore: versioned JSON records in one table, with atomic
//! compare-and-set batches done as one transaction each, on a small connection pool
//! ([`deadpool_postgres`] over [`tokio_postgres`]).
//!
//! - One row per record: `(ns, key)` is the primary key (both `text COLLATE "C"`, so the index
//!   is in byte order), `value` is the JSON text exactly as serialized (type `json`, not
//!   `jsonb`, which would reorder object keys, reject `\u0000` and rewrite numbers), `version`
//!   a `bigint`, `expires_at` milliseconds since the Unix epoch or `NULL`. The table is created
//!   if missing; its layout is in the crate README.
//! - Versions come from one sequence per table (`nextval` takes no row lock, so there is no hot
//!   row): never reused, even after a delete, and increasing per key, because a record's new
//!   version is drawn while its row is locked.
//! - [`Storage::write_many`] is one transaction: it takes an advisory lock per key (present or
//!   not, in one global order, so concurrent batches queue instead of deadlocking), locks the
//!   batch's existing rows (`SELECT … FOR UPDATE`), checks every precondition against them,
//!   then applies the batch in one round trip of pipelined statements; a key that must still
//!   be absent is inserted with `ON CONFLICT DO NOTHING`, so a concurrent insert is a
//!   [`StorageError::Conflict`] too. A failed precondition rolls everything back. Transactions
//!   the server aborts for a deadlock or a serialization failure are run again (a few times).
//! - [`Storage::list_keys`] is a range scan of the primary key index, in byte order.
//! - TTLs: expired rows read as absent (reads, listings and preconditions) and are deleted by
//!   a background sweep after a write, at most once per
//!   [`PostgresOptions::sweep_interval`], or by [`PostgresStorage::purge_expired`]. Time is the
//!   server's, unless [`PostgresStorage::with_clock`] gives one (tests).
//! - Sizes are checked before anything is sent ([`StorageError::TooLarge`]).
//! - A server that cannot be reached, a lost connection or a call taking longer than
//!   [`PostgresOptions::op_timeout`] gives [`StorageError::Unavailable`]; the pool opens new
//!   connections on later calls, so the same storage works again once the server is back.
//!
//! Without TLS: [`PostgresStorage::connect`] uses [`tokio_postgres::NoTls`]. For TLS, build a
//! [`deadpool_postgres::Pool`] with a TLS connector and pass it to
//! [`PostgresStorage::from_pool`]. Keys are limited by PostgreSQL's B-tree entry size (about
//! 2.6 KB for namespace and key together); longer keys fail with `Unavailable`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), botcore::StorageError> {
//! use botcore::{Precondition, StorageExt, json};
//! let storage = storage_postgres::PostgresStorage::connect("postgres://bot@127.0.0.1/bot")
//!     .await?
//!     .with_namespace("mybot")
//!     .with_max_value_bytes(256 * 1024);
//! storage.write("user:1", json!({"name": "Ada"}), Precondition::IfAbsent).await?;
//! # Ok(()) }
//! ```

mod error;
mod keys;
mod options;
mod read;
mod sql;
mod sweep;
mod write;

use async_trait::async_trait;
use botcore::{Clock, Storage, StorageError, Stored, SystemClock, Version, WriteOp};
use deadpool_postgres::{Object, Pool};
use std::fmt;
use std::sync::Arc;
use tokio::time::Instant;

pub use deadpool_postgres;
pub use options::{DEFAULT_TABLE, MAX_TABLE_NAME, PostgresOptions};
pub use tokio_postgres;

/// The namespace used unless [`PostgresStorage::with_namespace`] says otherwise.
pub const DEFAULT_NAMESPACE: &str = "botcore";

/// What every view of one connected table shares.
struct Shared {
    pool: Pool,
    sql: sql::Sql,
    table: String,
    op_timeout: std::time::Duration,
    sweeper: sweep::Sweeper,
}

/// A [`Storage`] on PostgreSQL. Cheap to clone: clones (and other namespaces made with
/// [`PostgresStorage::with_namespace`]) share one connection pool.
#[derive(Clone)]
pub struct PostgresStorage {
    shared: Arc<Shared>,
    namespace: Arc<str>,
    /// The namespace as stored (escaped like keys).
    stored_namespace: Arc<str>,
    max_value_bytes: Option<usize>,
    clock: Option<Arc<dyn Clock>>,
}

impl fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStorage")
            .field("table", &self.shared.table)
            .field("namespace", &self.namespace)
            .field("max_value_bytes", &self.max_value_bytes)
            .field("clock", &self.clock)
            .field("pool", &self.shared.pool.status())
            .finish_non_exhaustive()
    }
}

impl PostgresStorage {
    /// The same table and pool, with every key under `namespace` (default
    /// [`DEFAULT_NAMESPACE`]). Namespaces are a column of their own, so they never alias
    /// (`"a"` + key `"bc"` never meets `"ab"` + key `"c"`).
    pub fn with_namespace(mut self, namespace: impl AsRef<str>) -> Self {
        let namespace = namespace.as_ref();
        self.stored_namespace = Arc::from(keys::escape(namespace).as_ref());
        self.namespace = Arc::from(namespace);
        self
    }

    /// Rejects values whose serialized JSON is longer than `bytes` with
    /// [`StorageError::TooLarge`], before anything is sent to the server.
    pub fn with_max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = Some(bytes);
        self
    }

    /// Reads time (for TTLs) from `clock`, e.g. a [`botcore::ManualClock`] in tests, instead
    /// of the server's clock. Every storage sharing a table should use the same time source.
    pub fn with_clock(self, clock: impl Clock) -> Self {
        self.with_shared_clock(Arc::new(clock))
    }

    /// Like [`PostgresStorage::with_clock`], for a clock already behind an `Arc`.
    pub fn with_shared_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The table.
    pub fn table(&self) -> &str {
        &self.shared.table
    }

    /// The connection pool (for its status, or for queries of your own).
    pub fn pool(&self) -> &Pool {
        &self.shared.pool
    }

    /// "Now" for SQL: the clock's time, or `None` for the server's.
    fn now_param(&self) -> Option<i64> {
        let clock = self.clock.as_ref()?;
        Some(clock.now_ms().min(i64::MAX as u64) as i64)
    }

    fn clock_ms(&self) -> u64 {
        self.clock
            .as_ref()
            .map_or(SystemClock.now_ms(), |c| c.now_ms())
    }

    /// A pooled connection, waiting at most until `deadline`.
    async fn client(&self, deadline: Instant) -> Result<Conn, StorageError> {
        let client = tokio::time::timeout_at(deadline, self.shared.pool.get())
            .await
            .map_err(|_| timed_out())?
            .map_err(error::pool)?;
        Ok(Conn {
            client: Some(client),
            finished: false,
        })
    }

    /// The deadline of a call starting now.
    fn deadline(&self) -> Instant {
        Instant::now() + self.shared.op_timeout
    }
}

fn timed_out() -> StorageError {
    StorageError::Unavailable("postgres: call timed out".into())
}

/// A pooled connection that goes back to the pool only when its call finished. One whose
/// call timed out, or whose caller gave up on the call (dropped it mid-statement), is closed
/// instead: it may still be busy on the server, and the next call would queue behind it.
pub(crate) struct Conn {
    client: Option<Object>,
    finished: bool,
}

impl std::ops::Deref for Conn {
    type Target = Object;
    fn deref(&self) -> &Object {
        self.client
            .as_ref()
            .expect("a connection is held until dropped")
    }
}

impl std::ops::DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut Object {
        self.client
            .as_mut()
            .expect("a connection is held until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if !self.finished
            && let Some(client) = self.client.take()
        {
            drop(Object::take(client));
        }
    }
}

/// The result of work on `client` that had until a deadline; a call that finished (well or
/// with an error) gives its connection back to the pool, one that timed out closes it.
fn settle<T>(
    mut client: Conn,
    result: Result<Result<T, StorageError>, tokio::time::error::Elapsed>,
) -> Result<T, StorageError> {
    match result {
        Ok(result) => {
            client.finished = true;
            result
        }
        Err(_) => Err(timed_out()),
    }
}

#[async_trait]
impl Storage for PostgresStorage {
    async fn read_many(&self, keys: &[&str]) -> Result<Vec<Option<Stored>>, StorageError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        read::read_many(self, keys).await
    }

    async fn write_many(&self, ops: Vec<WriteOp>) -> Result<Vec<Option<Version>>, StorageError> {
        if ops.is_empty() {
            return Ok(Vec::new());
        }
        let versions = write::write_many(self, ops).await?;
        self.maybe_sweep();
        Ok(versions)
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
        read::list_keys(self, prefix, after, limit).await
    }
}
