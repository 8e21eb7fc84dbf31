//! The durable outbox: a turn's messages are saved with its state (see `commit`), delivered in
//! order, then marked delivered — the record deleted, or rewritten with what is still
//! pending. What a crashed process left behind is delivered by the conversation's next turn
//! (carried ahead of its own messages), by a redelivery of the same activity, or by
//! [`Bot::sweep_outbox`](crate::Bot::sweep_outbox).
//!
//! Delivery is at least once: a message is sent twice only when a process stops after the
//! channel accepted it and before the record was marked (one storage write), or when a
//! delivery outlives its lease ([`BotBuilder::outbox_lease`](crate::BotBuilder::outbox_lease)) and another process takes over.

use crate::contracts::address::Address;
use crate::contracts::connector::{DeliveryError, Receipt};
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::{Precondition, StorageError, StorageExt, Stored, Version, WriteOp};
use crate::engine::config::ProactiveRefusal;
use crate::engine::delivery;
use crate::engine::locks::{self, Claim};
use crate::engine::runtime::Runtime;
use crate::model::outbox::{self, MAX_TRIES, OUTBOX_PREFIX, Pending, retry_later};
use crate::model::state::StateKeys;
use std::sync::Arc;

/// Outbox records the sweep reads per page.
const SWEEP_PAGE: usize = 100;

/// What [`Bot::sweep_outbox`](crate::Bot::sweep_outbox) did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// Outbox records taken over (their lease had run out).
    pub conversations: usize,
    /// Messages delivered.
    pub delivered: usize,
    /// Messages still pending (the channel could not take them yet).
    pub pending: usize,
    /// Messages given up (refused for good, or pending for too many tries).
    pub dropped: usize,
}

/// Delivers what is pending in every conversation's outbox whose lease ran out.
pub(crate) async fn sweep(rt: &Arc<Runtime>) -> Result<SweepReport, BotError> {
    let mut report = SweepReport::default();
    let mut after: Option<String> = None;
    loop {
        let keys = rt
            .storage
            .list_keys(OUTBOX_PREFIX, after.as_deref(), SWEEP_PAGE)
            .await?;
        for key in &keys {
            sweep_one(rt, key, &mut report).await?;
        }
        if keys.len() < SWEEP_PAGE {
            return Ok(report);
        }
        after = keys.last().cloned();
    }
}

async fn sweep_one(rt: &Arc<Runtime>, key: &str, report: &mut SweepReport) -> Result<(), BotError> {
    let peek = Pending::load(key, rt.storage.read(key).await?);
    let now = rt.clock().now_ms();
    let Some(first) = peek.messages.first() else {
        return Ok(());
    };
    if peek.lease_until > now {
        return Ok(());
    }
    let Ok(state_keys) = StateKeys::for_address(&first.address) else {
        return Ok(());
    };
    if state_keys.outbox != key || locks::holds(&state_keys.conversation) {
        return Ok(());
    }
    let claim = rt.locks.claim(&state_keys.conversation);
    let _turn = claim.turn().await;
    // Read again under the lock: a turn of this process may have delivered it meanwhile.
    let mut pending = Pending::load(key, rt.storage.read(key).await?);
    rt.unmarked.correct(key, &mut pending);
    if pending.messages.is_empty() || pending.lease_until > rt.clock().now_ms() {
        return Ok(());
    }
    let Some(leased) = lease(rt, key, &pending).await? else {
        return Ok(()); // another process took it first
    };
    let address = pending.messages[0].address.clone();
    let outbox = SavedOutbox {
        key,
        tries: pending.tries,
        messages: pending.messages,
        version: Some(leased),
    };
    let sent = deliver(rt, &claim, &address, outbox).await;
    report.conversations += 1;
    report.delivered += sent.results.iter().filter(|r| r.is_ok()).count();
    report.pending += sent.pending;
    report.dropped += sent.dropped;
    Ok(())
}

/// Takes the lease on `pending` (read under `key`); `None` if the record changed meanwhile.
pub(crate) async fn lease(
    rt: &Runtime,
    key: &str,
    pending: &Pending,
) -> Result<Option<Version>, BotError> {
    let until = lease_until(rt);
    let value = outbox::encode(&pending.messages, &rt.instance, until, pending.tries);
    match rt
        .storage
        .write_many(vec![WriteOp::put(key, value, pending.precondition())])
        .await
    {
        Ok(v) => Ok(v.into_iter().next().flatten()),
        Err(StorageError::Conflict { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// When a lease taken now runs out.
pub(crate) fn lease_until(rt: &Runtime) -> u64 {
    let lease = u64::try_from(rt.config.outbox_lease.as_millis()).unwrap_or(u64::MAX);
    rt.clock().now_ms().saturating_add(lease)
}

/// The write that saves `messages` as the conversation's outbox, leased by this process.
pub(crate) fn save_op(rt: &Runtime, key: &str, messages: &[Message], read: &Pending) -> WriteOp {
    let value = outbox::encode(messages, &rt.instance, lease_until(rt), read.tries);
    WriteOp::put(key, value, read.precondition())
}

/// What one delivery pass over an outbox did.
pub(crate) struct Sent {
    /// Per message, in order.
    pub(crate) results: Vec<Result<Receipt, DeliveryError>>,
    /// Messages left in the outbox for a later try.
    pub(crate) pending: usize,
    /// Messages given up.
    pub(crate) dropped: usize,
}

/// A turn to take back if its first message is refused for good: the records as they were
/// before it and the versions its commit gave them.
pub(crate) struct TakeBack {
    pub(crate) records: Vec<(String, Option<Stored>, Version)>,
    /// Where the turn's own messages start in the outbox (after those carried from earlier
    /// turns): the first of them decides.
    pub(crate) first_own: usize,
}

/// An outbox as saved: its key, its messages in order, the version the save gave it (`None`:
/// nothing was saved), and the delivery passes that already left its first message pending.
pub(crate) struct SavedOutbox<'k> {
    pub(crate) key: &'k str,
    pub(crate) messages: Vec<Message>,
    pub(crate) version: Option<Version>,
    pub(crate) tries: u32,
}

/// Delivers a saved outbox (holding `claim` on the turn's conversation) and marks it
/// delivered; failures are logged with their typed errors.
pub(crate) async fn deliver(
    rt: &Arc<Runtime>,
    claim: &Claim<'_>,
    turn: &Address,
    outbox: SavedOutbox<'_>,
) -> Sent {
    deliver_or_take_back(rt, claim, turn, outbox, None).await.0
}

/// [`deliver`], then — when `take_back` is given, the policy says so and the turn's own first
/// message was refused for good — the turn's records put back as they were, in the same
/// batch that marks the outbox. Returns whether the turn was taken back.
pub(crate) async fn deliver_or_take_back(
    rt: &Arc<Runtime>,
    claim: &Claim<'_>,
    turn: &Address,
    outbox: SavedOutbox<'_>,
    take_back: Option<TakeBack>,
) -> (Sent, bool) {
    let SavedOutbox {
        key,
        messages,
        version,
        tries,
    } = outbox;
    if messages.is_empty() {
        let sent = Sent {
            results: Vec::new(),
            pending: 0,
            dropped: 0,
        };
        return (sent, false);
    }
    let results = delivery::deliver_as_one(rt, claim, turn, &messages).await;
    let mut left = Vec::new();
    let mut dropped = 0;
    for (m, r) in messages.into_iter().zip(&results) {
        match r {
            Ok(_) => {}
            Err(e) if retry_later(e) => left.push(m),
            Err(e) => {
                dropped += 1;
                tracing::warn!(conversation = ?m.address.conversation_id(), error = %e,
                    "message refused by the channel; dropped from the outbox");
            }
        }
    }
    let tries = if left.is_empty() { 0 } else { tries + 1 };
    if tries > MAX_TRIES {
        tracing::error!(
            key,
            messages = left.len(),
            tries,
            "messages pending for too many delivery passes; given up"
        );
        dropped += left.len();
        left.clear();
    }
    for r in results.iter().filter_map(|r| r.as_ref().err()) {
        if retry_later(r) {
            tracing::warn!(key, error = %r, "delivery failed; the message stays in the outbox");
        }
    }
    let refused_first =
        |t: &TakeBack| matches!(results.get(t.first_own), Some(Err(e)) if e.is_permanent());
    let take_back = take_back
        .filter(|t| refused_first(t) && rt.config.proactive_refusal == ProactiveRefusal::TakeBack);
    let Some(version) = version else {
        let sent = Sent {
            pending: left.len(),
            results,
            dropped,
        };
        return (sent, false);
    };
    let mut ops = vec![if left.is_empty() {
        WriteOp::delete(key, Precondition::IfMatch(version))
    } else {
        WriteOp::put(
            key,
            outbox::encode(&left, &rt.instance, 0, tries),
            Precondition::IfMatch(version),
        )
    }];
    let taking_back = take_back.is_some();
    for (k, before, written) in take_back.into_iter().flat_map(|t| t.records) {
        ops.push(match before {
            Some(s) => WriteOp::put(k, s.value, Precondition::IfMatch(written)),
            None => WriteOp::delete(k, Precondition::IfMatch(written)),
        });
    }
    let mark = ops[0].clone();
    let mut result = rt.storage.write_many(ops).await.map(|_| taking_back);
    if taking_back && matches!(result, Err(StorageError::Conflict { .. })) {
        // The conversation had another turn meanwhile: it stays as that turn left it.
        tracing::warn!(
            key,
            "proactive turn not taken back: the conversation moved on"
        );
        result = rt
            .storage
            .write_many(vec![mark.clone()])
            .await
            .map(|_| false);
    }
    let taken_back = match result {
        Ok(t) => t,
        Err(StorageError::Conflict { .. }) => false, // another process took the record over
        Err(e) => {
            // This process remembers what it delivered and keeps trying in the background;
            // the lease keeps other processes off the record meanwhile.
            tracing::warn!(key, error = %e, "outbox not marked delivered yet");
            rt.unmarked.note(key, version, left.clone());
            tokio::spawn(mark_later(rt.clone(), key.to_owned(), version, mark));
            false
        }
    };
    let sent = Sent {
        pending: left.len(),
        results,
        dropped,
    };
    (sent, taken_back)
}

/// Marks an outbox delivered once the store can be reached again, until the lease is about to
/// run out (after that, whoever takes the record sends what is in it again).
async fn mark_later(rt: Arc<Runtime>, key: String, version: Version, mark: WriteOp) {
    let give_up = tokio::time::Instant::now() + rt.config.outbox_lease.mul_f32(0.8);
    let mut pause = MARK_RETRY_FIRST;
    while tokio::time::Instant::now() + pause < give_up {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MARK_RETRY_MAX);
        match rt.storage.write_many(vec![mark.clone()]).await {
            Err(StorageError::Unavailable(_)) => continue,
            Ok(_) => tracing::debug!(key, "outbox marked delivered after a storage failure"),
            Err(e) => tracing::debug!(key, error = %e, "outbox changed before it was marked"),
        }
        break;
    }
    rt.unmarked.forget(&key, version);
}

/// The first pause before marking an outbox again, and the longest.
const MARK_RETRY_FIRST: std::time::Duration = std::time::Duration::from_millis(20);
const MARK_RETRY_MAX: std::time::Duration = std::time::Duration::from_millis(500);
