//! [`open`]: the store a binary's `--storage` flag names, so that every example binary (the
//! demo, bench-bot, the scale-test bots) reaches Redis and PostgreSQL the same way.

use botcore::Storage;
use std::sync::Arc;

/// Where a bot keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    /// In the process (lost when it stops).
    Memory,
    /// Redis.
    Redis,
    /// PostgreSQL.
    Postgres,
}

/// The PostgreSQL the demo and bench-bot use when nothing else is said.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `flag`, else `REDIS_URL`, else the local default `redis://127.0.0.1:6379/`.
pub fn redis_url(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("REDIS_URL").ok())
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".into())
}

/// `flag`, else `DATABASE_URL`, if either is set.
pub fn database_url(flag: Option<String>) -> Option<String> {
    flag.or_else(|| std::env::var("DATABASE_URL").ok())
}

/// Opens the store `kind` under `namespace` (Redis at `redis_url`, PostgreSQL at
/// `database_url`, which a PostgreSQL store needs).
pub async fn open(
    kind: StoreKind,
    namespace: &str,
    redis_url: String,
    database_url: Option<String>,
) -> Result<Arc<dyn Storage>, String> {
    Ok(match kind {
        StoreKind::Memory => Arc::new(storage_memory::MemoryStorage::new()),
        StoreKind::Redis => {
            let redis = storage_redis::RedisStorage::connect(&redis_url)
                .await
                .map_err(|e| format!("cannot use Redis at {redis_url}: {e}"))?;
            Arc::new(redis.with_namespace(namespace))
        }
        StoreKind::Postgres => {
            let url =
                database_url.ok_or("--storage postgres needs --database-url or DATABASE_URL")?;
            let postgres = storage_postgres::PostgresStorage::connect(&url)
                .await
                .map_err(|e| format!("cannot use PostgreSQL at {url}: {e}"))?;
            Arc::new(postgres.with_namespace(namespace))
        }
    })
}
