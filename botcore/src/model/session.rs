//! [`Session`]: one turn of a conversation.
//!
//! Everything a dialog does through the session is buffered: messages are sent after the
//! turn's state is saved, and stack operations are carried out by the driver after the
//! handler returns.

use crate::contracts::address::Address;
use crate::contracts::clock::Clock;
use crate::contracts::error::BotError;
use crate::contracts::message::{Message, MessageKind};
use crate::model::effects::{Effects, StackOp};
use crate::model::job::{JobAction, job_write_op};
use crate::model::localize::Localizer;
use crate::model::result::DialogResult;
use crate::model::state::{Bag, Frame, PREFERRED_LOCALE};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// One turn: the incoming message, the state bags, the dialog stack and the buffered effects.
pub struct Session {
    pub(crate) env: Arc<SessionEnv>,
    pub(crate) message: Arc<Message>,
    pub(crate) user: Bag,
    pub(crate) conversation: Bag,
    pub(crate) private: Bag,
    pub(crate) stack: Vec<Frame>,
    pub(crate) effects: Effects,
    pub(crate) scratch: Map<String, Value>,
    pub(crate) proactive: bool,
    pub(crate) last_access: u64,
}

/// Resolves dialog ids (implemented by the bot's dialog registry): lets a session check the
/// ids a handler names without knowing the dialogs themselves.
pub(crate) trait ResolveId: Send + Sync {
    /// The qualified id `id` names, seen from the dialog `top`.
    fn resolve<'a>(&'a self, id: &str, top: Option<&str>) -> Result<&'a str, BotError>;
}

/// What a session needs from its bot: id resolution, strings, time.
pub(crate) struct SessionEnv {
    pub(crate) ids: Arc<dyn ResolveId>,
    pub(crate) localizer: Localizer,
    pub(crate) clock: Arc<dyn Clock>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("address", &self.message.address)
            .field(
                "stack",
                &self.stack.iter().map(|f| f.id.as_str()).collect::<Vec<_>>(),
            )
            .field("outbox", &self.effects.outbox.len())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The message that started this turn (for a proactive turn: an empty message carrying
    /// the address).
    pub fn message(&self) -> &Message {
        &self.message
    }

    /// The address replies go to.
    pub fn address(&self) -> &Address {
        &self.message.address
    }

    /// Queues a message. A `&str`/`String` becomes a reply to the incoming message, localized
    /// through the bot's [`Localizer`](crate::Localizer) in the user's preferred locale; a
    /// [`Message`] without an address goes to the same place.
    pub fn send(&mut self, message: impl Into<Message>) {
        let mut m = message.into();
        if m.address.channel_id.is_empty() {
            m.address = self.message.address.clone();
        }
        if !m.text.is_empty()
            && let Cow::Owned(t) = self.localize(&m.text)
        {
            m.text = t;
        }
        if m.locale.is_none() {
            m.locale = self.preferred_locale_opt().map(str::to_owned);
        }
        self.effects.outbox.push(m);
    }

    /// Queues a typing indicator.
    pub fn send_typing(&mut self) {
        self.effects
            .outbox
            .push(Message::of_kind(MessageKind::Typing, &self.message.address));
    }

    /// User data: shared by every conversation of this user.
    pub fn user_data(&self) -> &Map<String, Value> {
        &self.user.data
    }

    /// User data, for changing.
    pub fn user_data_mut(&mut self) -> &mut Map<String, Value> {
        self.user.dirty = true;
        &mut self.user.data
    }

    /// Conversation data: shared by every user of this conversation.
    pub fn conversation_data(&self) -> &Map<String, Value> {
        &self.conversation.data
    }

    /// Conversation data, for changing.
    pub fn conversation_data_mut(&mut self) -> &mut Map<String, Value> {
        self.conversation.dirty = true;
        &mut self.conversation.data
    }

    /// Private conversation data: this user in this conversation.
    pub fn private_conversation_data(&self) -> &Map<String, Value> {
        &self.private.data
    }

    /// Private conversation data, for changing.
    pub fn private_conversation_data_mut(&mut self) -> &mut Map<String, Value> {
        self.private.dirty = true;
        &mut self.private.data
    }

    /// The data of the dialog on top of the stack (an empty scratch map when the stack is empty).
    pub fn dialog_data(&self) -> &Map<String, Value> {
        self.stack.last().map(|f| &f.state).unwrap_or(&self.scratch)
    }

    /// The data of the dialog on top of the stack, for changing.
    pub fn dialog_data_mut(&mut self) -> &mut Map<String, Value> {
        match self.stack.last_mut() {
            Some(f) => &mut f.state,
            None => &mut self.scratch,
        }
    }

    /// The dialog stack, bottom first.
    pub fn stack(&self) -> &[Frame] {
        &self.stack
    }

    /// The id of the dialog on top, if any.
    pub fn current_dialog(&self) -> Option<&str> {
        self.stack.last().map(|f| f.id.as_str())
    }

    fn queue(&mut self, op: StackOp) {
        self.effects.queue(op);
    }

    /// Resolves `id` against the dialog on top (unqualified ids use its library, then `*`).
    fn resolve(&self, id: &str) -> Result<String, BotError> {
        self.env
            .ids
            .resolve(id, self.current_dialog())
            .map(str::to_owned)
    }

    /// Begins the dialog `id` on top of the current one. The current dialog is resumed with the
    /// child's result when it ends. Unknown ids return [`BotError::DialogNotFound`] and queue nothing.
    pub fn begin_dialog(&mut self, id: &str, args: Option<Value>) -> Result<(), BotError> {
        let id = self.resolve(id)?;
        self.queue(StackOp::Begin { id, args });
        Ok(())
    }

    /// Ends the current dialog and begins `id` in its place; the parent is not resumed in between.
    pub fn replace_dialog(&mut self, id: &str, args: Option<Value>) -> Result<(), BotError> {
        let id = self.resolve(id)?;
        self.queue(StackOp::Replace { id, args });
        Ok(())
    }

    /// Ends the current dialog; the parent resumes with a completed result and no value.
    pub fn end_dialog(&mut self) {
        self.queue(StackOp::End(DialogResult::default()));
    }

    /// Ends the current dialog, handing `result` to the parent.
    pub fn end_dialog_with_result(&mut self, result: DialogResult) {
        self.queue(StackOp::End(result));
    }

    /// Resumes the current dialog with `value` (a waterfall moves to its next step: v3 `next()`).
    pub fn next(&mut self, value: Option<Value>) {
        self.queue(StackOp::Resume(DialogResult::completed(value)));
    }

    /// Resumes the current dialog with a result of any reason (e.g. [`ResumeReason::Back`](crate::ResumeReason::Back)).
    pub fn resume_with(&mut self, result: DialogResult) {
        self.queue(StackOp::Resume(result));
    }

    /// Cancels the current dialog (or, with `id`, the newest frame with that id and everything
    /// above it); the parent resumes with [`ResumeReason::Canceled`](crate::ResumeReason::Canceled).
    pub fn cancel_dialog(&mut self, id: Option<&str>) -> Result<(), BotError> {
        let id = id.map(|i| self.resolve(i)).transpose()?;
        self.queue(StackOp::Cancel { id, then: None });
        Ok(())
    }

    /// Cancels like [`cancel_dialog`](Self::cancel_dialog), then begins `replace_with` in place
    /// of the canceled frames instead of resuming the parent.
    pub fn cancel_and_begin(
        &mut self,
        id: Option<&str>,
        replace_with: &str,
        args: Option<Value>,
    ) -> Result<(), BotError> {
        let id = id.map(|i| self.resolve(i)).transpose()?;
        let with = self.resolve(replace_with)?;
        self.queue(StackOp::Cancel {
            id,
            then: Some((with, args)),
        });
        Ok(())
    }

    /// Sends `text` (if any) and an endOfConversation (`completedSuccessfully`), clears the stack,
    /// conversation data and private conversation data. User data is kept.
    pub fn end_conversation(&mut self, text: Option<&str>) {
        if let Some(t) = text {
            self.send(t);
        }
        self.queue(StackOp::EndConversation {
            code: "completedSuccessfully",
        });
    }

    /// Clears the stack and begins `id` (default: the root dialog `*:/`).
    pub fn reset(&mut self, id: Option<&str>, args: Option<Value>) -> Result<(), BotError> {
        let id = id.map(|i| self.resolve(i)).transpose()?;
        self.queue(StackOp::Reset { id, args });
        Ok(())
    }

    fn preferred_locale_opt(&self) -> Option<&str> {
        self.user
            .data
            .get(PREFERRED_LOCALE)
            .and_then(Value::as_str)
            .or(self.message.locale.as_deref())
            .or(self.message.address.locale.as_deref())
    }

    /// The user's preferred locale: the stored preference, else the message's locale, else the
    /// localizer's default.
    pub fn preferred_locale(&self) -> &str {
        self.preferred_locale_opt()
            .unwrap_or_else(|| self.env.localizer.default_locale())
    }

    /// Stores the user's preferred locale (in user data, v3 key `BotBuilder.Data.PreferredLocale`).
    pub fn set_preferred_locale(&mut self, locale: &str) {
        self.user_data_mut()
            .insert(PREFERRED_LOCALE.into(), Value::String(locale.into()));
    }

    /// Looks `key` up in the user's preferred locale (fallback `es-MX → es → default → key`).
    pub fn localize<'a>(&self, key: &'a str) -> Cow<'a, str> {
        match self.env.localizer.lookup(self.preferred_locale(), key) {
            Some(s) => Cow::Owned(s.to_owned()),
            None => Cow::Borrowed(key),
        }
    }

    /// When the conversation had its previous turn (ms since the Unix epoch; 0 if never).
    pub fn last_access(&self) -> u64 {
        self.last_access
    }

    /// Schedules `action` for this user `delay` from now and returns the job's id (for
    /// [`Bot::cancel_scheduled`](crate::Bot::cancel_scheduled)). The job is saved atomically
    /// with the turn's state: if the turn is not saved, nothing is scheduled.
    pub fn schedule_in(&mut self, delay: Duration, action: JobAction) -> Result<String, BotError> {
        let delay = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let at = self.env.clock.now_ms().saturating_add(delay);
        self.schedule_at(at, action)
    }

    /// Schedules `action` for this user at `at_ms` (ms since the Unix epoch); see
    /// [`schedule_in`](Self::schedule_in).
    pub fn schedule_at(&mut self, at_ms: u64, action: JobAction) -> Result<String, BotError> {
        let address = self.message.address.without_reply();
        let now = self.env.clock.now_ms();
        let (id, op) = job_write_op(now, at_ms, &address, action, None)?;
        self.effects.scheduled.push(op);
        Ok(id)
    }

    /// The time now, by the bot's clock (ms since the Unix epoch).
    pub fn now_ms(&self) -> u64 {
        self.env.clock.now_ms()
    }

    /// Whether this turn was started by the bot (a proactive dialog) rather than a user message.
    pub fn is_proactive(&self) -> bool {
        self.proactive
    }
}
