//! Moving a store from the layout with a global version counter and a global key index to the
//! layout of this version (see the crate README): [`RedisStorage::migrate_layout`].

use crate::{INDEXED_FAMILIES, RedisStorage, unavailable};
use botcore::StorageError;

impl RedisStorage {
    /// Brings a namespace written by the layout before (records plus a global version counter
    /// `<namespace>:v` and a global key index `<namespace>:i`) to this layout, and returns how
    /// many index entries it added (entries that were missing: `0` when run again).
    ///
    /// Records keep their envelope and their version, so a reader holding a version read
    /// before still gets its compare-and-set; the next write of a record gives it a
    /// clock-based version, which is above every counter version. The migration builds the
    /// index of every family in [`INDEXED_FAMILIES`] from the records themselves (a `SCAN` of
    /// the namespace, one `ZADD` per SCAN step), then deletes the old key index. It leaves the old
    /// counter alone: this version never reads or writes it, and a process of the version
    /// before that still runs (or runs again after a rollback) keeps counting from it, so its
    /// versions never repeat one it handed out before. Delete `<namespace>:v` by hand once no
    /// such process will run again.
    ///
    /// Idempotent, and safe while processes of this version use the namespace. Processes of
    /// the version before stay safe for compare-and-set (counter versions never equal
    /// clock-based ones) but index the records they create only in the old key index: stop
    /// them first, or run the migration again once the last one is gone.
    pub async fn migrate_layout(&self) -> Result<usize, StorageError> {
        let mut added = 0;
        for family in INDEXED_FAMILIES {
            let index = self.keys.index(family);
            let prefix = self.keys.record(family);
            let mut cursor = 0;
            loop {
                let (next, found) = self.scan_step(&prefix, cursor).await?;
                if !found.is_empty() {
                    let mut cmd = redis::cmd("ZADD");
                    cmd.arg(&index);
                    for raw in &found {
                        cmd.arg(0).arg(&raw[self.keys.record_prefix.len()..]);
                    }
                    let mut conn = self.conn.clone();
                    let n: usize = cmd.query_async(&mut conn).await.map_err(unavailable)?;
                    added += n;
                }
                match next {
                    0 => break,
                    next => cursor = next,
                }
            }
        }
        let mut conn = self.conn.clone();
        let _: usize = redis::cmd("UNLINK")
            .arg(&self.keys.legacy_index)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(added)
    }
}
