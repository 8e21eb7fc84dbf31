//! The version pass of a turn: after a turn loads its stack and before it runs, the bot-wide
//! [`DialogVersion`] is checked, renamed dialogs get their current ids, and frames stored by
//! an older dialog version are migrated or go through their [`VersionPolicy`]. Every turn —
//! a user's message, a proactive dialog, a held-dialog check, a scheduled job — runs it.

use crate::contracts::error::BotError;
use crate::engine::config::{Config, DialogVersion};
use crate::model::effects::StackOp;
use crate::model::library::Registry;
use crate::model::session::Session;
use crate::model::state::Frame;
use crate::model::version::{self, VersionPolicy};

/// What the version pass did to one stack.
#[derive(Debug)]
pub(crate) enum Upgrade {
    /// Nothing was stale.
    Unchanged,
    /// Frames were renamed or migrated.
    Migrated,
    /// A dialog was restarted (`stack` is cut below it): begin `id` again, telling `message`.
    Restart { id: String, message: String },
    /// The stack was cleared: tell `message`.
    Reset { message: String },
    /// The policy refused: the turn fails with this error.
    Refused(BotError),
}

/// Renames and migrates the frames of `stack` (bottom first); the first frame that cannot
/// be migrated decides through its policy. Frames of unknown dialogs are left for the
/// [`UnknownDialogPolicy`](crate::UnknownDialogPolicy).
pub(crate) fn upgrade_stack(
    reg: &Registry,
    default: &VersionPolicy,
    stack: &mut Vec<Frame>,
) -> Upgrade {
    let mut migrated = false;
    for i in 0..stack.len() {
        let frame = &mut stack[i];
        let Some(current) = reg.current(&frame.id).map(str::to_owned) else {
            continue;
        };
        if current != frame.id {
            frame.id.clone_from(&current);
            migrated = true;
        }
        let Some(spec) = reg.spec(&current) else {
            continue;
        };
        let stored = version::stored_version(frame);
        if stored == spec.version && spec.state_check.is_none() {
            continue;
        }
        match version::migrate(spec, frame, stored) {
            Ok(()) => migrated |= stored != spec.version,
            Err(reason) => {
                return match spec.policy.as_ref().unwrap_or(default) {
                    VersionPolicy::Refuse => Upgrade::Refused(BotError::DialogVersion {
                        dialog: current,
                        stored,
                        current: spec.version,
                        reason,
                    }),
                    VersionPolicy::ResetStack { message } => {
                        stack.clear();
                        Upgrade::Reset {
                            message: message.clone(),
                        }
                    }
                    VersionPolicy::RestartDialog { message } => {
                        stack.truncate(i);
                        Upgrade::Restart {
                            id: current,
                            message: message.clone(),
                        }
                    }
                };
            }
        }
    }
    if migrated {
        Upgrade::Migrated
    } else {
        Upgrade::Unchanged
    }
}

/// The bot-wide version check on a loaded stack: `Some(message)` when the stack was reset.
/// `state_version` is the stored `version` of the session state, updated to the current one.
pub(crate) fn bot_wide(
    dv: &DialogVersion,
    state_version: &mut f64,
    text: Option<&str>,
    stack: &mut Vec<Frame>,
) -> Option<String> {
    let stale = *state_version < f64::from(dv.version);
    let asked = match (&dv.reset_command, text) {
        (Some(cmd), Some(text)) => text.trim().eq_ignore_ascii_case(cmd.trim()),
        _ => false,
    };
    *state_version = f64::from(dv.version);
    // A new conversation (nothing on the stack) just gets the current version.
    if asked || (stale && !stack.is_empty()) {
        stack.clear();
        return Some(dv.message.clone());
    }
    None
}

/// How the turn goes on after the version pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Run the turn as usual.
    Run,
    /// The user's message was answered by the pass (a restart or the reset command): run
    /// what it queued, but do not route the message.
    Consumed,
}

/// Runs the version pass on a loaded session: messages and the restart's begin are queued
/// on the session; a refusal is returned as the error.
pub(crate) fn apply(
    reg: &Registry,
    config: &Config,
    session: &mut Session,
) -> Result<After, BotError> {
    let mut after = After::Run;
    if let Some(dv) = &config.dialog_version {
        let text = (!session.proactive).then(|| session.message.text.clone());
        if let Some(message) = bot_wide(
            dv,
            &mut session.state_version,
            text.as_deref(),
            &mut session.stack,
        ) {
            say(session, &message);
            if text.as_deref().is_some_and(|t| {
                dv.reset_command
                    .as_deref()
                    .is_some_and(|c| t.trim().eq_ignore_ascii_case(c.trim()))
            }) {
                after = After::Consumed;
            }
        }
    }
    if !reg.has_versions() {
        return Ok(after);
    }
    match upgrade_stack(reg, &config.version_policy, &mut session.stack) {
        Upgrade::Unchanged | Upgrade::Migrated => {}
        Upgrade::Reset { message } => say(session, &message),
        Upgrade::Restart { id, message } => {
            say(session, &message);
            session.effects.op = Some(StackOp::Begin { id, args: None });
            after = After::Consumed;
        }
        Upgrade::Refused(e) => return Err(e),
    }
    Ok(after)
}

fn say(session: &mut Session, message: &str) {
    if !message.is_empty() {
        session.send(message);
    }
}
