//! [`DialogResult`]: what a dialog hands to the one below it, and why it is resumed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a dialog is being resumed (v3 `ResumeReason`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ResumeReason {
    /// The child completed.
    #[default]
    Completed,
    /// The child gave up (e.g. a prompt ran out of retries).
    NotCompleted,
    /// The child was canceled.
    Canceled,
    /// The child asked to go back a step.
    Back,
    /// The child asked to skip ahead.
    Forward,
    /// The child asked the parent to prompt again.
    Reprompt,
}

/// What a dialog hands to the one below it when it ends, and what a waterfall step receives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DialogResult {
    /// Why the parent is resumed.
    pub reason: ResumeReason,
    /// The value (a prompt's answer, a child's result, `next(value)`'s value, begin args).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The id of the dialog that produced the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_id: Option<String>,
}

impl DialogResult {
    /// A completed result with a value.
    pub fn completed(value: impl Into<Option<Value>>) -> Self {
        Self {
            reason: ResumeReason::Completed,
            value: value.into(),
            child_id: None,
        }
    }

    /// A result with the given reason and no value.
    pub fn with_reason(reason: ResumeReason) -> Self {
        Self {
            reason,
            value: None,
            child_id: None,
        }
    }

    /// The value as a string slice, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_ref()?.as_str()
    }

    /// The value as an f64, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        self.value.as_ref()?.as_f64()
    }

    /// The value as a bool, if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        self.value.as_ref()?.as_bool()
    }

    /// Whether the child completed.
    pub fn is_completed(&self) -> bool {
        self.reason == ResumeReason::Completed
    }
}
