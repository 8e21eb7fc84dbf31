//! The stack driver: carries out the stack operations a session queued, one at a time, in a
//! loop (no recursion), bounded by the step budget and the maximum stack depth.

use crate::contracts::error::BotError;
use crate::contracts::message::{Message, MessageKind};
use crate::engine::config::UnknownDialogPolicy;
use crate::engine::runtime::Runtime;
use crate::model::effects::StackOp;
use crate::model::held;
use crate::model::result::{DialogResult, ResumeReason};
use crate::model::session::Session;
use crate::model::state::Frame;
use crate::model::version;
use serde_json::{Map, Value};

pub(crate) async fn route_user_message(
    rt: &Runtime,
    session: &mut Session,
) -> Result<(), BotError> {
    let Some(top) = session.stack.last().map(|f| f.id.clone()) else {
        let id = rt.library.resolve(&rt.config.root_dialog, None)?.to_owned();
        session.effects.op = Some(StackOp::Begin { id, args: None });
        return Ok(());
    };
    let dialog = match rt.library.get(&top) {
        Some(d) => d.clone(),
        None => match rt.config.unknown_dialog {
            UnknownDialogPolicy::ErrorAndReset => return Err(BotError::DialogNotFound(top)),
            _ => {
                session.stack.clear();
                let id = rt.library.resolve(&rt.config.root_dialog, None)?.to_owned();
                session.effects.op = Some(StackOp::Begin { id, args: None });
                return Ok(());
            }
        },
    };
    dialog.reply_received(session).await
}

/// Carries out queued stack operations until none is left: an iterative loop, bounded by the
/// step budget and the maximum stack depth.
pub(crate) async fn drive(rt: &Runtime, session: &mut Session) -> Result<(), BotError> {
    let budget = rt.config.step_budget;
    let mut steps = 0usize;
    loop {
        if let Some(e) = session.effects.error.take() {
            return Err(e);
        }
        if let Some(c) = session.effects.op_conflict.take() {
            return Err(BotError::InvalidStackOperation(c));
        }
        let Some(op) = session.effects.op.take() else {
            return Ok(());
        };
        steps += 1;
        if steps > budget {
            let dialog = session.current_dialog().unwrap_or("").to_owned();
            return Err(BotError::StepBudgetExceeded { budget, dialog });
        }
        match op {
            StackOp::Begin { id, args } => push_and_begin(rt, session, id, args).await?,
            StackOp::Replace { id, args } => {
                session.stack.pop();
                push_and_begin(rt, session, id, args).await?;
            }
            StackOp::End(mut result) => {
                if let Some(frame) = session.stack.pop() {
                    // v3 `endDialogWithResult`: the parent hears from the dialog that ended,
                    // even when it passes on a result it got from its own child.
                    result.child_id = Some(frame.id);
                }
                resume_top(rt, session, result).await?;
            }
            StackOp::Resume(result) => resume_top(rt, session, result).await?,
            StackOp::Cancel { id, then } => {
                let cut = match &id {
                    Some(id) => session.stack.iter().rposition(|f| &f.id == id),
                    None => session.stack.len().checked_sub(1),
                };
                // Canceling a dialog that is not on the stack changes nothing.
                let Some(at) = cut else { continue };
                let child = session.stack.get(at).map(|f| f.id.clone());
                session.stack.truncate(at);
                match then {
                    Some((id, args)) => push_and_begin(rt, session, id, args).await?,
                    None => {
                        let mut r = DialogResult::with_reason(ResumeReason::Canceled);
                        r.child_id = child;
                        resume_top(rt, session, r).await?;
                    }
                }
            }
            StackOp::EndConversation { code } => {
                session.stack.clear();
                session.conversation.clear();
                held::clear_private_keeping_held(session);
                let eoc =
                    Message::of_kind(MessageKind::EndOfConversation, &session.message.address)
                        .code(code);
                session.effects.outbox.push(eoc);
            }
            StackOp::Reset { id, args } => {
                session.stack.clear();
                let id = match id {
                    Some(id) => id,
                    None => rt.library.resolve(&rt.config.root_dialog, None)?.to_owned(),
                };
                push_and_begin(rt, session, id, args).await?;
            }
        }
    }
}

async fn push_and_begin(
    rt: &Runtime,
    session: &mut Session,
    id: String,
    args: Option<Value>,
) -> Result<(), BotError> {
    let max = rt.config.max_stack_depth;
    if session.stack.len() >= max {
        return Err(BotError::StackTooDeep { max, dialog: id });
    }
    // A held dialog or a job may name a former id of a renamed dialog.
    let id = match rt.library.current(&id) {
        Some(current) if current != id => current.to_owned(),
        _ => id,
    };
    let dialog = rt
        .library
        .get(&id)
        .cloned()
        .ok_or_else(|| BotError::DialogNotFound(id.clone()))?;
    let mut frame = Frame {
        id,
        state: Map::new(),
    };
    if let Some(spec) = rt.library.spec(&frame.id) {
        version::stamp(&mut frame, spec.version);
    }
    session.stack.push(frame);
    dialog.begin(session, args).await
}

async fn resume_top(
    rt: &Runtime,
    session: &mut Session,
    result: DialogResult,
) -> Result<(), BotError> {
    let Some(top) = session.stack.last() else {
        return Ok(());
    };
    let dialog = rt
        .library
        .get(&top.id)
        .cloned()
        .ok_or_else(|| BotError::DialogNotFound(top.id.clone()))?;
    dialog.dialog_resumed(session, result).await
}
