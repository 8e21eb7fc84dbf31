//! Getting a [`PostgresStorage`]: connection settings, the table, and creating the schema.

use crate::sql::Sql;
use crate::sweep::Sweeper;
use crate::{DEFAULT_NAMESPACE, PostgresStorage, Shared, error, keys};
use botcore::StorageError;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Timeouts};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::{Config, NoTls};

/// The table used unless [`PostgresOptions::table`] says otherwise.
pub const DEFAULT_TABLE: &str = "botcore_records";

/// The longest table name [`PostgresOptions::table`] accepts (PostgreSQL names have at most 63
/// bytes, and the index and sequence names add a suffix).
pub const MAX_TABLE_NAME: usize = 48;

/// How [`PostgresStorage::connect_with`] connects, and where it keeps records.
///
/// ```
/// use std::time::Duration;
/// let options = storage_postgres::PostgresOptions::default()
///     .table("mybot_records")
///     .pool_size(4)
///     .sweep_interval(Some(Duration::from_secs(300)));
/// ```
#[derive(Clone, Debug)]
pub struct PostgresOptions {
    pub(crate) table: String,
    pub(crate) pool_size: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) op_timeout: Duration,
    pub(crate) sweep_interval: Option<Duration>,
}

impl Default for PostgresOptions {
    /// Table [`DEFAULT_TABLE`], 8 connections, a 5 s connect timeout, a 30 s timeout per
    /// operation, and a sweep of expired records at most once a minute.
    fn default() -> Self {
        Self {
            table: DEFAULT_TABLE.to_owned(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            op_timeout: Duration::from_secs(30),
            sweep_interval: Some(Duration::from_secs(60)),
        }
    }
}

impl PostgresOptions {
    /// Keeps records in `table` (created if missing): lowercase ASCII letters, digits and `_`,
    /// not starting with a digit, not ending in `_version` or `_expires` (the names of a
    /// table's sequence and index), at most [`MAX_TABLE_NAME`] bytes. It is looked up on the
    /// connection's `search_path` (set one with `options=-c search_path=…` in the URL).
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// At most `size` connections at once (at least 1).
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size.max(1);
        self
    }

    /// How long opening one connection may take (unless the URL sets `connect_timeout`).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one storage call may take, waiting for a connection included; past it the call
    /// fails with [`StorageError::Unavailable`] and its connection is closed.
    /// [`PostgresStorage::connect_with`] also sets the sessions' `statement_timeout` and
    /// `idle_in_transaction_session_timeout` to this plus one second, so that the server gives
    /// up on abandoned work too.
    ///
    /// Capped at about 24.8 days, the longest `statement_timeout` PostgreSQL accepts.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout.min(MAX_OP_TIMEOUT);
        self
    }

    /// How often, at most, a write also starts a background sweep of expired records
    /// (`None`: never; call [`PostgresStorage::purge_expired`] yourself). Expired records are
    /// invisible either way; the sweep only frees their space.
    pub fn sweep_interval(mut self, interval: Option<Duration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    fn validate_table(&self) -> Result<(), StorageError> {
        let t = self.table.as_bytes();
        // `<table>_version` (its sequence) and `<table>_expires` (its index) must not be able
        // to name another table of the store.
        let reserved = self.table.ends_with("_version") || self.table.ends_with("_expires");
        let ok = !t.is_empty()
            && !reserved
            && t.len() <= MAX_TABLE_NAME
            && !t[0].is_ascii_digit()
            && t.iter()
                .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(())
        } else {
            Err(StorageError::Unavailable(format!(
                "invalid table name {:?}: use lowercase letters, digits and _ (at most {MAX_TABLE_NAME})",
                self.table
            )))
        }
    }
}

impl PostgresStorage {
    /// Connects to `url` (`postgres://user:password@host:port/dbname`, or the `key=value`
    /// form) with [`PostgresOptions::default`], without TLS, and creates the table if missing.
    /// Fails with [`StorageError::Unavailable`] if the server cannot be reached. Must be called
    /// inside a Tokio runtime.
    pub async fn connect(url: &str) -> Result<Self, StorageError> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// Like [`PostgresStorage::connect`], with `options`.
    pub async fn connect_with(url: &str, options: PostgresOptions) -> Result<Self, StorageError> {
        options.validate_table()?;
        let mut config: Config = url
            .parse()
            .map_err(|e| StorageError::Unavailable(format!("invalid postgres url: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("botcore");
        }
        config.keepalives_idle(Duration::from_secs(30));
        // Let the server, too, give up on work a timed-out call left behind (a bit after the
        // client does), so abandoned statements and transactions do not keep holding locks.
        let server_ms = (options.op_timeout + Duration::from_secs(1)).as_millis();
        let session = format!(
            "-c statement_timeout={server_ms} -c idle_in_transaction_session_timeout={server_ms}"
        );
        let options_string = match config.get_options() {
            Some(own) => format!("{own} {session}"),
            None => session,
        };
        config.options(options_string);
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = Manager::from_config(config, NoTls, manager_config);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .timeouts(Timeouts {
                wait: Some(options.op_timeout),
                create: Some(options.connect_timeout),
                recycle: Some(options.connect_timeout),
            })
            .build()
            .map_err(|e| StorageError::Unavailable(format!("postgres pool: {e}")))?;
        Self::from_pool(pool, options).await
    }

    /// Uses a pool set up by the caller (for TLS, custom authentication, hooks, …), with the
    /// table, timeouts and sweep of `options` (its pool size is the pool's own). Creates the
    /// table if missing. The pool needs a runtime for its timeouts
    /// ([`deadpool_postgres::Runtime::Tokio1`]).
    pub async fn from_pool(pool: Pool, options: PostgresOptions) -> Result<Self, StorageError> {
        options.validate_table()?;
        let sql = Sql::new(&options.table);
        let create = async {
            let mut client = pool.get().await.map_err(error::pool)?;
            let txn = client
                .transaction()
                .await
                .map_err(|e| error::unavailable("begin", &e))?;
            txn.batch_execute(&sql.create)
                .await
                .map_err(|e| error::unavailable("creating the table", &e))?;
            txn.commit()
                .await
                .map_err(|e| error::unavailable("creating the table", &e))
        };
        tokio::time::timeout(options.op_timeout, create)
            .await
            .map_err(|_| {
                StorageError::Unavailable("postgres: creating the table timed out".into())
            })??;
        Ok(Self {
            shared: Arc::new(Shared {
                pool,
                sql,
                table: options.table,
                op_timeout: options.op_timeout,
                sweeper: Sweeper::new(options.sweep_interval),
            }),
            namespace: Arc::from(DEFAULT_NAMESPACE),
            stored_namespace: Arc::from(keys::escape(DEFAULT_NAMESPACE).as_ref()),
            max_value_bytes: None,
            clock: None,
        })
    }
}

/// The longest [`PostgresOptions::op_timeout`]: the server's `statement_timeout` (set to it
/// plus one second) must fit in an `i32` of milliseconds.
const MAX_OP_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64 - 1_000);
