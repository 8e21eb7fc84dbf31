//! How keys and namespaces are stored in `text COLLATE "C"` columns.
//!
//! PostgreSQL text cannot hold NUL, and botcore keys may contain it. Keys are therefore
//! stored with an escape that only touches the two lowest characters: `U+0000` becomes
//! `U+0001 U+0001` and `U+0001` becomes `U+0001 U+0002`; every other character is stored as
//! is, so keys stay readable in `psql`. The escape preserves byte order and prefixes (the
//! escaped form of a prefix is a prefix of the escaped key), so `list_keys` can page with
//! plain range conditions on the primary key index.

use std::borrow::Cow;

const ESC: char = '\u{1}';

/// The stored form of `key`.
pub(crate) fn escape(key: &str) -> Cow<'_, str> {
    if !key.contains(['\0', ESC]) {
        return Cow::Borrowed(key);
    }
    let mut out = String::with_capacity(key.len() + 8);
    for c in key.chars() {
        match c {
            '\0' => out.push_str("\u{1}\u{1}"),
            ESC => out.push_str("\u{1}\u{2}"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The key a stored form stands for, or `None` if it is not a valid escape.
pub(crate) fn unescape(stored: &str) -> Option<String> {
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        match c {
            '\0' => return None,
            ESC => match chars.next() {
                Some('\u{1}') => out.push('\0'),
                Some('\u{2}') => out.push(ESC),
                _ => return None,
            },
            c => out.push(c),
        }
    }
    Some(out)
}

/// The smallest bound above every string that starts with `prefix`, in byte (code point)
/// order: `prefix` with its last character incremented, after dropping trailing `char::MAX`.
/// `None` when no such bound exists (an empty prefix, or one made only of `char::MAX`).
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            char::MAX => continue,
            '\u{D7FF}' => '\u{E000}',
            c => char::from_u32(c as u32 + 1)?,
        };
        chars.push(next);
        return Some(chars.into_iter().collect());
    }
    None
}

/// The advisory lock id of a stored key: FNV-1a (64 bits) of table, namespace and key, which
/// every process computes alike. Two keys sharing an id only means that batches writing them
/// wait for each other.
pub(crate) fn lock_id(table: &str, stored_ns: &str, stored_key: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    // Stored names never contain NUL, so NUL separates them unambiguously.
    for part in [table, "\0", stored_ns, "\0", stored_key] {
        for &b in part.as_bytes() {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        "",
        "\0",
        "\0\0",
        "\u{1}",
        "\u{1}\0",
        "\u{2}",
        "a",
        "a\0",
        "a\0b",
        "a\u{1}",
        "a\u{1}\u{1}",
        "a\u{2}",
        "a ",
        "ab",
        "é",
        "\u{D7FF}",
        "\u{E000}",
        "\u{10FFFF}",
        "\u{10FFFF}a",
        "z\u{10FFFF}",
    ];

    #[test]
    fn escape_round_trips_and_has_no_nul() {
        for s in SAMPLES {
            let e = escape(s);
            assert!(!e.contains('\0'), "{s:?} -> {e:?}");
            assert_eq!(unescape(&e).as_deref(), Some(*s), "{s:?}");
        }
        assert!(matches!(escape("user:1"), Cow::Borrowed("user:1")));
        for bad in ["\u{1}", "a\u{1}", "\u{1}\u{3}", "\0"] {
            assert_eq!(unescape(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn escape_preserves_order_and_prefixes() {
        for a in SAMPLES {
            for b in SAMPLES {
                let (ea, eb) = (escape(a), escape(b));
                assert_eq!(a.cmp(b), ea.cmp(&eb), "{a:?} vs {b:?}");
                assert_eq!(
                    b.starts_with(a),
                    eb.starts_with(&*ea),
                    "{a:?} prefix of {b:?}"
                );
            }
        }
    }

    #[test]
    fn lock_ids_are_stable_and_separate_namespaces() {
        // Pinned: processes built by different compilers must agree.
        assert_eq!(
            lock_id("", "", ""),
            0x0832_8807_b4eb_6fed,
            "FNV-1a of two NULs"
        );
        let id = lock_id("botcore_records", "botcore", "user:1");
        assert_eq!(id, 0x468c_4426_dad8_fe10_u64 as i64);
        assert_ne!(lock_id("t", "a", "bc"), lock_id("t", "ab", "c"));
        assert_ne!(lock_id("t", "a", "b"), lock_id("u", "a", "b"));
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end("user:").as_deref(), Some("user;"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
        assert_eq!(prefix_end(""), None);
        assert_eq!(prefix_end("\u{10FFFF}\u{10FFFF}"), None);
        for p in SAMPLES {
            let Some(end) = prefix_end(p) else { continue };
            for s in SAMPLES {
                let with = format!("{p}{s}");
                assert!(with.as_str() < end.as_str(), "{with:?} >= end of {p:?}");
                if s > &end.as_str() {
                    assert!(!s.starts_with(p), "{s:?} past the end of {p:?}");
                }
            }
        }
    }
}
