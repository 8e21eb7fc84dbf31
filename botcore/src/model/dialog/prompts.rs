//! Prompts: text, number, confirm and choice, with v3's retry behaviour and default texts.
//!
//! A prompt is a dialog (`BotBuilder:prompt-text`, `-number`, `-confirm`, `-choice`) whose
//! answer is handed to the dialog that began it. A bad answer re-sends the retry prompt (the
//! custom one, or the localized system text); after `max_retries` bad answers the prompt ends
//! as [`ResumeReason::NotCompleted`]. When a proactive interruption ends, a prompt re-sends its
//! prompt — or its retry text if it had already been answered badly — unless it was created
//! with [`Prompt::no_reprompt_after_interrupt`].
//!
//! ```
//! use botcore::{prompts, Prompt, Waterfall};
//! let order = Waterfall::new()
//!     .step(|s, _| prompts::number(s, "How many coffees?"))
//!     .step(|s, r| Prompt::choice("Which size?", ["small", "medium", "large"]).max_retries(2).begin(s))
//!     .step(|s, r| { s.end_dialog(); Ok(()) });
//! # let _ = order;
//! ```

use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::model::dialog::Dialog;
use crate::model::result::{DialogResult, ResumeReason};
use crate::model::session::Session;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The library the built-in prompts live in.
pub const LIBRARY: &str = "BotBuilder";

/// The kind of answer a prompt waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PromptKind {
    /// Any text.
    Text,
    /// A number.
    Number,
    /// Yes or no.
    Confirm,
    /// One of a list of choices.
    Choice,
}

impl PromptKind {
    /// The qualified dialog id of this prompt.
    pub fn dialog_id(self) -> &'static str {
        match self {
            Self::Text => "BotBuilder:prompt-text",
            Self::Number => "BotBuilder:prompt-number",
            Self::Confirm => "BotBuilder:prompt-confirm",
            Self::Choice => "BotBuilder:prompt-choice",
        }
    }

    fn retry_key(self) -> &'static str {
        match self {
            Self::Text => "BotBuilder:text_retry",
            Self::Number => "BotBuilder:number_retry",
            Self::Confirm => "BotBuilder:confirm_retry",
            Self::Choice => "BotBuilder:choice_retry",
        }
    }
}

/// A prompt's options; stored in the prompt's frame so it survives between turns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Prompt {
    /// What to wait for.
    pub kind: PromptKind,
    /// The prompt text (a localization key or literal text).
    pub prompt: String,
    /// A custom retry text, instead of the system one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_prompt: Option<String>,
    /// Bad answers allowed before ending as not completed (`None`: ask forever, as v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// The choices of a choice prompt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    /// Stay silent when resumed after a proactive interruption.
    #[serde(default)]
    pub no_reprompt_after_interrupt: bool,
}

impl Prompt {
    fn new(kind: PromptKind, prompt: impl Into<String>) -> Self {
        Self {
            kind,
            prompt: prompt.into(),
            retry_prompt: None,
            max_retries: None,
            choices: Vec::new(),
            no_reprompt_after_interrupt: false,
        }
    }

    /// A prompt for any text.
    pub fn text(prompt: impl Into<String>) -> Self {
        Self::new(PromptKind::Text, prompt)
    }

    /// A prompt for a number.
    pub fn number(prompt: impl Into<String>) -> Self {
        Self::new(PromptKind::Number, prompt)
    }

    /// A yes/no prompt.
    pub fn confirm(prompt: impl Into<String>) -> Self {
        Self::new(PromptKind::Confirm, prompt)
    }

    /// A prompt for one of `choices`.
    pub fn choice<I, S>(prompt: impl Into<String>, choices: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut p = Self::new(PromptKind::Choice, prompt);
        p.choices = choices.into_iter().map(Into::into).collect();
        p
    }

    /// Sets a custom retry text.
    pub fn retry_prompt(mut self, text: impl Into<String>) -> Self {
        self.retry_prompt = Some(text.into());
        self
    }

    /// Ends the prompt as not completed after `n` bad answers.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }

    /// Don't re-send the prompt when resumed after a proactive interruption.
    pub fn no_reprompt_after_interrupt(mut self) -> Self {
        self.no_reprompt_after_interrupt = true;
        self
    }

    /// Begins the prompt on top of the current dialog.
    pub fn begin(self, session: &mut Session) -> Result<(), BotError> {
        let args = serde_json::to_value(&self).map_err(BotError::dialog)?;
        session.begin_dialog(self.kind.dialog_id(), Some(args))
    }
}

/// Asks for any text.
pub fn text(session: &mut Session, prompt: &str) -> Result<(), BotError> {
    Prompt::text(prompt).begin(session)
}

/// Asks for a number.
pub fn number(session: &mut Session, prompt: &str) -> Result<(), BotError> {
    Prompt::number(prompt).begin(session)
}

/// Asks yes or no.
pub fn confirm(session: &mut Session, prompt: &str) -> Result<(), BotError> {
    Prompt::confirm(prompt).begin(session)
}

/// Asks for one of `choices`.
pub fn choice(session: &mut Session, prompt: &str, choices: &[&str]) -> Result<(), BotError> {
    Prompt::choice(prompt, choices.iter().copied()).begin(session)
}

const OPTIONS: &str = "options";
const TURNS: &str = "turns";
const RETRIED: &str = "retried";

/// The dialog behind each prompt kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PromptDialog(pub(crate) PromptKind);

fn options(session: &Session) -> Result<Prompt, BotError> {
    let v = session
        .dialog_data()
        .get(OPTIONS)
        .cloned()
        .unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| BotError::CorruptState(format!("prompt options: {e}")))
}

fn render_choices(session: &Session, text: &str, choices: &[String]) -> String {
    if choices.is_empty() {
        return text.to_owned();
    }
    if choices.len() <= 3 {
        let or = session.localize("BotBuilder:list_or");
        let items: Vec<String> = choices
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{}. {c}", i + 1))
            .collect();
        let list = match items.as_slice() {
            [one] => one.clone(),
            [a, b] => format!("{a}{or}{b}"),
            [init @ .., last] => format!("{},{or}{last}", init.join(", ")),
            [] => String::new(),
        };
        format!("{text} ({list})")
    } else {
        let mut s = text.to_owned();
        for (i, c) in choices.iter().enumerate() {
            s.push_str(&format!("\n   {}. {}", i + 1, c));
        }
        s
    }
}

fn send_prompt(session: &mut Session, opts: &Prompt, retry: bool) {
    let base = if retry {
        match &opts.retry_prompt {
            Some(r) => session.localize(r).into_owned(),
            None => session.localize(opts.kind.retry_key()).into_owned(),
        }
    } else {
        session.localize(&opts.prompt).into_owned()
    };
    let text = render_choices(session, &base, &opts.choices);
    let mut m = Message::to(session.address())
        .text(text)
        .input_hint("expectingInput");
    m.locale = Some(session.preferred_locale().to_owned());
    session.effects.outbox.push(m);
}

fn recognize(session: &Session, opts: &Prompt) -> Option<Value> {
    let text = session.message().text.trim();
    match opts.kind {
        PromptKind::Text => (!text.is_empty()).then(|| Value::String(text.to_owned())),
        PromptKind::Number => parse_number(text),
        PromptKind::Confirm => parse_confirm(session, text).map(Value::Bool),
        PromptKind::Choice => parse_choice(text, &opts.choices),
    }
}

const NUMBER_WORDS: &[&str] = &[
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve",
];

/// Finds the first number in `text` (digits, or an English number word up to twelve).
pub fn parse_number(text: &str) -> Option<Value> {
    text.split_whitespace().find_map(|w| {
        let w = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-');
        if let Ok(i) = w.parse::<i64>() {
            return Some(Value::from(i));
        }
        if let Ok(f) = w.parse::<f64>()
            && f.is_finite()
        {
            return Some(json!(f));
        }
        let lower = w.to_ascii_lowercase();
        NUMBER_WORDS
            .iter()
            .position(|n| *n == lower)
            .map(|i| Value::from(i as i64))
    })
}

fn parse_confirm(session: &Session, text: &str) -> Option<bool> {
    let t = text.trim_end_matches(['.', '!']).to_lowercase();
    if t == session.localize("BotBuilder:confirm_yes").to_lowercase() {
        return Some(true);
    }
    if t == session.localize("BotBuilder:confirm_no").to_lowercase() {
        return Some(false);
    }
    match t.as_str() {
        "yes" | "y" | "yep" | "yeah" | "sure" | "ok" | "okay" | "true" | "1" => Some(true),
        "no" | "n" | "nope" | "nah" | "false" | "2" => Some(false),
        _ => None,
    }
}

fn parse_choice(text: &str, choices: &[String]) -> Option<Value> {
    let t = text.to_lowercase();
    let found = choices
        .iter()
        .position(|c| c.to_lowercase() == t)
        .or_else(|| {
            t.parse::<usize>()
                .ok()
                .filter(|n| (1..=choices.len()).contains(n))
                .map(|n| n - 1)
        })
        .or_else(|| {
            let hits: Vec<usize> = choices
                .iter()
                .enumerate()
                .filter(|(_, c)| {
                    !t.is_empty()
                        && !c.is_empty()
                        && (c.to_lowercase().contains(&t) || t.contains(&c.to_lowercase()))
                })
                .map(|(i, _)| i)
                .collect();
            (hits.len() == 1).then(|| hits[0])
        })?;
    Some(json!({ "index": found, "entity": choices[found], "score": 1.0 }))
}

#[async_trait]
impl Dialog for PromptDialog {
    async fn begin(&self, session: &mut Session, args: Option<Value>) -> Result<(), BotError> {
        let opts: Prompt = match args {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| BotError::dialog(format!("bad prompt options: {e}")))?,
            None => {
                return Err(BotError::dialog(
                    "a prompt was begun without options: use Prompt::text(..).begin(session) or prompts::text",
                ));
            }
        };
        if opts.kind != self.0 {
            return Err(BotError::dialog(format!(
                "{} begun with options for a {:?} prompt",
                self.0.dialog_id(),
                opts.kind
            )));
        }
        send_prompt(session, &opts, false);
        let data = session.dialog_data_mut();
        data.insert(
            OPTIONS.into(),
            serde_json::to_value(&opts).map_err(BotError::dialog)?,
        );
        data.insert(TURNS.into(), Value::from(0));
        Ok(())
    }

    async fn reply_received(&self, session: &mut Session) -> Result<(), BotError> {
        let opts = options(session)?;
        if let Some(value) = recognize(session, &opts) {
            session.end_dialog_with_result(DialogResult::completed(value));
            return Ok(());
        }
        let turns = session
            .dialog_data()
            .get(TURNS)
            .and_then(Value::as_u64)
            .unwrap_or(0)
            + 1;
        if opts.max_retries.is_some_and(|max| turns > u64::from(max)) {
            session.end_dialog_with_result(DialogResult::with_reason(ResumeReason::NotCompleted));
            return Ok(());
        }
        let data = session.dialog_data_mut();
        data.insert(TURNS.into(), Value::from(turns));
        data.insert(RETRIED.into(), Value::Bool(true));
        send_prompt(session, &opts, true);
        Ok(())
    }

    async fn dialog_resumed(
        &self,
        session: &mut Session,
        _result: DialogResult,
    ) -> Result<(), BotError> {
        let opts = options(session)?;
        if !opts.no_reprompt_after_interrupt {
            let retried = session
                .dialog_data()
                .get(RETRIED)
                .and_then(Value::as_bool)
                .unwrap_or(false);
            send_prompt(session, &opts, retried);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_found_in_text() {
        assert_eq!(parse_number("3"), Some(json!(3)));
        assert_eq!(parse_number("I want 2.5 cups"), Some(json!(2.5)));
        assert_eq!(parse_number("three"), Some(json!(3)));
        assert_eq!(parse_number("lots"), None);
    }

    #[test]
    fn choices_match_by_text_index_and_part() {
        let c = vec!["red".to_owned(), "green".to_owned(), "blue".to_owned()];
        assert_eq!(parse_choice("Green", &c).unwrap()["index"], 1);
        assert_eq!(parse_choice("3", &c).unwrap()["entity"], "blue");
        assert_eq!(parse_choice("gre", &c).unwrap()["index"], 1);
        assert_eq!(parse_choice("purple", &c), None);
        assert_eq!(parse_choice("4", &c), None);
        let with_empty = vec![String::new(), "yes".to_owned()];
        assert_eq!(
            parse_choice("anything", &with_empty),
            None,
            "an empty choice matches nothing"
        );
    }
}
