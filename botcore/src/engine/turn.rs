//! The turn transaction and the dialog-stack driver.
//!
//! A turn: take the conversation's lock → read the user, conversation, private and
//! address-book records with their versions → run the dialogs (sends buffered) → write the
//! changed records in one compare-and-set batch → deliver the buffered messages. A conflict
//! throws the turn away and runs it again on fresh state, so no update is lost and nothing is
//! sent twice.

use crate::contracts::address::Address;
use crate::contracts::connector::{DeliveryError, Receipt};
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::{Precondition, StorageError, Version, WriteOp};
use crate::contracts::telemetry::{self, TurnKind};
use crate::engine::commit::{self, Loaded};
pub(crate) use crate::engine::entry::Entry;
use crate::engine::entry::{execute, reset_after_error};
use crate::engine::locks::{self, Claim};
use crate::engine::outbox::{self, TakeBack};
use crate::engine::runtime::Runtime;
use crate::engine::typing;
use crate::model::held::HoldReport;
use crate::model::inbound::FirstRun;
use crate::model::outbox::Pending;
use crate::model::state::StateKeys;
use std::sync::Arc;
use std::time::Duration;

/// What a turn did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct TurnOutcome {
    /// Per outgoing message, in order: the receipt or why it was not delivered.
    pub deliveries: Vec<Result<Receipt, DeliveryError>>,
    /// How many times the turn ran (more than 1 after compare-and-set conflicts).
    pub attempts: usize,
    /// Whether a dialog turn ran (false for ignored events, messages dropped by middleware
    /// and redeliveries).
    pub ran_turn: bool,
    /// The activity had been processed before (a channel sent it again): no dialog ran, and
    /// [`deliveries`](Self::deliveries) are the conversation's messages that were still
    /// pending, delivered now. The first run's answer stands.
    pub redelivery: bool,
    /// Messages kept in the conversation's outbox for a later try, because the channel could
    /// not take them yet (unreachable, throttled, an unknown outcome): delivered by the next
    /// turn, a redelivery of the activity or [`Bot::sweep_outbox`](crate::Bot::sweep_outbox).
    /// A channel adapter answers the activity so the channel retries it.
    pub pending: usize,
}

pub(crate) struct Ran {
    pub(crate) outcome: TurnOutcome,
    pub(crate) report: HoldReport,
}

/// Runs one turn in its telemetry span (see [`telemetry`]).
pub(crate) async fn run(
    inner: &Arc<Runtime>,
    message: Arc<Message>,
    entry: Entry,
) -> Result<Ran, BotError> {
    let kind = match entry {
        Entry::User => TurnKind::User,
        Entry::Proactive { .. } => TurnKind::Proactive,
        Entry::CheckHeld => TurnKind::Scheduled,
        Entry::Custom(_) => TurnKind::Custom,
    };
    let turn = telemetry::Turn::start(&inner.metrics, message.address.conversation_id(), kind);
    // Pinned here, so that the telemetry wraps a reference, not a copy, of the turn's future.
    let locked = std::pin::pin!(run_locked(inner, message, entry));
    turn.run(locked, |r| r.outcome.attempts).await
}

/// Runs one turn: the conversation's lock, then the compare-and-set loop.
async fn run_locked(
    inner: &Arc<Runtime>,
    message: Arc<Message>,
    entry: Entry,
) -> Result<Ran, BotError> {
    let keys = StateKeys::for_address(&message.address)?;
    if locks::holds(&keys.conversation) {
        return Err(BotError::Reentrant(keys.conversation));
    }
    let claim = inner.locks.claim(&keys.conversation);
    let turn = claim.turn();
    // A user's turn waits for the one before it however long it takes; a turn the bot starts
    // waits a bounded time, so a step that awaits a proactive dialog of its own conversation
    // (spawned on another task, where re-entry cannot be seen) gets an error, not a deadlock.
    let _turn = match entry {
        Entry::User => turn.await,
        _ => {
            let wait = inner.config.proactive_wait;
            tokio::time::timeout(wait, turn)
                .await
                .map_err(|_| BotError::Busy {
                    conversation: keys.conversation.clone(),
                    waited: wait,
                })?
        }
    };
    let run = transact(inner, &message, &keys, entry, &claim);
    locks::inside(claim.key().clone(), run).await
}

/// One turn (the caller holds the conversation's lock): the compare-and-set loop — with
/// typing activities while it runs long, for a user's message when the bot shows typing —,
/// then the delivery of the outbox the saved attempt wrote.
async fn transact(
    inner: &Arc<Runtime>,
    message: &Arc<Message>,
    keys: &StateKeys,
    entry: Entry,
    claim: &Claim<'_>,
) -> Result<Ran, BotError> {
    let typing = inner
        .config
        .show_typing
        .filter(|_| matches!(entry, Entry::User) && message.is_message());
    let attempts = attempt(inner, message, keys, entry);
    let saved = match typing {
        // Boxed, as only bots that show typing take this path.
        Some(threshold) => {
            let typing =
                typing::while_running(&*inner.connector, &message.address, threshold, attempts);
            Box::pin(typing).await
        }
        None => attempts.await,
    }?;
    // Delivered while the conversation's lock is held: the next turn's messages cannot
    // overtake these.
    let outbox = outbox::SavedOutbox {
        key: &keys.outbox,
        messages: saved.outbox,
        version: saved.outbox_version,
        tries: saved.tries,
    };
    let (sent, taken_back) =
        outbox::deliver_or_take_back(inner, claim, &message.address, outbox, saved.take_back).await;
    let mut deliveries = sent.results;
    // Messages carried from earlier turns come first; the outcome reports this turn's own.
    let own = deliveries.split_off(saved.carried.min(deliveries.len()));
    let deliveries = if saved.redelivery { deliveries } else { own };
    if taken_back && let Some(Err(e)) = deliveries.first() {
        return Err(BotError::Delivery(e.clone()));
    }
    let outcome = TurnOutcome {
        deliveries,
        attempts: saved.attempts,
        ran_turn: !saved.redelivery,
        redelivery: saved.redelivery,
        pending: sent.pending,
    };
    match saved.failure {
        Some(e) => Err(e),
        None => Ok(Ran {
            outcome,
            report: saved.report,
        }),
    }
}

/// A turn's saved attempt: the outbox to deliver, and how the turn ended.
#[derive(Default)]
struct Saved {
    /// The outbox as saved: messages carried from earlier turns, then this turn's.
    outbox: Vec<Message>,
    outbox_version: Option<Version>,
    tries: u32,
    /// How many of `outbox` were carried from earlier turns.
    carried: usize,
    attempts: usize,
    /// The error a user's turn was reset after (its reset was saved).
    failure: Option<BotError>,
    report: HoldReport,
    /// The activity had been processed already: nothing ran, `outbox` is what was pending.
    redelivery: bool,
    take_back: Option<TakeBack>,
}

/// How long a turn waits between looks at an outbox another process is delivering.
const LEASE_POLL: Duration = Duration::from_millis(20);

/// The compare-and-set loop of one turn, up to the saved write.
async fn attempt(
    inner: &Arc<Runtime>,
    message: &Arc<Message>,
    keys: &StateKeys,
    entry: Entry,
) -> Result<Saved, BotError> {
    let user_turn = matches!(entry, Entry::User);
    let takes_back = matches!(entry, Entry::Proactive { .. });
    let activity_id = message
        .address
        .id
        .as_deref()
        .filter(|id| user_turn && !id.is_empty() && inner.config.dedupe_window > 0);
    let max = inner.config.max_turn_attempts;
    let waiting_since = tokio::time::Instant::now();
    // A user turn that fails is reset as v3 does; saving the reset gets its own attempts.
    let mut failure: Option<BotError> = None;
    let mut attempts = 0;
    let mut reset_attempts = 0;
    loop {
        match failure {
            None => attempts += 1,
            Some(_) => reset_attempts += 1,
        }
        if attempts > max || reset_attempts > max {
            return Err(BotError::Conflict {
                attempts: attempts + reset_attempts - 1,
            });
        }
        let lenient = failure.is_some();
        let loaded = match commit::load(inner, message, keys, user_turn, lenient, takes_back).await
        {
            Ok(l) => l,
            Err(e @ BotError::CorruptState(_)) if user_turn && !lenient => {
                failure = Some(report_failure(inner, message, e));
                continue;
            }
            Err(e) => return Err(e),
        };
        let Loaded {
            mut session,
            mut inbound,
            mut pending,
            before,
        } = loaded;
        inner.unmarked.correct(&keys.outbox, &mut pending);
        // Another process is delivering this conversation's outbox: its messages go first.
        if pending.leased_by_other(&inner.instance, inner.clock().now_ms())
            && waiting_since.elapsed() < inner.config.outbox_lease
        {
            match failure {
                None => attempts -= 1,
                Some(_) => reset_attempts -= 1,
            }
            tokio::time::sleep(LEASE_POLL).await;
            continue;
        }
        if !lenient && let Some(first) = activity_id.and_then(|id| inbound.find(id)) {
            match replay(inner, keys, pending, first, attempts).await? {
                Some(saved) => return Ok(saved),
                None => continue,
            }
        }
        let report = if lenient {
            reset_after_error(inner, &mut session);
            HoldReport::default()
        } else {
            match execute(inner, &mut session, &entry).await {
                Ok(r) => r,
                Err(e) if user_turn && e.resets_conversation() => {
                    failure = Some(report_failure(inner, message, e));
                    continue; // re-load and save only the reset (nothing else from this turn)
                }
                // A proactive dialog or custom flow that fails changes nothing.
                Err(e) => return Err(e),
            }
        };
        if let Some(id) = activity_id {
            inbound.record(id, &first_run(failure.as_ref()), inner.config.dedupe_window);
        }
        let carried = pending.messages.len();
        let mut out = pending.messages.clone();
        out.append(&mut session.effects.outbox);
        let outbox_op = if !out.is_empty() {
            Some(outbox::save_op(inner, &keys.outbox, &out, &pending))
        } else {
            pending
                .version
                .map(|v| WriteOp::delete(&keys.outbox, Precondition::IfMatch(v)))
        };
        let ops = commit::commit_ops(&mut session, keys, inbound, outbox_op);
        let written: Vec<String> = match takes_back {
            true => ops.iter().map(|op| op.key.clone()).collect(),
            false => Vec::new(),
        };
        match inner.storage.write_many(ops).await {
            Ok(versions) => {
                let version_of = |key: &str| {
                    let i = written.iter().position(|k| k == key)?;
                    versions.get(i).copied().flatten()
                };
                let take_back = before.map(|records| TakeBack {
                    records: records
                        .into_iter()
                        .filter_map(|(k, s)| version_of(&k).map(|v| (k, s, v)))
                        .collect(),
                    first_own: carried,
                });
                let outbox_version = match out.is_empty() {
                    true => None,
                    false => versions.last().copied().flatten(),
                };
                return Ok(Saved {
                    outbox: out,
                    outbox_version,
                    tries: pending.tries,
                    carried,
                    attempts: attempts + reset_attempts,
                    failure,
                    report,
                    redelivery: false,
                    take_back,
                });
            }
            Err(StorageError::Conflict { .. }) => continue,
            Err(e @ StorageError::TooLarge { .. }) if user_turn && failure.is_none() => {
                failure = Some(report_failure(inner, message, e.into()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// How the first run of an activity is remembered: the answer a redelivery repeats.
fn first_run(failure: Option<&BotError>) -> FirstRun {
    match failure {
        Some(BotError::Storage(StorageError::TooLarge { size, limit, .. })) => FirstRun::TooLarge {
            size: *size,
            limit: *limit,
        },
        _ => FirstRun::Handled,
    }
}

/// A redelivered activity: nothing runs; what is still pending in the outbox is leased for
/// delivery. `None` when the outbox changed meanwhile (the loop reads again).
async fn replay(
    inner: &Arc<Runtime>,
    keys: &StateKeys,
    pending: Pending,
    first: FirstRun,
    attempts: usize,
) -> Result<Option<Saved>, BotError> {
    let failure = match first {
        FirstRun::Handled => None,
        FirstRun::TooLarge { size, limit } => Some(BotError::Storage(StorageError::TooLarge {
            key: keys.private.clone(),
            size,
            limit,
        })),
    };
    tracing::debug!(conversation = %keys.conversation, "activity processed before; not run again");
    let mut saved = Saved {
        attempts,
        failure,
        redelivery: true,
        ..Saved::default()
    };
    if pending.messages.is_empty() {
        return Ok(Some(saved));
    }
    let Some(version) = outbox::lease(inner, &keys.outbox, &pending).await? else {
        return Ok(None);
    };
    saved.outbox_version = Some(version);
    saved.tries = pending.tries;
    saved.outbox = pending.messages;
    Ok(Some(saved))
}

fn report_failure(inner: &Runtime, message: &Message, e: BotError) -> BotError {
    if let Some(h) = &inner.on_error {
        h(&e, message);
    }
    tracing::warn!(error = %e, "turn failed; resetting the conversation");
    e
}

/// A proactive turn's synthetic message: empty, carrying the address.
pub(crate) fn proactive_message(address: &Address) -> Message {
    Message::to(&address.without_reply())
}
