//! [`Storage::write_many`] on Redis: one call of the write script in [`crate::lua`] over the
//! batch's record keys and the indexes of the indexed families it touches (and nothing else).
//!
//! [`Storage::write_many`]: botcore::Storage::write_many

use crate::key_layout::family;
use crate::{RedisStorage, lua, unavailable};
use botcore::{Precondition, StorageError, Version, WriteOp};

impl RedisStorage {
    /// Writes `ops` (not empty) atomically.
    pub(crate) async fn write_batch(
        &self,
        ops: &[WriteOp],
    ) -> Result<Vec<Option<Version>>, StorageError> {
        let mut inv = lua::WRITE_SCRIPT.prepare_invoke();
        inv.arg(ops.len());
        // The indexes this batch touches, in order of first use; their KEYS positions follow
        // the records'.
        let mut families: Vec<&str> = Vec::new();
        for op in ops {
            let data = match &op.value {
                Some(value) => self.encode(&op.key, value)?,
                None => String::new(),
            };
            let (cond, expected) = match op.precondition {
                Precondition::Any => ("a", String::new()),
                Precondition::IfMatch(v) => ("m", v.0.to_string()),
                Precondition::IfAbsent => ("n", String::new()),
            };
            // A TTL under a millisecond still expires (PX 0 is an error in Redis); a huge one
            // is capped so that Redis's `now + PX` cannot overflow and fail the script after
            // earlier writes of the batch (a failing script is not rolled back).
            let ttl_ms = op
                .ttl
                .map_or(0, |t| t.as_millis().clamp(1, MAX_TTL_MS) as u64);
            let (index_pos, member) = match family(&op.key) {
                Some(f) => {
                    let i = families.iter().position(|g| *g == f).unwrap_or_else(|| {
                        families.push(f);
                        families.len() - 1
                    });
                    (ops.len() + 1 + i, op.key.as_str())
                }
                None => (0, ""),
            };
            inv.key(self.keys.record(&op.key))
                .arg(if op.value.is_some() { "p" } else { "d" })
                .arg(cond)
                .arg(expected)
                .arg(ttl_ms)
                .arg(index_pos)
                .arg(member)
                .arg(data);
        }
        for f in &families {
            inv.key(self.keys.index(f));
        }
        let mut conn = self.conn.clone();
        let reply: Vec<String> = inv.invoke_async(&mut conn).await.map_err(unavailable)?;
        let key_of = |i: usize| ops.get(i).map(|op| op.key.clone()).unwrap_or_default();
        match reply.first().map(String::as_str) {
            Some("ok") if reply.len() == ops.len() + 1 => reply[1..]
                .iter()
                .map(|v| match v.as_str() {
                    "" => Ok(None),
                    v => v.parse().map(|v| Some(Version(v))).map_err(|_| {
                        StorageError::Unavailable(format!(
                            "write script returned a bad version {v:?}"
                        ))
                    }),
                })
                .collect(),
            Some("conflict") => Err(StorageError::Conflict {
                key: parse_index(key_of, reply.get(1))?,
            }),
            Some("corrupt") => Err(StorageError::Corrupt {
                key: parse_index(key_of, reply.get(1))?,
                reason: "stored record has no version envelope".into(),
            }),
            _ => Err(StorageError::Unavailable(format!(
                "unexpected reply from the write script: {reply:?}"
            ))),
        }
    }

    /// The compact JSON of `value`, checked against the size limit.
    fn encode(&self, key: &str, value: &serde_json::Value) -> Result<String, StorageError> {
        let data = serde_json::to_string(value)
            .map_err(|e| StorageError::Unavailable(format!("cannot serialize value: {e}")))?;
        if let Some(limit) = self.max_value_bytes.filter(|&limit| data.len() > limit) {
            return Err(StorageError::TooLarge {
                key: key.to_owned(),
                size: data.len(),
                limit,
            });
        }
        Ok(data)
    }
}

/// The key of the operation that a `conflict` or `corrupt` reply of the write script names by
/// its 1-based position in the batch.
fn parse_index(
    key_of: impl Fn(usize) -> String,
    raw: Option<&String>,
) -> Result<String, StorageError> {
    let bad = || StorageError::Unavailable("unexpected reply from the write script".into());
    let i: usize = raw.and_then(|r| r.parse().ok()).ok_or_else(bad)?;
    if i == 0 {
        return Err(bad());
    }
    Ok(key_of(i - 1))
}

/// The longest TTL passed to Redis (about 73 million years): far from `i64::MAX` ms, so
/// `now + PX` never overflows.
const MAX_TTL_MS: u128 = (i64::MAX / 4) as u128;
