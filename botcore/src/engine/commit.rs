//! A turn's records: [`load`] reads them in one round trip (the user, conversation and private
//! records, the user's address mark, the conversation's outbox) and [`commit_ops`] writes back
//! what changed in one compare-and-set batch — the state, the processed-activity list, the
//! address book, scheduled jobs and the messages to deliver.

use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::{Precondition, Stored, WriteOp};
use crate::engine::runtime::Runtime;
use crate::model::address_record;
use crate::model::effects::Effects;
use crate::model::inbound::Inbound;
use crate::model::outbox::Pending;
use crate::model::session::Session;
use crate::model::state::{Bag, SESSION_STATE, SessionState, StateKeys};
use serde_json::Value;
use std::sync::Arc;

/// What a turn read.
pub(crate) struct Loaded {
    pub(crate) session: Session,
    /// The activities already processed for this user in this conversation.
    pub(crate) inbound: Inbound,
    /// The conversation's messages not known to be delivered.
    pub(crate) pending: Pending,
    /// The user, conversation and private records as read, for a turn that may be taken back.
    pub(crate) before: Option<Vec<(String, Option<Stored>)>>,
}

/// Reads a turn's records. `lenient` (saving the reset after an error) replaces unreadable
/// records with empty ones at the version read, so the reset can overwrite them; `keep_before`
/// keeps a copy of the records as read.
pub(crate) async fn load(
    inner: &Arc<Runtime>,
    message: &Arc<Message>,
    keys: &StateKeys,
    user_turn: bool,
    lenient: bool,
    keep_before: bool,
) -> Result<Loaded, BotError> {
    let record_address = user_turn && message.is_message();
    let mut wanted = vec![
        keys.user.as_str(),
        keys.conversation.as_str(),
        keys.private.as_str(),
        keys.outbox.as_str(),
    ];
    if record_address {
        wanted.push(keys.address_mark.as_str());
    }
    let mut read = inner.storage.read_many(&wanted).await?.into_iter();
    let mut next = || read.next().flatten();
    let (user, conversation, private) = (next(), next(), next());
    let pending = Pending::load(&keys.outbox, next());
    let before = keep_before.then(|| {
        vec![
            (keys.user.clone(), user.clone()),
            (keys.conversation.clone(), conversation.clone()),
            (keys.private.clone(), private.clone()),
        ]
    });
    let bag = |key: &str, stored: Option<Stored>| match Bag::load(key, stored.clone()) {
        Err(_) if lenient => Ok(Bag {
            version: stored.map(|s| s.version),
            ..Bag::default()
        }),
        other => other,
    };
    let user = bag(&keys.user, user)?;
    let conversation = bag(&keys.conversation, conversation)?;
    let mut private = bag(&keys.private, private)?;
    let inbound = Inbound::take_from(&mut private.data);
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
    Ok(Loaded {
        session,
        inbound,
        pending,
        before,
    })
}

/// A session loaded for reading only (no turn runs).
pub(crate) async fn load_for_inspection(
    inner: &Arc<Runtime>,
    message: Arc<Message>,
    keys: &StateKeys,
) -> Result<Session, BotError> {
    Ok(load(inner, &message, keys, false, false, false)
        .await?
        .session)
}

fn precondition(bag: &Bag) -> Precondition {
    match bag.version {
        Some(v) => Precondition::IfMatch(v),
        None => Precondition::IfAbsent,
    }
}

/// The batch that saves a turn: its changed records, then `outbox` (the write of the messages
/// to deliver, if any) last.
pub(crate) fn commit_ops(
    session: &mut Session,
    keys: &StateKeys,
    inbound: Inbound,
    outbox: Option<WriteOp>,
) -> Vec<WriteOp> {
    let mut ops = Vec::with_capacity(5);
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
    // The private record carries the stack, lastAccess and the processed-activity list:
    // written every turn (a turn that sends nothing still saves).
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
    inbound.put_into(&mut private);
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
    ops.extend(outbox);
    ops
}

/// The stored record of `keys.private`, decoded: for `last_access` and inspection.
pub(crate) fn session_state(stored: Option<&Stored>) -> Option<SessionState> {
    let v = stored?.value.get(SESSION_STATE)?;
    SessionState::from_value(v.clone()).ok()
}
