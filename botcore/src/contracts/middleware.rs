//! [`Middleware`]: hooks on every incoming and outgoing message.

use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use async_trait::async_trait;
use std::fmt::Debug;

/// Runs on every incoming message before routing, and on every outgoing message before it is
/// handed to the connector. Both methods default to doing nothing.
#[async_trait]
pub trait Middleware: Send + Sync + Debug + 'static {
    /// Sees (and may change) an incoming message. Return `false` to drop it: no turn runs.
    async fn receive(&self, _message: &mut Message) -> Result<bool, BotError> {
        Ok(true)
    }

    /// Sees (and may change) an outgoing message.
    async fn send(&self, _message: &mut Message) -> Result<(), BotError> {
        Ok(())
    }
}
