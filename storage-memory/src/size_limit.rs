//! The optional limit on a value's serialized size
//! ([`MemoryStorage::with_max_value_bytes`]). Values are kept as JSON trees, so the size is
//! measured by serializing into a byte counter, without keeping the bytes.

use crate::MemoryStorage;
use botcore::{StorageError, WriteOp};
use std::io;

impl MemoryStorage {
    /// Fails with [`StorageError::TooLarge`] if `op` puts a value whose serialized JSON is
    /// longer than the limit.
    pub(crate) fn check_size(&self, op: &WriteOp) -> Result<(), StorageError> {
        let (Some(limit), Some(value)) = (self.max_value_bytes, &op.value) else {
            return Ok(());
        };
        let mut counter = ByteCounter(0);
        serde_json::to_writer(&mut counter, value)
            .map_err(|e| StorageError::Unavailable(format!("cannot serialize value: {e}")))?;
        if counter.0 > limit {
            return Err(StorageError::TooLarge {
                key: op.key.clone(),
                size: counter.0,
                limit,
            });
        }
        Ok(())
    }
}

/// Counts serialized bytes without keeping them.
struct ByteCounter(usize);

impl io::Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counter_matches_serialized_length() {
        let v = serde_json::json!({"a": [1, 2.5, "é"], "b": null});
        let mut c = ByteCounter(0);
        serde_json::to_writer(&mut c, &v).unwrap();
        assert_eq!(c.0, serde_json::to_vec(&v).unwrap().len());
    }
}
