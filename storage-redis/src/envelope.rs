//! The envelope a record is stored in: the Redis string `{"v":<version>,"d":<json>}`. The
//! write script in [`crate::lua`] builds it (the version is only known inside the script);
//! reads parse it here.

use botcore::{StorageError, Stored, Version};

/// Parses a stored record `{"v":<version>,"d":<json>}`.
pub(crate) fn decode(key: &str, raw: &[u8]) -> Result<Stored, StorageError> {
    let corrupt = |reason: String| StorageError::Corrupt {
        key: key.to_owned(),
        reason,
    };
    let rest = raw
        .strip_prefix(br#"{"v":"#)
        .ok_or_else(|| corrupt("no version envelope".into()))?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let version = std::str::from_utf8(&rest[..digits])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| corrupt("bad version".into()))?;
    let data = rest[digits..]
        .strip_prefix(br#","d":"#)
        .and_then(|d| d.strip_suffix(b"}"))
        .ok_or_else(|| corrupt("no data in envelope".into()))?;
    let value = serde_json::from_slice(data).map_err(|e| corrupt(format!("bad JSON: {e}")))?;
    Ok(Stored {
        value,
        version: Version(version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_envelopes() {
        let rec = decode("k", br#"{"v":42,"d":{"a":[1,"}"]}}"#).unwrap();
        assert_eq!(
            rec,
            Stored {
                value: json!({"a": [1, "}"]}),
                version: Version(42)
            }
        );
        let rec = decode("k", br#"{"v":18446744073709551615,"d":null}"#).unwrap();
        assert_eq!(rec.version, Version(u64::MAX));
        for bad in [
            &br#"{"d":1,"v":2}"#[..],
            br#"{"v":,"d":1}"#,
            br#"{"v":1,"d":}"#,
            br#"{"v":1,"d":1"#,
            b"garbage",
        ] {
            assert!(
                matches!(decode("k", bad), Err(StorageError::Corrupt { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
