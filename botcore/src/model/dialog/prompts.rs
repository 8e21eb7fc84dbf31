//! Prompts: text, number, confirm, choice, time and attachment, with v3's retry behaviour and
//! default texts.
//!
//! A prompt is a dialog (`BotBuilder:prompt-text`, `-number`, `-confirm`, `-choice`, `-time`,
//! `-attachment`) whose answer is handed to the dialog that began it. A bad answer re-sends the retry prompt (the
//! custom one, or the localized system text); after `max_retries` bad answers the prompt ends
//! as [`ResumeReason::NotCompleted`]. When a proactive interruption ends, a prompt re-sends its
//! prompt — or its retry text if it had already been answered badly — unless it was created
//! with [`Prompt::no_reprompt_after_interrupt`].
//!
//! Choices (and a confirm prompt's yes / no) are shown in the prompt's [`ListStyle`]: by
//! default as buttons on channels that have them ([`ChannelCapabilities`](crate::ChannelCapabilities))
//! and as text elsewhere. A button sends its text, so pressing it answers like typing it. A
//! message with a `value` and no text (an Adaptive Card's `Action.Submit`) answers too: a text
//! prompt completes with the submitted JSON (read it with [`DialogResult::value`]), the
//! others read a submitted string as if typed.
//!
//! ```
//! use botcore::{prompts, Prompt, Waterfall};
//! let order = Waterfall::new()
//!     .step(async |s, _| prompts::number(s, "How many coffees?"))
//!     .step(async |s, _| Prompt::choice("Which size?", ["small", "medium", "large"]).max_retries(2).begin(s))
//!     .step(async |s, r| {
//!         let size = r.choice()?;
//!         s.send(format!("A {} one.", size.value));
//!         s.end_dialog();
//!         Ok(())
//!     });
//! # let _ = order;
//! ```

use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::model::dialog::Dialog;
use crate::model::dialog::attachment_prompt::recognize_attachments;
pub use crate::model::dialog::list_style::ListStyle;
use crate::model::dialog::list_style::render;
use crate::model::dialog::recognize::{parse_choice, parse_confirm};
use crate::model::dialog::time_prompt::time_value;
pub use crate::model::dialog::time_prompt::{parse_time, user_time_zone};
use crate::model::result::{DialogResult, ResumeReason};
use crate::model::session::Session;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    /// A date and time.
    Time,
    /// One or more files.
    Attachment,
}

impl PromptKind {
    /// The qualified dialog id of this prompt.
    pub fn dialog_id(self) -> &'static str {
        match self {
            Self::Text => "BotBuilder:prompt-text",
            Self::Number => "BotBuilder:prompt-number",
            Self::Confirm => "BotBuilder:prompt-confirm",
            Self::Choice => "BotBuilder:prompt-choice",
            Self::Time => "BotBuilder:prompt-time",
            Self::Attachment => "BotBuilder:prompt-attachment",
        }
    }

    fn retry_key(self) -> &'static str {
        match self {
            Self::Text => "BotBuilder:text_retry",
            Self::Number => "BotBuilder:number_retry",
            Self::Confirm => "BotBuilder:confirm_retry",
            Self::Choice => "BotBuilder:choice_retry",
            Self::Time => "BotBuilder:time_retry",
            Self::Attachment => "BotBuilder:attachment_retry",
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
    /// How the choices (or a confirm prompt's yes / no) are shown.
    #[serde(default, skip_serializing_if = "ListStyle::is_auto")]
    pub list_style: ListStyle,
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
            list_style: ListStyle::Auto,
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

    /// A prompt for a date and time; the next step reads it with [`DialogResult::time`].
    pub fn time(prompt: impl Into<String>) -> Self {
        Self::new(PromptKind::Time, prompt)
    }

    /// A prompt for files; the next step reads them with [`DialogResult::attachments`].
    pub fn attachment(prompt: impl Into<String>) -> Self {
        Self::new(PromptKind::Attachment, prompt)
    }

    /// Sets how the choices are shown (default [`ListStyle::Auto`]).
    pub fn list_style(mut self, style: ListStyle) -> Self {
        self.list_style = style;
        self
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

    /// Begins the prompt on top of the current dialog; the answer goes to the next step of
    /// the dialog that began it.
    pub fn begin(self, session: &mut Session) {
        session.begin_dialog_with(self.kind.dialog_id(), &self);
    }
}

/// Asks for any text; the next step reads it with [`DialogResult::text`].
pub fn text(session: &mut Session, prompt: &str) {
    Prompt::text(prompt).begin(session)
}

/// Asks for a number; the next step reads it with [`DialogResult::number`].
pub fn number(session: &mut Session, prompt: &str) {
    Prompt::number(prompt).begin(session)
}

/// Asks yes or no; the next step reads it with [`DialogResult::confirm`].
pub fn confirm(session: &mut Session, prompt: &str) {
    Prompt::confirm(prompt).begin(session)
}

/// Asks for one of `choices`; the next step reads it with [`DialogResult::choice`].
pub fn choice(session: &mut Session, prompt: &str, choices: &[&str]) {
    Prompt::choice(prompt, choices.iter().copied()).begin(session)
}

/// Asks for a date and time; the next step reads it with [`DialogResult::time`].
pub fn time(session: &mut Session, prompt: &str) {
    Prompt::time(prompt).begin(session)
}

/// Asks for files; the next step reads them with [`DialogResult::attachments`].
pub fn attachment(session: &mut Session, prompt: &str) {
    Prompt::attachment(prompt).begin(session)
}

pub use crate::model::dialog::recognize::parse_number;

const OPTIONS: &str = "options";
const TURNS: &str = "turns";
const RETRIED: &str = "retried";

/// The dialog behind each prompt kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PromptDialog(pub(crate) PromptKind);

fn state(session: &Session, key: &str) -> Option<Value> {
    session.stack.last()?.state.get(key).cloned()
}

fn set_state(session: &mut Session, key: &str, value: Value) {
    if let Some(frame) = session.stack.last_mut() {
        frame.state.insert(key.into(), value);
    }
}

fn options(session: &Session) -> Result<Prompt, BotError> {
    let v = state(session, OPTIONS).unwrap_or(Value::Null);
    serde_json::from_value(v).map_err(|e| BotError::CorruptState(format!("prompt options: {e}")))
}

fn send_prompt(session: &mut Session, opts: &Prompt, retry: bool) {
    let base = match (&opts.retry_prompt, retry) {
        (Some(r), true) => session.localize(r).into_owned(),
        (None, true) => session.localize(opts.kind.retry_key()).into_owned(),
        (_, false) => session.localize(&opts.prompt).into_owned(),
    };
    let mut m = match opts.kind {
        PromptKind::Confirm => {
            let yes_no = [
                session.localize("BotBuilder:confirm_yes").into_owned(),
                session.localize("BotBuilder:confirm_no").into_owned(),
            ];
            render(session, &base, &yes_no, opts.list_style, false)
        }
        _ => render(session, &base, &opts.choices, opts.list_style, true),
    }
    .input_hint("expectingInput");
    m.locale = Some(session.preferred_locale().to_owned());
    session.effects.outbox.push(m);
}

/// The text of the answer: the message's text, or a string submitted as its `value`.
fn answer_text(message: &Message) -> &str {
    match (message.text.trim(), &message.value) {
        ("", Some(Value::String(v))) => v.trim(),
        (text, _) => text,
    }
}

fn recognize(session: &Session, opts: &Prompt) -> Option<Value> {
    let message = session.message();
    let text = answer_text(message);
    match opts.kind {
        PromptKind::Text if text.is_empty() => message.value.clone().filter(|v| !v.is_null()),
        PromptKind::Text => Some(Value::String(text.to_owned())),
        PromptKind::Number => match &message.value {
            Some(n @ Value::Number(_)) if message.text.trim().is_empty() => Some(n.clone()),
            _ => parse_number(text),
        },
        PromptKind::Confirm => parse_confirm(session, text).map(Value::Bool),
        PromptKind::Choice => parse_choice(text, &opts.choices),
        PromptKind::Time => {
            let now = jiff::Timestamp::from_millisecond(i64::try_from(session.now_ms()).ok()?)
                .ok()?
                .to_zoned(user_time_zone(message));
            parse_time(text, &now).map(|t| time_value(text, &t))
        }
        PromptKind::Attachment => recognize_attachments(message),
    }
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
        let stored = serde_json::to_value(&opts).map_err(BotError::dialog)?;
        set_state(session, OPTIONS, stored);
        set_state(session, TURNS, Value::from(0));
        Ok(())
    }

    async fn reply_received(&self, session: &mut Session) -> Result<(), BotError> {
        let opts = options(session)?;
        if let Some(value) = recognize(session, &opts) {
            session.end_dialog_with_result(DialogResult::completed(value));
            return Ok(());
        }
        let turns = state(session, TURNS).and_then(|v| v.as_u64()).unwrap_or(0) + 1;
        if opts.max_retries.is_some_and(|max| turns > u64::from(max)) {
            session.end_dialog_with_result(DialogResult::with_reason(ResumeReason::NotCompleted));
            return Ok(());
        }
        set_state(session, TURNS, Value::from(turns));
        set_state(session, RETRIED, Value::Bool(true));
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
            let retried = state(session, RETRIED)
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            send_prompt(session, &opts, retried);
        }
        Ok(())
    }
}
