//! The [`Dialog`] trait and the results dialogs pass to each other.
//!
//! A dialog reacts to three events: it was begun, the user replied while it was on top, or a
//! dialog above it ended (a child it began, or a proactive interruption) and it is back on
//! top. Dialogs never call each other: they queue a stack operation on the [`Session`] and the
//! bot's driver carries it out after the handler returns, in a loop (no recursion).

pub(crate) mod attachment_prompt;
pub(crate) mod list_style;
pub mod prompts;
pub(crate) mod recognize;
pub(crate) mod time_prompt;
pub(crate) mod waterfall;

use crate::contracts::error::BotError;
use crate::model::result::DialogResult;
use crate::model::session::Session;
use async_trait::async_trait;
use serde_json::Value;
use std::fmt::Debug;

/// A dialog: a unit of conversation with its own data, living on the dialog stack.
///
/// Only the dialog id and its data are persisted; the dialog itself is registered at start-up.
#[async_trait]
pub trait Dialog: Send + Sync + Debug + 'static {
    /// The dialog was just pushed on the stack. `args` are the caller's arguments.
    async fn begin(&self, session: &mut Session, args: Option<Value>) -> Result<(), BotError>;

    /// The user sent a message while this dialog was on top.
    async fn reply_received(&self, session: &mut Session) -> Result<(), BotError>;

    /// The dialog above this one ended (a child it began, or a proactive interruption) and
    /// this dialog is on top again.
    ///
    /// The default, as in v3, does nothing: the dialog stays on top and waits for the user's
    /// next message.
    async fn dialog_resumed(
        &self,
        _session: &mut Session,
        _result: DialogResult,
    ) -> Result<(), BotError> {
        Ok(())
    }
}
