//! How records are kept: as their compact JSON bytes, which take a fraction of the memory of
//! a `serde_json::Value` tree (one allocation per record instead of one or more per node).
//! Values are encoded once when written and decoded when read; the optional size limit
//! ([`MemoryStorage::with_max_value_bytes`]) is checked on the bytes that are kept.

use crate::MemoryStorage;
use botcore::{StorageError, WriteOp};
use serde_json::Value;
use std::cell::RefCell;
use std::sync::Arc;

/// A scratch buffer above this size is not kept for the next write.
const KEEP_SCRATCH: usize = 64 * 1024;

thread_local! {
    /// Where values are serialized before being copied into a buffer of their exact size.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl MemoryStorage {
    /// The bytes `op` puts (`None` for a delete), or [`StorageError::TooLarge`] if they are
    /// longer than the limit.
    pub(crate) fn encode(&self, op: &WriteOp) -> Result<Option<Arc<[u8]>>, StorageError> {
        let Some(value) = &op.value else {
            return Ok(None);
        };
        SCRATCH.with_borrow_mut(|buf| {
            buf.clear();
            let written = serde_json::to_writer(&mut *buf, value);
            let out = match written {
                Err(e) => Err(StorageError::Unavailable(format!(
                    "cannot serialize value: {e}"
                ))),
                Ok(()) => match self.max_value_bytes {
                    Some(limit) if buf.len() > limit => Err(StorageError::TooLarge {
                        key: op.key.clone(),
                        size: buf.len(),
                        limit,
                    }),
                    _ => Ok(Some(Arc::from(&buf[..]))),
                },
            };
            if buf.capacity() > KEEP_SCRATCH {
                *buf = Vec::new();
            }
            out
        })
    }
}

/// The value kept as `bytes` under `key`.
pub(crate) fn decode(key: &str, bytes: &[u8]) -> Result<Value, StorageError> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use botcore::Precondition;
    use serde_json::json;

    #[test]
    fn values_come_back_as_they_were_written() {
        let s = MemoryStorage::new();
        for v in [
            json!({"a": [1, -2, 2.5, 0.0, 1e300, "é\"\n"], "b": null, "c": {"d": true}}),
            json!(u64::MAX),
            json!(i64::MIN),
            json!(""),
            Value::Null,
        ] {
            let op = WriteOp::put("k", v.clone(), Precondition::Any);
            let bytes = s.encode(&op).unwrap().unwrap();
            assert_eq!(bytes.len(), serde_json::to_vec(&v).unwrap().len());
            assert_eq!(decode("k", &bytes).unwrap(), v);
        }
    }
}
