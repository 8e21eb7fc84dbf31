//! [`BotError`]: the errors users of botcore branch on.

use crate::contracts::connector::DeliveryError;
use crate::contracts::storage::StorageError;

/// An error from the bot: routing, dialogs, state or delivery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// No dialog with this id is registered.
    #[error("dialog not found: {0}")]
    DialogNotFound(String),
    /// Two libraries or dialogs claim the same id.
    #[error("duplicate dialog or library id: {0}")]
    DuplicateId(String),
    /// A turn ran more dialog steps than the configured budget (e.g. a dialog begins itself forever).
    #[error("step budget of {budget} exceeded in one turn (dialog {dialog})")]
    StepBudgetExceeded {
        /// The budget.
        budget: usize,
        /// The dialog on top when the budget ran out.
        dialog: String,
    },
    /// The dialog stack grew past the configured maximum depth.
    #[error("dialog stack deeper than {max} frames (beginning {dialog})")]
    StackTooDeep {
        /// The maximum depth.
        max: usize,
        /// The dialog that would have gone over.
        dialog: String,
    },
    /// A dialog handler queued two stack operations in one call.
    #[error("a dialog queued two stack operations in one call: {0}")]
    InvalidStackOperation(String),
    /// Stored state could not be read back.
    #[error("stored state is corrupt: {0}")]
    CorruptState(String),
    /// Another writer kept winning the compare-and-set; the turn was given up after `attempts`.
    #[error("state conflict not resolved after {attempts} attempts")]
    Conflict {
        /// How many times the turn ran.
        attempts: usize,
    },
    /// A turn of this conversation was started from inside a turn of the same conversation
    /// (e.g. a dialog step awaiting `bot.begin_dialog` for its own user): it would wait for
    /// itself forever. Use `session.begin_dialog` or `session.schedule_in` instead.
    #[error("a turn of conversation {0} was started from inside a turn of the same conversation")]
    Reentrant(String),
    /// The address has no user, channel or service URL to send to.
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// The user never wrote to the bot and the caller did not opt in to contacting them.
    #[error("user {user} on {channel} never talked to the bot")]
    NotConsented {
        /// The channel.
        channel: String,
        /// The user id.
        user: String,
    },
    /// Reading or writing state failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Delivering a message failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// An error raised by a dialog step or a handler.
    #[error("dialog error: {0}")]
    Dialog(String),
}

impl BotError {
    /// An error from a dialog step, with a message for the error hook.
    pub fn dialog(msg: impl std::fmt::Display) -> Self {
        Self::Dialog(msg.to_string())
    }
}
