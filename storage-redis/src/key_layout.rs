//! Where a namespace's data lives in Redis: records under `<namespace>:r:<key>`, the version
//! counter at `<namespace>:v` and the key index at `<namespace>:i` (see [`crate::lua`] for
//! what each holds).

/// The Redis keys of one namespace.
#[derive(Debug)]
pub(crate) struct KeyLayout {
    pub(crate) namespace: String,
    pub(crate) record_prefix: String,
    pub(crate) counter: String,
    pub(crate) index: String,
}

impl KeyLayout {
    pub(crate) fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            record_prefix: format!("{namespace}:r:"),
            counter: format!("{namespace}:v"),
            index: format!("{namespace}:i"),
        }
    }

    /// The Redis key of record `key`.
    pub(crate) fn record(&self, key: &str) -> String {
        let mut k = String::with_capacity(self.record_prefix.len() + key.len());
        k.push_str(&self.record_prefix);
        k.push_str(key);
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layout() {
        let k = KeyLayout::new("botcore");
        assert_eq!(
            (k.record("a:b"), k.counter.as_str(), k.index.as_str()),
            ("botcore:r:a:b".into(), "botcore:v", "botcore:i")
        );
    }
}
