//! How a turn starts ([`Entry`]) and what one attempt of it runs: migrations, then the
//! user's message or the proactive start, the stack operations queued, and the first held
//! dialog once the conversation is idle; or, after an error, v3's reset.

use crate::contracts::error::BotError;
use crate::contracts::message::{Message, MessageKind};
use crate::contracts::storage::WriteOp;
use crate::engine::runtime::Runtime;
use crate::engine::{driver, migrate};
use crate::model::effects::StackOp;
use crate::model::held::{self, HeldDialog, HoldReport};
use crate::model::job::JobAction;
use crate::model::proactive_mode::ProactiveMode;
use crate::model::session::Session;
use serde_json::Value;
use std::sync::Arc;

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
        /// Writes saved in the turn's batch (a scheduled job's completion).
        also: Vec<WriteOp>,
    },
    /// Re-check dialogs held until the user is idle.
    CheckHeld,
    /// A custom flow over a loaded session.
    Custom(Arc<CustomFlow>),
}

/// v3 on error: the error message, an endOfConversation with code `unknown`, the stack and
/// conversation data cleared; user data kept (and dialogs held for the user stay held).
pub(crate) fn reset_after_error(rt: &Runtime, session: &mut Session) {
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

pub(crate) async fn execute(
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
        Entry::Proactive {
            id,
            args,
            mode,
            also,
        } => {
            report = held::begin_proactive(session, id, args.clone(), mode)?;
            session.effects.scheduled.extend(also.iter().cloned());
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
