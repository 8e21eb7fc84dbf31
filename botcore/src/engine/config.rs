//! The bot's settings: limits, policies and the hooks users plug in.

use crate::contracts::error::BotError;
use crate::contracts::message::Message;

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

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) root_dialog: String,
    pub(crate) max_stack_depth: usize,
    pub(crate) step_budget: usize,
    pub(crate) max_turn_attempts: usize,
    pub(crate) unknown_dialog: UnknownDialogPolicy,
    pub(crate) error_message: String,
    pub(crate) proactive_wait: std::time::Duration,
}
