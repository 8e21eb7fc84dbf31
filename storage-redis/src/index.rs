//! The key index of a namespace (`<namespace>:i`, a sorted set of every record key) and the
//! walks over it: [`Storage::list_keys`] pages it with `ZRANGEBYLEX`, and
//! [`RedisStorage::purge_expired`] sweeps it. Records that expired leave stale members behind;
//! both walks drop them as they pass. Each call of the scan script in [`crate::lua`] examines
//! a bounded number of members, so a walk never blocks Redis for long.
//!
//! [`Storage::list_keys`]: botcore::Storage::list_keys

use crate::{RedisStorage, lua, unavailable};
use botcore::StorageError;

/// At most this many index members are examined per script call while listing or purging, so
/// one call never blocks Redis for long.
const SCAN_BUDGET: usize = 1000;

/// Listing limits are capped here (Lua numbers are doubles).
const MAX_LIMIT: usize = 1 << 32;

impl RedisStorage {
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

    /// Pages the index for [`botcore::Storage::list_keys`], in steps of the scan script that
    /// grow while expired members keep the page from filling.
    pub(crate) async fn list_index(
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
