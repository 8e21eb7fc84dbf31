//! The family indexes (`<namespace>:i:<family>`, one sorted set per family in
//! [`crate::INDEXED_FAMILIES`]) and the walks over them: [`Storage::list_keys`] pages one with
//! `ZRANGEBYLEX`, and [`RedisStorage::purge_expired`] sweeps them all. Records that expired
//! leave stale members behind; both walks hand the members they pass to the prune script in
//! [`crate::lua`] (with their record keys in `KEYS`), which drops those whose record is gone.
//! Each step examines a bounded number of members, so a walk never blocks Redis for long.
//!
//! [`Storage::list_keys`]: botcore::Storage::list_keys

use crate::{INDEXED_FAMILIES, RedisStorage, lua, unavailable};
use botcore::StorageError;

/// At most this many index members are examined per step while listing or purging.
const STEP: usize = 1000;

impl RedisStorage {
    /// Removes index entries of records that expired; returns how many. Only the indexes of
    /// [`INDEXED_FAMILIES`] hold entries (Redis expires the records themselves). Runs in
    /// bounded steps, so it never blocks Redis for long.
    pub async fn purge_expired(&self) -> Result<usize, StorageError> {
        let mut removed = 0;
        for family in INDEXED_FAMILIES {
            let index = self.keys.index(family);
            let mut min = b"-".to_vec();
            loop {
                let members = self.range(&index, &min, b"+", STEP).await?;
                let live = self.prune(&index, &members).await?;
                removed += live.iter().filter(|l| !**l).count();
                match members.last() {
                    Some(last) if members.len() == STEP => min = exclusive(last),
                    _ => break,
                }
            }
        }
        Ok(removed)
    }

    /// [`botcore::Storage::list_keys`] for a non-empty `prefix` inside the family indexed at
    /// `index`, in steps that grow while expired members keep the page from filling.
    pub(crate) async fn list_index(
        &self,
        index: &str,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        // Keys are UTF-8, which never contains the byte 0xFF: every key starting with
        // `prefix` sorts before `prefix` + 0xFF.
        let max = [b"(", prefix.as_bytes(), b"\xff"].concat();
        let mut min = match after {
            Some(after) if after >= prefix => exclusive(after.as_bytes()),
            _ => [b"[", prefix.as_bytes()].concat(),
        };
        let mut keys = Vec::new();
        let mut step = limit.clamp(16, STEP);
        while keys.len() < limit {
            let members = self.range(index, &min, &max, step).await?;
            let live = self.prune(index, &members).await?;
            for (member, live) in members.iter().zip(live) {
                if live && keys.len() < limit {
                    keys.push(String::from_utf8(member.clone()).map_err(|_| {
                        StorageError::Corrupt {
                            key: String::from_utf8_lossy(member).into_owned(),
                            reason: "index member is not UTF-8".into(),
                        }
                    })?);
                }
            }
            match members.last() {
                Some(last) if members.len() == step => min = exclusive(last),
                _ => break,
            }
            step = (step * 2).min(STEP);
        }
        Ok(keys)
    }

    /// Up to `count` members of `index` in `[min, max]` (ZRANGEBYLEX syntax).
    async fn range(
        &self,
        index: &str,
        min: &[u8],
        max: &[u8],
        count: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        let mut conn = self.conn.clone();
        redis::cmd("ZRANGEBYLEX")
            .arg(index)
            .arg(min)
            .arg(max)
            .arg("LIMIT")
            .arg(0)
            .arg(count)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)
    }

    /// Whether each member's record exists; members whose record is gone leave the index.
    async fn prune(&self, index: &str, members: &[Vec<u8>]) -> Result<Vec<bool>, StorageError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = lua::PRUNE_SCRIPT.prepare_invoke();
        inv.key(index);
        for m in members {
            inv.key([self.keys.record_prefix.as_bytes(), m].concat())
                .arg(m.as_slice());
        }
        let mut conn = self.conn.clone();
        let flags: Vec<u8> = inv.invoke_async(&mut conn).await.map_err(unavailable)?;
        if flags.len() != members.len() {
            return Err(StorageError::Unavailable(
                "unexpected reply from the prune script".into(),
            ));
        }
        Ok(flags.into_iter().map(|f| f == b'1').collect())
    }
}

/// The ZRANGEBYLEX bound just after `member`.
pub(crate) fn exclusive(member: &[u8]) -> Vec<u8> {
    [b"(", member].concat()
}
