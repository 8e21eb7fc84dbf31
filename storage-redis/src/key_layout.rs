//! Where a namespace's data lives in Redis (see the crate README for the full layout):
//! records under `<namespace>:r:<key>` and, for the key families in [`INDEXED_FAMILIES`], one
//! sorted set per family under `<namespace>:i:<family>`. The layout before it also had a
//! global version counter (`<namespace>:v`, left alone now) and a global key index
//! (`<namespace>:i`, whose name is kept here for [`crate::RedisStorage::migrate_layout`]).

/// The key families that have a listing index: a key belongs to family `f` when it starts with
/// `f`, which runs up to and including the key's first `/`. These are the prefixes botcore
/// lists (the address book `address/`, scheduled jobs `job/`, fan-out journals `fanout/`, outboxes `outbox/`);
/// only records in them pay for an index write, and only when they are created or deleted.
/// Keys outside these families are listed by a `SCAN` of the namespace.
pub const INDEXED_FAMILIES: &[&str] = &["address/", "job/", "fanout/", "outbox/"];

/// The Redis keys of one namespace.
#[derive(Debug)]
pub(crate) struct KeyLayout {
    pub(crate) namespace: String,
    pub(crate) record_prefix: String,
    index_prefix: String,
    /// The global key index of the layout before (only the migration touches it).
    pub(crate) legacy_index: String,
}

impl KeyLayout {
    pub(crate) fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            record_prefix: format!("{namespace}:r:"),
            index_prefix: format!("{namespace}:i:"),
            legacy_index: format!("{namespace}:i"),
        }
    }

    /// The Redis key of record `key`.
    pub(crate) fn record(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.record_prefix.len() + key.len());
        k.push_str(&self.record_prefix);
        k.push_str(key);
        k
    }

    /// The Redis key of the index of `family` (one of [`INDEXED_FAMILIES`]).
    pub(crate) fn index(&self, family: &str) -> String {
        format!("{}{family}", self.index_prefix)
    }
}

/// The indexed family that `key` (or every key starting with the prefix `key`) belongs to.
pub(crate) fn family(key: &str) -> Option<&'static str> {
    let end = key.find('/')? + 1;
    INDEXED_FAMILIES.iter().copied().find(|f| *f == &key[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layout() {
        let k = KeyLayout::new("botcore");
        assert_eq!(k.record("a:b"), "botcore:r:a:b");
        assert_eq!(k.index("job/"), "botcore:i:job/");
        assert_eq!(k.legacy_index, "botcore:i");
    }

    #[test]
    fn families() {
        assert_eq!(family("job/0001/x"), Some("job/"));
        assert_eq!(family("job/"), Some("job/"));
        assert_eq!(family("address/ch/u"), Some("address/"));
        assert_eq!(family("fanout/j/3"), Some("fanout/"));
        for other in [
            "job",
            "jobs/1",
            "job-moved/1",
            "address-mark/c/u",
            "user/c/u",
            "",
            "/job/",
        ] {
            assert_eq!(family(other), None, "{other:?}");
        }
    }
}
