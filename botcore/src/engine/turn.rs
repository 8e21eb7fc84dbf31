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
use crate::contracts::message::{Message, MessageKind};
use crate::contracts::storage::{Precondition, StorageError, Stored, WriteOp};
use crate::contracts::telemetry::{self, TurnKind};
use crate::engine::locks::{self, Claim};
use crate::engine::runtime::Runtime;
use crate::engine::{delivery, driver, migrate, typing};
use crate::model::address_record;
use crate::model::effects::{Effects, StackOp};
use crate::model::held::{self, HeldDialog, HoldReport};
use crate::model::job::JobAction;
use crate::model::proactive_mode::ProactiveMode;
use crate::model::session::Session;
use crate::model::state::{Bag, SESSION_STATE, SessionState, StateKeys};
use serde_json::Value;
use std::sync::Arc;

/// What a turn did.
#[derive(Debug, Default)]
pub struct TurnOutcome {
    /// Per outgoing message, in order: the receipt or why it was not delivered.
    pub deliveries: Vec<Result<Receipt, DeliveryError>>,
    /// How many times the turn ran (more than 1 after compare-and-set conflicts).
    pub attempts: usize,
    /// Whether a dialog turn ran (false for ignored events and messages dropped by middleware).
    pub ran_turn: bool,
}

/// A custom proactive flow run as a turn.
pub(crate) type CustomFlow = dyn Fn(&mut Session) -> Result<(), BotError> + Send + Sync;

/// How a turn starts.
#[derive(Clone)]
pub(crate) enum Entry {
    /// A user's message: route it to the dialog on top, or begin the root dialog.
    User,
    /// A proactive dialog.
    Proactive {
        id: String,
        args: Option<Value>,
        mode: ProactiveMode,
    },
    /// Re-check dialogs held until the user is idle.
    CheckHeld,
    /// A custom flow over a loaded session.
    Custom(Arc<CustomFlow>),
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
/// then the delivery of what the saved attempt sent.
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
        Some(threshold) => {
            typing::while_running(&*inner.connector, &message.address, threshold, attempts).await
        }
        None => attempts.await,
    }?;
    // Delivered while the conversation's lock is held: the next turn's messages cannot
    // overtake these.
    let deliveries = delivery::deliver_as_one(inner, claim, &message.address, saved.outbox).await;
    let outcome = TurnOutcome {
        deliveries,
        attempts: saved.attempts,
        ran_turn: true,
    };
    match saved.failure {
        Some(e) => Err(e),
        None => Ok(Ran {
            outcome,
            report: saved.report,
        }),
    }
}

/// A turn's saved attempt: what to deliver, and how the turn ended.
struct Saved {
    outbox: Vec<Message>,
    attempts: usize,
    /// The error a user's turn was reset after (its reset was saved).
    failure: Option<BotError>,
    report: HoldReport,
}

/// The compare-and-set loop of one turn, up to the saved write.
async fn attempt(
    inner: &Arc<Runtime>,
    message: &Arc<Message>,
    keys: &StateKeys,
    entry: Entry,
) -> Result<Saved, BotError> {
    let user_turn = matches!(entry, Entry::User);
    let max = inner.config.max_turn_attempts;
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
        let mut session = match load(inner, message, keys, user_turn, lenient).await {
            Ok(s) => s,
            Err(e @ BotError::CorruptState(_)) if user_turn && !lenient => {
                failure = Some(report_failure(inner, message, e));
                continue;
            }
            Err(e) => return Err(e),
        };
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
        let ops = commit_ops(&mut session, keys);
        match inner.storage.write_many(ops).await {
            Ok(_) => {
                return Ok(Saved {
                    outbox: std::mem::take(&mut session.effects.outbox),
                    attempts: attempts + reset_attempts,
                    failure,
                    report,
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

fn report_failure(inner: &Runtime, message: &Message, e: BotError) -> BotError {
    if let Some(h) = &inner.on_error {
        h(&e, message);
    }
    tracing::warn!(error = %e, "turn failed; resetting the conversation");
    e
}

/// v3 on error: the error message, an endOfConversation with code `unknown`, the stack and
/// conversation data cleared; user data kept (and dialogs held for the user stay held).
fn reset_after_error(rt: &Runtime, session: &mut Session) {
    session.effects.outbox.clear();
    session.effects.scheduled.clear();
    let text = rt.config.error_message.clone();
    session.send(text.as_str());
    session.effects.outbox.push(
        Message::of_kind(MessageKind::EndOfConversation, &session.message.address).code("unknown"),
    );
    session.stack.clear();
    session.conversation.clear();
    held::clear_private_keeping_held(session);
}

async fn load(
    inner: &Arc<Runtime>,
    message: &Arc<Message>,
    keys: &StateKeys,
    user_turn: bool,
    lenient: bool,
) -> Result<Session, BotError> {
    let record_address = user_turn && message.is_message();
    let mut wanted = vec![
        keys.user.as_str(),
        keys.conversation.as_str(),
        keys.private.as_str(),
    ];
    if record_address {
        wanted.push(keys.address_mark.as_str());
    }
    let mut read = inner.storage.read_many(&wanted).await?.into_iter();
    let mut next = || read.next().flatten();
    // Lenient loading (saving the reset after an error) replaces unreadable records with
    // empty ones at the version read, so the reset can overwrite them.
    let bag = |key: &str, stored: Option<Stored>| match Bag::load(key, stored.clone()) {
        Err(_) if lenient => Ok(Bag {
            version: stored.map(|s| s.version),
            ..Bag::default()
        }),
        other => other,
    };
    let user = bag(&keys.user, next())?;
    let conversation = bag(&keys.conversation, next())?;
    let mut private = bag(&keys.private, next())?;
    let state = match private.data.remove(SESSION_STATE) {
        Some(v) => match SessionState::from_value(v) {
            Ok(s) => s,
            Err(_) if lenient => SessionState::default(),
            Err(e) => return Err(BotError::CorruptState(format!("{}: {e}", keys.private))),
        },
        None => SessionState::default(),
    };
    let address_update = if record_address {
        address_record::update_for(next().as_ref(), &message.address, message.locale.as_deref())
    } else {
        None
    };
    let session = Session {
        env: inner.env.clone(),
        message: message.clone(),
        user,
        conversation,
        private,
        stack: state.callstack,
        last_access: state.last_access,
        state_version: state.version,
        effects: Effects {
            address_update,
            ..Effects::default()
        },
        proactive: !user_turn,
    };
    Ok(session)
}

pub(crate) async fn load_for_inspection(
    inner: &Arc<Runtime>,
    message: Arc<Message>,
    keys: &StateKeys,
) -> Result<Session, BotError> {
    load(inner, &message, keys, false, false).await
}

fn precondition(bag: &Bag) -> Precondition {
    match bag.version {
        Some(v) => Precondition::IfMatch(v),
        None => Precondition::IfAbsent,
    }
}

fn commit_ops(session: &mut Session, keys: &StateKeys) -> Vec<WriteOp> {
    let mut ops = Vec::with_capacity(4);
    if session.user.dirty {
        ops.push(WriteOp::put(
            &keys.user,
            Value::Object(std::mem::take(&mut session.user.data)),
            precondition(&session.user),
        ));
    }
    if session.conversation.dirty {
        ops.push(WriteOp::put(
            &keys.conversation,
            Value::Object(std::mem::take(&mut session.conversation.data)),
            precondition(&session.conversation),
        ));
    }
    // The private record carries the stack and lastAccess: written every turn (a turn that
    // sends nothing still saves).
    let state = SessionState {
        callstack: std::mem::take(&mut session.stack),
        // Only the user's own messages count as activity (idle checks read this).
        last_access: if session.proactive {
            session.last_access
        } else {
            session.env.clock.now_ms()
        },
        version: session.state_version,
    };
    let mut private = std::mem::take(&mut session.private.data);
    private.insert(SESSION_STATE.into(), state.into_value());
    ops.push(WriteOp::put(
        &keys.private,
        Value::Object(private),
        precondition(&session.private),
    ));
    if let Some(update) = session.effects.address_update.take() {
        // The full record is written last-writer-wins; the mark's compare-and-set orders
        // concurrent updates.
        ops.push(WriteOp::put(
            &keys.address,
            update.record,
            Precondition::Any,
        ));
        ops.push(WriteOp::put(
            &keys.address_mark,
            update.mark,
            update.mark_precondition,
        ));
    }
    ops.append(&mut session.effects.scheduled);
    ops
}

async fn execute(
    rt: &Runtime,
    session: &mut Session,
    entry: &Entry,
) -> Result<HoldReport, BotError> {
    let mut report = HoldReport::default();
    let after = migrate::apply(&rt.library, &rt.config, session)?;
    if session.effects.op.is_some() {
        driver::drive(rt, session).await?;
    }
    match entry {
        Entry::User if after == migrate::After::Consumed => {}
        Entry::User => driver::route_user_message(rt, session).await?,
        Entry::Proactive { id, args, mode } => {
            report = held::begin_proactive(session, id, args.clone(), mode)?;
            // The check that starts a held dialog is saved with the hold itself.
            if let Some(at) = report.recheck_at {
                session.schedule_at(at, JobAction::CheckHeld)?;
            }
        }
        Entry::CheckHeld => {
            report = held::check(session)?;
        }
        Entry::Custom(flow) => flow(session)?,
    }
    driver::drive(rt, session).await?;
    // A conversation that just became idle starts the first dialog held for it.
    if session.stack.is_empty()
        && let Some(HeldDialog { id, args, .. }) = held::take_first(session)
    {
        session.effects.op = Some(StackOp::Begin { id, args });
        driver::drive(rt, session).await?;
    }
    Ok(report)
}

/// The stored record of `keys.private`, decoded: for `last_access` and inspection.
pub(crate) fn session_state(stored: Option<&Stored>) -> Option<SessionState> {
    let v = stored?.value.get(SESSION_STATE)?;
    SessionState::from_value(v.clone()).ok()
}

/// A proactive turn's synthetic message: empty, carrying the address.
pub(crate) fn proactive_message(address: &Address) -> Message {
    Message::to(&address.without_reply())
}
