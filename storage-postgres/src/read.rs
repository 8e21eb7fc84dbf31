//! `read_many` and `list_keys`: one statement each, no transaction.

use crate::{PostgresStorage, error, keys, settle};
use botcore::{StorageError, Stored, Version};
use deadpool_postgres::Object;
use std::collections::HashMap;

/// Reads `keys` (not empty) in one `key = ANY($2)` query.
pub(crate) async fn read_many(
    s: &PostgresStorage,
    keys: &[&str],
) -> Result<Vec<Option<Stored>>, StorageError> {
    let deadline = s.deadline();
    let client = s.client(deadline).await?;
    let result = tokio::time::timeout_at(deadline, query_records(s, &client, keys)).await;
    settle(client, result)
}

async fn query_records(
    s: &PostgresStorage,
    client: &Object,
    keys: &[&str],
) -> Result<Vec<Option<Stored>>, StorageError> {
    let stored: Vec<String> = keys.iter().map(|k| keys::escape(k).into_owned()).collect();
    let statement = client
        .prepare_cached(&s.shared.sql.read)
        .await
        .map_err(|e| error::unavailable("read", &e))?;
    let now = s.now_param();
    let rows = client
        .query(&statement, &[&&*s.stored_namespace, &stored, &now])
        .await
        .map_err(|e| error::unavailable("read", &e))?;
    let mut found: HashMap<String, (i64, String)> = HashMap::with_capacity(rows.len());
    for row in rows {
        let (key, version, value) = row_fields(&row).map_err(|e| error::unavailable("read", &e))?;
        found.insert(key, (version, value));
    }
    keys.iter()
        .zip(&stored)
        .map(|(key, stored)| {
            let Some((version, text)) = found.get(stored) else {
                return Ok(None);
            };
            let value = serde_json::from_str(text).map_err(|e| StorageError::Corrupt {
                key: (*key).to_owned(),
                reason: format!("stored value is not JSON this build can read: {e}"),
            })?;
            Ok(Some(Stored {
                value,
                version: Version(*version as u64),
            }))
        })
        .collect()
}

fn row_fields(row: &tokio_postgres::Row) -> Result<(String, i64, String), tokio_postgres::Error> {
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

/// Up to `limit` (> 0) live keys starting with `prefix`, after `after`, by an index range scan.
pub(crate) async fn list_keys(
    s: &PostgresStorage,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, StorageError> {
    let deadline = s.deadline();
    let client = s.client(deadline).await?;
    let work = query_keys(s, &client, prefix, after, limit);
    let result = tokio::time::timeout_at(deadline, work).await;
    settle(client, result)
}

async fn query_keys(
    s: &PostgresStorage,
    client: &Object,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<String>, StorageError> {
    let prefix = keys::escape(prefix);
    let after = after.map(keys::escape);
    // The tighter lower bound: strictly after `after`, or from the prefix on.
    let (lower, inclusive) = match &after {
        Some(a) if **a >= *prefix => (a.as_ref(), false),
        _ => (prefix.as_ref(), true),
    };
    let upper = keys::prefix_end(&prefix);
    let sql = &s.shared.sql.list[usize::from(inclusive)][usize::from(upper.is_some())];
    let statement = client
        .prepare_cached(sql)
        .await
        .map_err(|e| error::unavailable("list", &e))?;
    let now = s.now_param();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let ns: &str = &s.stored_namespace;
    let rows = match &upper {
        Some(upper) => {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] =
                [&ns, &lower, &now, &limit, upper];
            client.query(&statement, &params).await
        }
        None => client.query(&statement, &[&ns, &lower, &now, &limit]).await,
    }
    .map_err(|e| error::unavailable("list", &e))?;
    rows.iter()
        .map(|row| {
            let stored: String = row.try_get(0).map_err(|e| error::unavailable("list", &e))?;
            keys::unescape(&stored).ok_or_else(|| StorageError::Corrupt {
                key: stored.clone(),
                reason: "stored key has an invalid escape".into(),
            })
        })
        .collect()
}
