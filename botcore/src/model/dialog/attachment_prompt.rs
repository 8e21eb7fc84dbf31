//! The attachment prompt's answer: the files the user sent, read with
//! [`DialogResult::attachments`].

use crate::contracts::card::Attachment;
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::model::result::DialogResult;
use serde_json::Value;

/// The answer of an attachment prompt: the message's attachments, if it has any.
pub(crate) fn recognize_attachments(message: &Message) -> Option<Value> {
    (!message.attachments.is_empty()).then(|| Value::Array(message.attachments.clone()))
}

impl DialogResult {
    /// The answer of an attachment prompt: the files the user sent (at least one).
    pub fn attachments(&self) -> Result<Vec<Attachment>, BotError> {
        let parsed = match &self.value {
            Some(v @ Value::Array(items)) if !items.is_empty() => {
                serde_json::from_value::<Vec<Attachment>>(v.clone()).ok()
            }
            _ => None,
        };
        parsed.ok_or_else(|| BotError::ResultKind {
            expected: "attachments",
            found: match &self.value {
                None => format!("no value ({:?})", self.reason),
                Some(v) => format!("the JSON value {v}"),
            },
        })
    }
}
