//! [`ProactiveMode`]: how a proactive dialog treats a user who is busy in another dialog.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a proactive dialog treats a user who is busy in another dialog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum ProactiveMode {
    /// Push the dialog on top of the stack; when it ends the interrupted dialog resumes.
    Interrupt,
    /// Clear the stack (user and conversation data kept) and run the dialog (v3 `bot.beginDialog`).
    Replace,
    /// Hold the dialog until the stack is empty (or the user has been idle for `idle_after`);
    /// at `deadline` fall back to `on_deadline`. Held dialogs are stored with the conversation.
    #[serde(rename_all = "camelCase")]
    WhenIdle {
        /// Start anyway once the conversation has been idle this long.
        idle_after: Option<Duration>,
        /// Give up waiting after this long.
        deadline: Option<Duration>,
        /// What to do at the deadline.
        on_deadline: DeadlineAction,
    },
}

/// What a `WhenIdle` dialog does when its deadline comes first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeadlineAction {
    /// Interrupt the user's dialog.
    #[default]
    Interrupt,
    /// Drop the held dialog.
    Drop,
}
