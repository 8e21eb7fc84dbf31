//! Dialogs held until the user is idle (`ProactiveMode::WhenIdle`).
//!
//! Held dialogs live in the private conversation record (`botcore.HeldDialogs`), so they are
//! saved with the turn that held them and survive a restart. They start when the stack
//! empties at the end of any turn, or when a scheduled check finds the conversation idle or
//! the deadline reached.

use crate::contracts::error::BotError;
use crate::model::effects::StackOp;
use crate::model::proactive_mode::{DeadlineAction, ProactiveMode};
use crate::model::session::Session;
use crate::model::state::HELD_DIALOGS;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What beginning or checking held dialogs decided, beyond the session's effects.
#[derive(Debug, Default)]
pub(crate) struct HoldReport {
    /// The proactive dialog was held (WhenIdle) rather than started.
    pub(crate) held: bool,
    /// When held dialogs should be checked again.
    pub(crate) recheck_at: Option<u64>,
}

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
            .map(|i| last_access.max(self.queued_at).saturating_add(i));
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

/// Clears private conversation data (end of conversation, reset after an error) but keeps
/// the dialogs held for the user: they were promised to them, not to this conversation's state.
pub(crate) fn clear_private_keeping_held(session: &mut Session) {
    let held = session.private.data.remove(HELD_DIALOGS);
    session.private.clear();
    if let Some(h) = held {
        session.private.data.insert(HELD_DIALOGS.into(), h);
        session.private.dirty = true;
    }
}

/// How many dialogs may be held for one user at once; the oldest goes first.
const MAX_HELD: usize = 16;

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn store(session: &mut Session, list: &[HeldDialog]) {
    session.private.dirty = true;
    let data = &mut session.private.data;
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
) -> Result<HoldReport, BotError> {
    let begin = StackOp::Begin {
        id: id.to_owned(),
        args: args.clone(),
    };
    match mode {
        ProactiveMode::Interrupt => session.effects.op = Some(begin),
        ProactiveMode::Replace => {
            session.stack.clear();
            session.effects.op = Some(begin);
        }
        ProactiveMode::WhenIdle {
            idle_after,
            deadline,
            on_deadline,
        } => {
            if session.stack.is_empty() {
                session.effects.op = Some(begin);
                return Ok(HoldReport::default());
            }
            let now = session.env.clock.now_ms();
            let h = HeldDialog {
                id: id.to_owned(),
                args,
                queued_at: now,
                idle_after_ms: idle_after.map(millis),
                deadline_at: deadline.map(|d| now.saturating_add(millis(d))),
                on_deadline: *on_deadline,
            };
            let recheck_at = h.next_check(session.last_access);
            let mut list = held(session);
            // Holding the same dialog again replaces the earlier hold (no pile-up).
            // Compared by the dialog's current id: a hold saved under a former id is the same.
            list.retain(|old| current_id(session, &old.id).as_deref() != Some(h.id.as_str()));
            list.push(h);
            if list.len() > MAX_HELD {
                list.remove(0);
            }
            store(session, &list);
            return Ok(HoldReport {
                held: true,
                recheck_at,
            });
        }
    }
    Ok(HoldReport::default())
}

/// Removes and returns the first held dialog (called when the stack is empty).
pub(crate) fn take_first(session: &mut Session) -> Option<HeldDialog> {
    if !session.private.data.contains_key(HELD_DIALOGS) {
        return None;
    }
    let mut list = held(session);
    let mut first = None;
    while !list.is_empty() {
        let mut h = list.remove(0);
        // A dialog a deploy removed is dropped, not begun: beginning it would fail every
        // turn that ends idle.
        match current_id(session, &h.id) {
            Some(id) => {
                h.id = id;
                first = Some(h);
                break;
            }
            None => tracing::warn!(dialog = %h.id, "dropping a held dialog that no longer exists"),
        }
    }
    store(session, &list);
    first
}

/// The id a held dialog runs as now (a former id resolves to the renamed dialog); `None`
/// when no registered dialog answers to it.
fn current_id(session: &Session, id: &str) -> Option<String> {
    session.env.ids.resolve(id, None).ok().map(str::to_owned)
}

/// A scheduled check: start the first held dialog if the user is idle or its deadline has come.
pub(crate) fn check(session: &mut Session) -> Result<HoldReport, BotError> {
    let mut list = held(session);
    if list.is_empty() || session.stack.is_empty() {
        // An empty stack starts the first held dialog at the end of the turn.
        return Ok(HoldReport::default());
    }
    let now = session.env.clock.now_ms();
    let last = session.last_access;
    let mut i = 0;
    while i < list.len() {
        let h = &list[i];
        let idle = h
            .idle_after_ms
            .is_some_and(|ms| now >= last.max(h.queued_at).saturating_add(ms));
        let due = h.deadline_at.is_some_and(|d| now >= d);
        if idle || due {
            let h = list.remove(i);
            let Some(id) = current_id(session, &h.id) else {
                tracing::warn!(dialog = %h.id, "dropping a held dialog that no longer exists");
                continue;
            };
            if idle || h.on_deadline == DeadlineAction::Interrupt {
                session.effects.op = Some(StackOp::Begin { id, args: h.args });
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
        .map(|t| t.max(now.saturating_add(1)));
    store(session, &list);
    Ok(HoldReport {
        held: false,
        recheck_at,
    })
}
