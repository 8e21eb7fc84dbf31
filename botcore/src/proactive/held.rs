//! Dialogs held until the user is idle (`ProactiveMode::WhenIdle`).
//!
//! Held dialogs live in the private conversation record (`botcore.HeldDialogs`), so they are
//! saved with the turn that held them and survive a restart. They start when the stack
//! empties at the end of any turn, or when a scheduled check finds the conversation idle or
//! the deadline reached.

use crate::error::BotError;
use crate::proactive::{DeadlineAction, ProactiveMode};
use crate::session::{Session, StackOp};
use crate::state::HELD_DIALOGS;
use crate::turn::EntryReport;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HeldDialog {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) args: Option<Value>,
    pub(crate) queued_at: u64,
    #[serde(default)]
    pub(crate) idle_after_ms: Option<u64>,
    #[serde(default)]
    pub(crate) deadline_at: Option<u64>,
    #[serde(default)]
    pub(crate) on_deadline: DeadlineAction,
}

impl HeldDialog {
    fn next_check(&self, last_access: u64) -> Option<u64> {
        let idle = self
            .idle_after_ms
            .map(|i| last_access.max(self.queued_at) + i);
        match (idle, self.deadline_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

fn held(session: &Session) -> Vec<HeldDialog> {
    session
        .private
        .data
        .get(HELD_DIALOGS)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn store(session: &mut Session, list: &[HeldDialog]) {
    let data = session.private_conversation_data_mut();
    if list.is_empty() {
        data.remove(HELD_DIALOGS);
    } else if let Ok(v) = serde_json::to_value(list) {
        data.insert(HELD_DIALOGS.into(), v);
    }
}

pub(crate) fn begin_proactive(
    session: &mut Session,
    id: &str,
    args: Option<Value>,
    mode: &ProactiveMode,
) -> Result<EntryReport, BotError> {
    let begin = StackOp::Begin {
        id: id.to_owned(),
        args: args.clone(),
    };
    match mode {
        ProactiveMode::Interrupt => session.op = Some(begin),
        ProactiveMode::Replace => {
            session.stack.clear();
            session.stack_dirty = true;
            session.op = Some(begin);
        }
        ProactiveMode::WhenIdle {
            idle_after,
            deadline,
            on_deadline,
        } => {
            if session.stack.is_empty() {
                session.op = Some(begin);
                return Ok(EntryReport::default());
            }
            let now = session.bot.clock.now_ms();
            let h = HeldDialog {
                id: id.to_owned(),
                args,
                queued_at: now,
                idle_after_ms: idle_after.map(|d| d.as_millis() as u64),
                deadline_at: deadline.map(|d| now + d.as_millis() as u64),
                on_deadline: *on_deadline,
            };
            let recheck_at = h.next_check(session.last_access);
            let mut list = held(session);
            list.push(h);
            store(session, &list);
            return Ok(EntryReport {
                held: true,
                recheck_at,
            });
        }
    }
    Ok(EntryReport::default())
}

/// Removes and returns the first held dialog (called when the stack is empty).
pub(crate) fn take_first(session: &mut Session) -> Option<HeldDialog> {
    if !session.private.data.contains_key(HELD_DIALOGS) {
        return None;
    }
    let mut list = held(session);
    if list.is_empty() {
        return None;
    }
    let first = list.remove(0);
    store(session, &list);
    Some(first)
}

/// A scheduled check: start the first held dialog if the user is idle or its deadline has come.
pub(crate) fn check(session: &mut Session) -> Result<EntryReport, BotError> {
    let mut list = held(session);
    if list.is_empty() || session.stack.is_empty() {
        // An empty stack starts the first held dialog at the end of the turn.
        return Ok(EntryReport::default());
    }
    let now = session.bot.clock.now_ms();
    let last = session.last_access;
    let mut i = 0;
    while i < list.len() {
        let h = &list[i];
        let idle = h
            .idle_after_ms
            .is_some_and(|ms| now >= last.max(h.queued_at) + ms);
        let due = h.deadline_at.is_some_and(|d| now >= d);
        if idle || due {
            let h = list.remove(i);
            if idle || h.on_deadline == DeadlineAction::Interrupt {
                session.op = Some(StackOp::Begin {
                    id: h.id,
                    args: h.args,
                });
                break;
            }
            continue;
        }
        i += 1;
    }
    let recheck_at = list
        .iter()
        .filter_map(|h| h.next_check(last))
        .min()
        .map(|t| t.max(now + 1));
    store(session, &list);
    Ok(EntryReport {
        held: false,
        recheck_at,
    })
}
