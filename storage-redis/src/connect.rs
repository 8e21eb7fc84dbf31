//! Getting a [`RedisStorage`]: connecting by URL with [`default_manager_config`], or wrapping
//! a connection manager set up by the caller.

use crate::key_layout::KeyLayout;
use crate::{DEFAULT_NAMESPACE, RedisStorage, unavailable};
use botcore::StorageError;
use redis::Client;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

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
}
