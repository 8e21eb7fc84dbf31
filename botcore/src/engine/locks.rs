//! Per-conversation turn locks: turns of one conversation run one at a time, in arrival order;
//! turns of different conversations never wait for each other.
//!
//! A lock exists only while some turn holds or waits for it: the table is sharded, each
//! shard's (synchronous) lock is held only to find or drop an entry, never across an await.

use crate::model::state::Fnv;
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

const SHARDS: usize = 64;

tokio::task_local! {
    /// Hashes of the conversations whose turn the current task is inside (to refuse re-entry).
    static HELD: Vec<u64>;
}

fn hash(key: &str) -> u64 {
    let mut h = Fnv::default();
    h.write(key.as_bytes());
    h.finish()
}

type Shard = Mutex<HashMap<String, Arc<AsyncMutex<()>>>>;

#[derive(Debug)]
pub(crate) struct ConversationLocks {
    shards: Box<[Shard]>,
}

impl Default for ConversationLocks {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

/// A claim on a conversation's lock entry: whoever drops the last claim (a turn that ran, or
/// one given up while waiting) removes the entry, so the table never keeps idle locks.
#[derive(Debug)]
struct Claim<'a> {
    locks: &'a ConversationLocks,
    key: String,
    mutex: Arc<AsyncMutex<()>>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut shard = self
            .locks
            .shard(&self.key)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Only the table and this claim still know the lock: nobody holds or waits, forget it.
        if Arc::strong_count(&self.mutex) == 2 {
            shard.remove(&self.key);
        }
    }
}

/// Holds a conversation's turn lock; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct ConversationGuard<'a> {
    guard: Option<OwnedMutexGuard<()>>,
    _claim: Claim<'a>,
}

impl Drop for ConversationGuard<'_> {
    fn drop(&mut self) {
        // Release the lock before the claim looks at who else still knows it.
        drop(self.guard.take());
    }
}

impl ConversationLocks {
    fn shard(&self, key: &str) -> &Shard {
        &self.shards[(hash(key) as usize) % SHARDS]
    }

    /// Waits for the lock of conversation `key`. `None` when the current task is already
    /// inside a turn of that conversation (waiting would never end).
    pub(crate) async fn lock(&self, key: &str) -> Option<ConversationGuard<'_>> {
        let me = hash(key);
        if HELD.try_with(|h| h.contains(&me)).unwrap_or(false) {
            return None;
        }
        let mutex = {
            let mut shard = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
            shard.entry(key.to_owned()).or_default().clone()
        };
        let claim = Claim {
            locks: self,
            key: key.to_owned(),
            mutex,
        };
        // If this future is dropped while waiting, the pending lock future goes first and
        // then the claim, which forgets the entry if nobody else knows it.
        let guard = {
            let pending = claim.mutex.clone().lock_owned();
            pending.await
        };
        Some(ConversationGuard {
            guard: Some(guard),
            _claim: claim,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

/// Runs `fut` marked as inside a turn of conversation `key`, so a nested turn of the same
/// conversation in the same task is refused instead of waiting forever.
pub(crate) async fn inside<F: Future>(key: &str, fut: F) -> F::Output {
    let mut held = HELD.try_with(Vec::clone).unwrap_or_default();
    held.push(hash(key));
    HELD.scope(held, fut).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_are_forgotten_when_nobody_holds_them() {
        let locks = ConversationLocks::default();
        {
            let _a = locks.lock("a").await.unwrap();
            let _b = locks.lock("b").await.unwrap();
            assert_eq!(locks.len(), 2);
        }
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_given_up_after_the_holder_left_does_not_leak_the_entry() {
        let locks = ConversationLocks::default();
        let holder = locks.lock("a").await.unwrap();
        let mut waiter = Box::pin(locks.lock("a"));
        // Poll the waiter once so it is queued on the lock.
        assert!(futures::poll!(&mut waiter).is_pending());
        drop(holder);
        drop(waiter);
        assert_eq!(locks.len(), 0);
        // And a waiter that does get the lock cleans up after itself.
        let holder = locks.lock("b").await.unwrap();
        let mut waiter = Box::pin(locks.lock("b"));
        assert!(futures::poll!(&mut waiter).is_pending());
        drop(holder);
        let got = waiter.await.unwrap();
        assert_eq!(locks.len(), 1);
        drop(got);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_nested_lock_of_the_same_conversation_is_refused() {
        let locks = ConversationLocks::default();
        let g = locks.lock("a").await.unwrap();
        let nested = inside("a", async { locks.lock("a").await.is_none() }).await;
        assert!(nested);
        let other = inside("a", async { locks.lock("b").await.is_some() }).await;
        assert!(other);
        drop(g);
    }
}
