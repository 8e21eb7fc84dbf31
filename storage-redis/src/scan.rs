//! Listing without an index: [`Storage::list_keys`] for prefixes outside the indexed families
//! walks the namespace's records with `SCAN … MATCH <namespace>:r:<prefix>*` and keeps the
//! smallest keys after `after`. Each page costs a walk of the whole database (in steps of
//! [`SCAN_COUNT`], so Redis is never blocked for long): fine for rare listings (tools, tests),
//! not for a hot path, which is what the family indexes are for. Records that expired are not
//! returned (Redis's SCAN skips them).
//!
//! [`Storage::list_keys`]: botcore::Storage::list_keys

use crate::{RedisStorage, unavailable};
use botcore::StorageError;
use std::collections::BTreeSet;

/// The `COUNT` hint of each SCAN step.
const SCAN_COUNT: usize = 1000;

impl RedisStorage {
    /// [`botcore::Storage::list_keys`] by SCAN.
    pub(crate) async fn list_scan(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        let mut best: BTreeSet<String> = BTreeSet::new();
        let full_prefix = self.keys.record(prefix);
        self.scan_records(&full_prefix, |raw| {
            let key = self.record_key(raw)?;
            let wanted = after.is_none_or(|a| key.as_str() > a)
                && (best.len() < limit || best.last().is_some_and(|l| key < *l));
            if wanted && best.insert(key) && best.len() > limit {
                best.pop_last();
            }
            Ok(())
        })
        .await?;
        Ok(best.into_iter().collect())
    }

    /// Calls `each` with every Redis key that starts with `full_prefix` (a record key prefix),
    /// once or more (SCAN may repeat a key).
    async fn scan_records(
        &self,
        full_prefix: &str,
        mut each: impl FnMut(&[u8]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        let mut cursor = 0;
        loop {
            let (next, batch) = self.scan_step(full_prefix, cursor).await?;
            for raw in &batch {
                each(raw)?;
            }
            match next {
                0 => return Ok(()),
                next => cursor = next,
            }
        }
    }

    /// One SCAN step from `cursor` over the Redis keys starting with `full_prefix`: the next
    /// cursor (`0` when done) and the keys found.
    pub(crate) async fn scan_step(
        &self,
        full_prefix: &str,
        cursor: u64,
    ) -> Result<(u64, Vec<Vec<u8>>), StorageError> {
        let mut conn = self.conn.clone();
        let (next, mut batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", glob_escape(full_prefix)))
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        batch.retain(|k| k.starts_with(full_prefix.as_bytes()));
        Ok((next, batch))
    }

    /// The record key stored under the Redis key `raw` (which starts with the record prefix).
    pub(crate) fn record_key(&self, raw: &[u8]) -> Result<String, StorageError> {
        let rest = &raw[self.keys.record_prefix.len().min(raw.len())..];
        String::from_utf8(rest.to_vec()).map_err(|_| StorageError::Corrupt {
            key: String::from_utf8_lossy(rest).into_owned(),
            reason: "record key is not UTF-8".into(),
        })
    }
}

/// `s` as a Redis glob pattern matching exactly `s`.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::glob_escape;

    #[test]
    fn escapes_glob_characters() {
        assert_eq!(glob_escape("ns:r:a*b?[c]\\d"), r"ns:r:a\*b\?\[c\]\\d");
        assert_eq!(glob_escape("plain/ключ {tag}"), "plain/ключ {tag}");
    }
}
