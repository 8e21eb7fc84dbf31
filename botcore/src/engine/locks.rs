//! Per-conversation locks: turns of one conversation run one at a time, in arrival order;
//! turns of different conversations never wait for each other. Each conversation has two
//! locks in one slot: the *turn* lock, held for a whole turn, and the *delivery* lock, held
//! while a turn's messages — or a message sent outside any turn — go out, so that nothing
//! lands between the messages of one turn.
//!
//! A slot exists only while someone holds or waits for one of its locks: the table is
//! sharded, each shard's (synchronous) lock is held only to find or drop an entry, never
//! across an await.

use crate::model::state::Fnv;
use foldhash::fast::RandomState;
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, Mutex};
use tokio::sync::{Mutex as AsyncMutex, MutexGuard};

const SHARDS: usize = 64;

tokio::task_local! {
    /// The conversations whose turn the current task is inside (to refuse re-entry).
    /// Compared exactly: two conversations never look alike, whatever their hashes.
    static HELD: Held;
}

/// The conversations a task is inside: the innermost one, and those around it (usually
/// none, so marking a turn allocates nothing).
pub(crate) struct Held {
    innermost: Arc<str>,
    outer: Vec<Arc<str>>,
}

fn shard_of(key: &str) -> usize {
    let mut h = Fnv::default();
    h.write(key.as_bytes());
    (h.finish() as usize) % SHARDS
}

/// The two locks of one conversation.
#[derive(Debug, Default)]
pub(crate) struct Slot {
    turn: AsyncMutex<()>,
    delivery: AsyncMutex<()>,
}

type Shard = Mutex<HashMap<Arc<str>, Arc<Slot>, RandomState>>;

#[derive(Debug)]
pub(crate) struct ConversationLocks {
    shards: Box<[Shard]>,
}

impl Default for ConversationLocks {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

/// A claim on a conversation's slot: whoever drops the last claim (a turn that ran, or one
/// given up while waiting) removes the slot, so the table never keeps idle locks. The locks
/// are taken through the claim and released before it.
#[derive(Debug)]
pub(crate) struct Claim<'a> {
    locks: &'a ConversationLocks,
    key: Arc<str>,
    /// Always `Some` until dropped (taken under the shard lock).
    slot: Option<Arc<Slot>>,
}

impl Claim<'_> {
    /// The conversation's key (shared with the table: cloning it does not allocate).
    pub(crate) fn key(&self) -> &Arc<str> {
        &self.key
    }

    fn slot(&self) -> &Slot {
        self.slot
            .as_deref()
            .expect("a claim holds its slot until dropped")
    }

    /// Waits for the conversation's turn lock.
    pub(crate) async fn turn(&self) -> MutexGuard<'_, ()> {
        self.slot().turn.lock().await
    }

    /// Waits for the conversation's delivery lock.
    pub(crate) async fn delivery(&self) -> MutexGuard<'_, ()> {
        self.slot().delivery.lock().await
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut shard = self.locks.shards[shard_of(&self.key)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        // Release this claim's reference under the shard lock, then: if only the table still
        // knows the slot, nobody holds or waits — forget it. (Counts only rise under this
        // lock, so two claims dropped at once cannot both miss the last one.)
        drop(self.slot.take());
        if shard
            .get(&self.key)
            .is_some_and(|s| Arc::strong_count(s) == 1)
        {
            shard.remove(&self.key);
        }
    }
}

impl ConversationLocks {
    /// Claims the slot of conversation `key` (creating it if nobody else has).
    pub(crate) fn claim(&self, key: &str) -> Claim<'_> {
        let slot = {
            let mut shard = self.shards[shard_of(key)]
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            match shard.get_key_value(key) {
                Some((k, s)) => (k.clone(), s.clone()),
                None => {
                    let (k, s) = (Arc::<str>::from(key), Arc::new(Slot::default()));
                    shard.insert(k.clone(), s.clone());
                    (k, s)
                }
            }
        };
        Claim {
            locks: self,
            key: slot.0,
            slot: Some(slot.1),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

/// Runs `fut` marked as inside a turn of conversation `key`, so a nested turn of the same
/// conversation in the same task is refused instead of waiting forever. `fut` (a whole turn,
/// several kilobytes) is boxed at once, so the future returned is small to move; the
/// conversations around it are looked up when it is first polled.
pub(crate) fn inside<F: Future>(key: Arc<str>, fut: F) -> impl Future<Output = F::Output> {
    let fut = Box::pin(fut);
    async move {
        let outer = HELD
            .try_with(|h| {
                let mut outer = h.outer.clone();
                outer.push(h.innermost.clone());
                outer
            })
            .unwrap_or_default();
        let held = Held {
            innermost: key,
            outer,
        };
        HELD.scope(held, fut).await
    }
}

/// Whether the current task is inside a turn of conversation `key` (see [`inside`]).
pub(crate) fn holds(key: &str) -> bool {
    HELD.try_with(|h| &*h.innermost == key || h.outer.iter().any(|k| &**k == key))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locks_are_forgotten_when_nobody_holds_them() {
        let locks = ConversationLocks::default();
        {
            let (a, b) = (locks.claim("a"), locks.claim("b"));
            let (_a, _b) = (a.turn().await, b.delivery().await);
            assert_eq!(locks.len(), 2);
        }
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn a_waiter_given_up_after_the_holder_left_does_not_leak_the_slot() {
        let locks = ConversationLocks::default();
        let holder = locks.claim("a");
        let held = holder.turn().await;
        let mut waiter = Box::pin(async {
            let c = locks.claim("a");
            let _g = c.turn().await;
        });
        // Poll the waiter once so it is queued on the lock.
        assert!(futures::poll!(&mut waiter).is_pending());
        drop(held);
        drop(holder);
        drop(waiter);
        assert_eq!(locks.len(), 0);
    }

    #[tokio::test]
    async fn the_turn_and_the_delivery_lock_are_independent() {
        let locks = ConversationLocks::default();
        let turn = locks.claim("a");
        let _t = turn.turn().await;
        // A send outside the turn can deliver while the turn runs its dialogs...
        let other = locks.claim("a");
        let d = other.delivery().await;
        // ...and the turn's own delivery waits for it.
        let mut delivering = Box::pin(turn.delivery());
        assert!(futures::poll!(&mut delivering).is_pending());
        drop(d);
        assert!(futures::poll!(&mut delivering).is_ready());
    }

    #[tokio::test]
    async fn re_entry_is_told_apart_exactly() {
        // Whatever two keys hash to, only the exact key counts as re-entry.
        assert!(
            inside("costarring".into(), async {
                holds("costarring") && !holds("liquid")
            })
            .await
        );
        assert!(!holds("costarring"));
        let nested = inside(
            "a".into(),
            inside("b".into(), async { holds("a") && holds("b") }),
        )
        .await;
        assert!(nested);
    }
}
