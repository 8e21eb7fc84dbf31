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
use crate::model::dialog::recognize::{parse_choice, parse_confirm};
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
        // v3's list style: a blank line, then one numbered choice per line.
        let mut s = format!("{text}\n");
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
