//! The bot's settings: limits, policies and the hooks users plug in.

use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::engine::events::MembersChanged;
use std::sync::Arc;

/// What to do with a stored stack that names a dialog no longer registered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownDialogPolicy {
    /// v3: send the error message and an endOfConversation, clear the stack.
    #[default]
    ErrorAndReset,
    /// Clear the stack silently and route the message to the root dialog.
    RestartRoot,
}

/// The bot-wide dialog version, like v3's `dialogVersion` middleware: stored per
/// conversation (in the session state's `version`, as v3 does); a conversation stored at an
/// older version has its stack reset, with `message`, when its next turn loads it. A
/// conversation with an empty stack just takes the current version.
///
/// ```
/// use botcore::{Bot, DialogVersion};
/// let builder = Bot::builder().dialog_version(DialogVersion {
///     version: 3,
///     message: "I've been updated: let's start over.".into(),
///     reset_command: Some("/reset".into()),
/// });
/// # let _ = builder;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialogVersion {
    /// The current version; raise it to reset every conversation stored at an older one.
    pub version: u32,
    /// What a user whose stack was reset is told (a localization key or the text; empty:
    /// nothing).
    pub message: String,
    /// A message text (compared trimmed, ignoring ASCII case) that resets the user's stack on
    /// demand, with `message`; the command itself goes to no dialog.
    pub reset_command: Option<String>,
}

/// What happens to a proactive dialog whose first message the channel refuses for good (the
/// user blocked the bot, the bot was removed from the conversation, ...).
///
/// ```
/// use botcore::{Bot, ProactiveRefusal};
/// let builder = Bot::builder().proactive_refusal(ProactiveRefusal::Keep);
/// # let _ = builder;
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProactiveRefusal {
    /// Take the turn back: the conversation's state is put back as it was before the dialog
    /// began (unless the conversation had another turn meanwhile), and the caller gets the
    /// delivery error.
    #[default]
    TakeBack,
    /// Keep the dialog on the stack (the user answers it if the channel delivers later); the
    /// caller still gets the delivery error.
    Keep,
}

/// What an event handler wants done with a non-message activity.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum EventAction {
    /// Nothing (the default for events).
    #[default]
    Ignore,
    /// Send these messages (no state is loaded).
    Reply(Vec<Message>),
    /// Run a normal dialog turn with this activity.
    RunTurn,
}

pub(crate) type ErrorHook = dyn Fn(&BotError, &Message) + Send + Sync;
pub(crate) type EventHook = dyn Fn(&Message) -> EventAction + Send + Sync;
/// A members hook: the messages to send for one change.
pub(crate) type MembersHook = dyn Fn(&MembersChanged) -> Vec<Message> + Send + Sync;

/// The bot's members hooks, in the order they were added.
#[derive(Clone, Default)]
pub(crate) struct MembersHooks {
    pub(crate) added: Vec<Arc<MembersHook>>,
    pub(crate) removed: Vec<Arc<MembersHook>>,
}

impl MembersHooks {
    /// Whether any hook is set (otherwise updates are not even parsed).
    pub(crate) fn any(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }

    /// The messages the hooks return for `event`: the added hooks' when members (or the bot)
    /// joined, then the removed hooks' when some left.
    pub(crate) fn messages(&self, event: &MembersChanged) -> Vec<Message> {
        let mut out = Vec::new();
        if !event.added.is_empty() || event.bot_added {
            out.extend(self.added.iter().flat_map(|h| h(event)));
        }
        if !event.removed.is_empty() || event.bot_removed {
            out.extend(self.removed.iter().flat_map(|h| h(event)));
        }
        out
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) root_dialog: String,
    pub(crate) max_stack_depth: usize,
    pub(crate) step_budget: usize,
    pub(crate) max_turn_attempts: usize,
    pub(crate) unknown_dialog: UnknownDialogPolicy,
    /// What happens to a frame that cannot be migrated, unless its dialog says otherwise.
    pub(crate) version_policy: crate::model::version::VersionPolicy,
    pub(crate) dialog_version: Option<DialogVersion>,
    pub(crate) error_message: String,
    pub(crate) proactive_wait: std::time::Duration,
    /// Typing while a user's turn runs longer than this (`None`: off).
    pub(crate) show_typing: Option<std::time::Duration>,
    /// How many processed activity ids a conversation remembers per user (0: no dedupe).
    pub(crate) dedupe_window: usize,
    /// How long a process owns the outbox records it delivers.
    pub(crate) outbox_lease: std::time::Duration,
    pub(crate) proactive_refusal: ProactiveRefusal,
}

/// How many processed activity ids a conversation remembers per user, by default.
pub(crate) const DEDUPE_WINDOW: usize = 16;
/// How long a process owns the outbox records it delivers, by default.
pub(crate) const OUTBOX_LEASE: std::time::Duration = std::time::Duration::from_secs(10);
