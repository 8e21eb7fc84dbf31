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
    /// A turn the bot started (a proactive dialog, a scheduled job, a custom flow) waited
    /// longer than the bot's `proactive_wait` for the turn already running in that
    /// conversation — for instance because that turn's step awaits it. Nothing was changed;
    /// it is safe to retry.
    #[error("conversation {conversation} stayed busy for {waited:?}")]
    Busy {
        /// The conversation's key.
        conversation: String,
        /// How long the turn waited.
        waited: std::time::Duration,
    },
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
    /// An error raised by a dialog or a handler, as a message.
    #[error("dialog error: {0}")]
    Dialog(String),
    /// A waterfall step returned an error of its own (`?` on the author's error type); the
    /// original error is kept as the source.
    #[error("step {step} of dialog {dialog} failed: {source}")]
    Step {
        /// The dialog whose step failed.
        dialog: String,
        /// The step's index.
        step: usize,
        /// The step's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A step read a result as the wrong kind (e.g. `r.number()` after a text prompt, or a
    /// prompt that gave up without an answer).
    #[error("expected a {expected} result, found {found}")]
    ResultKind {
        /// The kind the step asked for.
        expected: &'static str,
        /// What the result held.
        found: String,
    },
    /// Stored data did not fit the type a step read it as, or a value could not be stored.
    #[error("{what} does not fit the type {type_name}: {reason}")]
    StateType {
        /// Which data (`user data`, `dialog data`, `dialog arguments`, ...).
        what: &'static str,
        /// The Rust type asked for.
        type_name: &'static str,
        /// Why it did not fit.
        reason: String,
    },
    /// Dialog data was written while no dialog is on the stack (it would be lost).
    #[error("dialog data written with no dialog on the stack")]
    NoActiveDialog,
    /// The bot was built without something it needs (a storage or a connector).
    #[error("the bot is not configured: {0}")]
    Config(&'static str),
    /// A stored frame's dialog version could not be migrated to the code's and the dialog's
    /// policy is to refuse: the turn changed nothing (the conversation is not reset).
    #[error("dialog {dialog} is stored at version {stored}, the code is at {current}: {reason}")]
    DialogVersion {
        /// The (current, qualified) dialog id.
        dialog: String,
        /// The version in the stored frame.
        stored: u32,
        /// The version the code declares.
        current: u32,
        /// Why it could not be migrated.
        reason: String,
    },
}

impl BotError {
    /// An error from a dialog, with a message for the error hook.
    pub fn dialog(msg: impl std::fmt::Display) -> Self {
        Self::Dialog(msg.to_string())
    }

    /// Whether this error, raised in a user's turn, resets the conversation as v3 does (the
    /// error hook, the error message, the stack and conversation data cleared). An explicit
    /// list: failures of the bot's own dialogs and of the state they read. Everything else
    /// (storage outages, conflicts, delivery, addresses, configuration) changes nothing and
    /// is returned to the caller, who may retry.
    pub fn resets_conversation(&self) -> bool {
        match self {
            Self::DialogNotFound(_)
            | Self::StepBudgetExceeded { .. }
            | Self::StackTooDeep { .. }
            | Self::InvalidStackOperation(_)
            | Self::CorruptState(_)
            | Self::Dialog(_)
            | Self::Step { .. }
            | Self::ResultKind { .. }
            | Self::StateType { .. }
            | Self::NoActiveDialog => true,
            Self::DuplicateId(_)
            | Self::Conflict { .. }
            | Self::Reentrant(_)
            | Self::Busy { .. }
            | Self::InvalidAddress(_)
            | Self::NotConsented { .. }
            | Self::Storage(_)
            | Self::Delivery(_)
            | Self::Config(_)
            | Self::DialogVersion { .. } => false,
        }
    }
}

/// The error a waterfall step returns: any error type converts into it with `?`, keeping the
/// original as the source of the [`BotError::Step`] the bot reports. Like `anyhow::Error`, it
/// is not itself a `std::error::Error`, which is what lets `?` convert every error into it.
///
/// ```
/// use botcore::{StepError, Waterfall};
/// #[derive(Debug, thiserror::Error)]
/// #[error("the kitchen is closed")]
/// struct Closed;
/// let order = Waterfall::new().step(async |s, _| {
///     s.send("One moment...");
///     Err(Closed)?;
///     Ok(())
/// });
/// # let _ = order;
/// ```
pub struct StepError(Box<dyn std::error::Error + Send + Sync>);

impl StepError {
    /// An error with just a message.
    pub fn msg(message: impl std::fmt::Display) -> Self {
        Self(message.to_string().into())
    }

    /// The error inside.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync> {
        self.0
    }

    /// Reports this as the error of step `step` of `dialog`; a [`BotError`] passed through
    /// `?` comes back as itself.
    pub(crate) fn into_bot_error(self, dialog: &str, step: usize) -> BotError {
        match self.0.downcast::<BotError>() {
            Ok(e) => *e,
            Err(source) => BotError::Step {
                dialog: dialog.to_owned(),
                step,
                source,
            },
        }
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for StepError {
    fn from(e: E) -> Self {
        Self(Box::new(e))
    }
}

impl std::fmt::Debug for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}
