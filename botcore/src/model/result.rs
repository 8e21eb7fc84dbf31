//! [`DialogResult`]: what a dialog hands to the one below it, and why it is resumed.

use crate::contracts::error::BotError;
use serde::de::DeserializeOwned;
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

    fn kind_error(&self, expected: &'static str) -> BotError {
        let found = match (&self.value, self.reason) {
            (None, ResumeReason::Completed) => "no value".to_owned(),
            (None, reason) => format!("no value ({reason:?})"),
            (Some(Value::String(_)), _) => "text".to_owned(),
            (Some(Value::Number(_)), _) => "a number".to_owned(),
            (Some(Value::Bool(_)), _) => "a yes/no answer".to_owned(),
            (Some(v), _) if Choice::from_value(v).is_some() => "a choice".to_owned(),
            (Some(v), _) => format!("the JSON value {v}"),
        };
        BotError::ResultKind { expected, found }
    }

    /// The answer of a text prompt (or any text value).
    pub fn text(&self) -> Result<&str, BotError> {
        match &self.value {
            Some(Value::String(s)) => Ok(s),
            _ => Err(self.kind_error("text")),
        }
    }

    /// The answer of a number prompt.
    pub fn number(&self) -> Result<f64, BotError> {
        match &self.value {
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| self.kind_error("number")),
            _ => Err(self.kind_error("number")),
        }
    }

    /// The answer of a confirm prompt: yes is `true`.
    pub fn confirm(&self) -> Result<bool, BotError> {
        match &self.value {
            Some(Value::Bool(b)) => Ok(*b),
            _ => Err(self.kind_error("yes/no")),
        }
    }

    /// The answer of a choice prompt: which choice, by index and text.
    pub fn choice(&self) -> Result<Choice, BotError> {
        self.value
            .as_ref()
            .and_then(Choice::from_value)
            .ok_or_else(|| self.kind_error("choice"))
    }

    /// The value as the author's type (a child dialog's result, begin arguments, `next_with`).
    pub fn value<T: DeserializeOwned>(&self) -> Result<T, BotError> {
        let v = self.value.clone().unwrap_or(Value::Null);
        serde_json::from_value(v).map_err(|e| BotError::StateType {
            what: "a dialog result",
            type_name: std::any::type_name::<T>(),
            reason: e.to_string(),
        })
    }

    /// The value as text, if it is text (for handlers that accept anything).
    pub fn as_str(&self) -> Option<&str> {
        self.value.as_ref()?.as_str()
    }

    /// Whether the child completed.
    pub fn is_completed(&self) -> bool {
        self.reason == ResumeReason::Completed
    }
}

/// The answer of a choice prompt (stored as v3's `{index, entity, score}`).
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// The position of the choice in the prompt's list, from 0.
    pub index: usize,
    /// The choice's text.
    pub value: String,
    /// How sure the recognizer was (1.0 for an exact match).
    pub score: f64,
}

impl Choice {
    fn from_value(v: &Value) -> Option<Self> {
        Some(Self {
            index: usize::try_from(v.get("index")?.as_u64()?).ok()?,
            value: v.get("entity")?.as_str()?.to_owned(),
            score: v.get("score").and_then(Value::as_f64).unwrap_or(1.0),
        })
    }
}
