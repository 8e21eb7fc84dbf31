//! The `429` pauses of [`RateLimited`](super::RateLimited), kept beside the buckets.

use super::limited::Target;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The `429` pauses in force: until when (microseconds since the Unix epoch) each paused
/// conversation or channel waits, by bucket key. Only paused keys are kept.
#[derive(Debug, Default)]
pub(super) struct Pauses(Mutex<HashMap<String, u64>>);

impl Pauses {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        // Only map operations run under the lock: a panic there leaves consistent data.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How long until no pause holds `target`, if one does.
    pub(super) fn remaining(&self, target: &Target<'_>, now: u64) -> Option<u64> {
        let pauses = self.lock();
        let until = |key: &str| pauses.get(key).copied().unwrap_or(0);
        let until = until(target.channel).max(target.conversation.as_deref().map_or(0, until));
        (until > now).then(|| until - now)
    }

    /// Pauses `key` until `until`, forgetting the pauses that are over (and, when more than
    /// `max` are in force, the ones that end soonest).
    pub(super) fn pause(&self, key: &str, now: u64, until: u64, max: usize) {
        let mut pauses = self.lock();
        pauses.retain(|_, &mut u| u > now);
        while pauses.len() >= max.max(1) && !pauses.contains_key(key) {
            let Some(k) = pauses
                .iter()
                .min_by_key(|(_, u)| **u)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            pauses.remove(&k);
        }
        let at = pauses.entry(key.to_owned()).or_default();
        *at = (*at).max(until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(conversation: &str) -> Target<'static> {
        Target {
            channel: "ch",
            conversation: Some(format!("ch\u{1f}{conversation}")),
        }
    }

    #[test]
    fn pauses_end_and_are_bounded() {
        let pauses = Pauses::default();
        pauses.pause("ch\u{1f}a", 0, 3_000, 2);
        assert_eq!(pauses.remaining(&target("a"), 1_000), Some(2_000));
        assert_eq!(pauses.remaining(&target("b"), 1_000), None);
        // A longer pause wins, a shorter one does not cut it short.
        pauses.pause("ch\u{1f}a", 1_000, 2_000, 2);
        assert_eq!(pauses.remaining(&target("a"), 1_000), Some(2_000));
        // A paused channel holds every conversation of it.
        pauses.pause("ch", 1_000, 5_000, 2);
        assert_eq!(pauses.remaining(&target("b"), 1_000), Some(4_000));
        // At the bound the pause that ends soonest goes.
        pauses.pause("ch\u{1f}c", 1_000, 9_000, 2);
        assert_eq!(
            pauses.remaining(&target("a"), 1_000),
            Some(4_000),
            "channel's"
        );
        assert_eq!(pauses.remaining(&target("c"), 1_000), Some(8_000));
        // Pauses that are over are forgotten.
        pauses.pause("ch\u{1f}d", 9_000, 10_000, 2);
        assert_eq!(pauses.lock().len(), 1);
        assert_eq!(pauses.remaining(&target("c"), 9_000), None);
    }
}
