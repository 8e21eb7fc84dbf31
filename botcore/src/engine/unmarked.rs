//! [`Unmarked`]: the outboxes this process delivered but could not mark delivered yet.

use crate::contracts::message::Message;
use crate::contracts::storage::Version;
use crate::model::outbox::Pending;
use std::collections::HashMap;
use std::sync::Mutex;

/// The outboxes this process delivered but could not mark yet (the store was unreachable):
/// the record's key, the version it delivered, and what is really still pending. A turn or a
/// sweep of this process that reads the record at that version uses this instead.
#[derive(Default)]
pub(crate) struct Unmarked(Mutex<HashMap<String, (Version, Vec<Message>)>>);

impl Unmarked {
    pub(crate) fn note(&self, key: &str, version: Version, left: Vec<Message>) {
        self.lock().insert(key.to_owned(), (version, left));
    }

    pub(crate) fn forget(&self, key: &str, version: Version) {
        let mut map = self.lock();
        if map.get(key).is_some_and(|(v, _)| *v == version) {
            map.remove(key);
        }
    }

    /// `pending` as this process knows it: without the messages it already delivered.
    pub(crate) fn correct(&self, key: &str, pending: &mut Pending) {
        let map = self.lock();
        if map.is_empty() {
            return;
        }
        if let Some((v, left)) = map.get(key)
            && pending.version == Some(*v)
        {
            pending.messages = left.clone();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Version, Vec<Message>)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
