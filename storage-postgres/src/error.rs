//! Mapping PostgreSQL and pool failures to [`StorageError`].

use botcore::StorageError;
use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// Any failure of the server or the connection: the operation may or may not have happened.
pub(crate) fn unavailable(what: &str, e: &tokio_postgres::Error) -> StorageError {
    let detail = match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    StorageError::Unavailable(format!("postgres {what}: {detail}"))
}

/// No connection could be had from the pool (server down, pool exhausted, …).
pub(crate) fn pool(e: PoolError) -> StorageError {
    match e {
        PoolError::Backend(e) => unavailable("connect", &e),
        e => StorageError::Unavailable(format!("postgres pool: {e}")),
    }
}

/// Whether a failed transaction was rolled back by the server only because it collided with
/// another one (deadlock, serialization failure), so running it again may succeed.
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}
