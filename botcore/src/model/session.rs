//! [`Session`]: one turn of a conversation.
//!
//! Everything a dialog does through the session is buffered: messages are sent after the
//! turn's state is saved, and stack operations are carried out by the driver after the
//! handler returns.

use crate::contracts::address::Address;
use crate::contracts::clock::Clock;
use crate::contracts::error::BotError;
use crate::contracts::message::{Message, MessageKind};
use crate::model::data::{Data, DataMut};
use crate::model::effects::Effects;
use crate::model::job::{JobAction, job_write_op};
use crate::model::localize::Localizer;
use crate::model::state::{Bag, Frame, PREFERRED_LOCALE};
use serde_json::Value;
use std::any::{Any, TypeId};
use std::borrow::Cow;
use std::collections::HashMap;
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
    pub(crate) proactive: bool,
    pub(crate) last_access: u64,
    /// The stored session-state `version` (the bot-wide dialog version, as in v3).
    pub(crate) state_version: f64,
}

/// Resolves dialog ids (implemented by the bot's dialog registry): lets a session check the
/// ids a handler names without knowing the dialogs themselves.
pub(crate) trait ResolveId: Send + Sync {
    /// The qualified id `id` names, seen from the dialog `top`.
    fn resolve<'a>(&'a self, id: &str, top: Option<&str>) -> Result<&'a str, BotError>;
}

/// What a session needs from its bot: id resolution, strings, time, the app's shared data.
pub(crate) struct SessionEnv {
    pub(crate) ids: Arc<dyn ResolveId>,
    pub(crate) localizer: Localizer,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) app_data: AppData,
}

/// Values the app shares with every step (a database pool, settings), by type.
pub(crate) type AppData = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

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

    /// The value of type `T` the bot was built with
    /// ([`BotBuilder::app_data`](crate::BotBuilder::app_data)): how steps reach shared
    /// things such as a database pool or settings.
    ///
    /// ```
    /// # use botcore::{Bot, Waterfall};
    /// struct Settings { greeting: String }
    /// let bot = Bot::builder()
    ///     .app_data(Settings { greeting: "Welcome!".into() })
    ///     .dialog_fn("/", async |s, _| -> Result<(), botcore::StepError> {
    ///         let settings = s.app_data::<Settings>()?;
    ///         s.send(settings.greeting.as_str());
    ///         s.end_dialog();
    ///         Ok(())
    ///     });
    /// ```
    pub fn app_data<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, BotError> {
        self.env
            .app_data
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
            .ok_or(BotError::Config(
                "no app data of the type asked for: add it with BotBuilder::app_data",
            ))
    }

    /// The text of the incoming message.
    pub fn text(&self) -> &str {
        &self.message.text
    }

    /// User data: shared by every conversation of this user.
    ///
    /// ```
    /// # use botcore::Session;
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct Profile { name: String }
    /// # fn f(s: &mut Session) -> Result<(), botcore::BotError> {
    /// let profile: Profile = s.user_data().get()?;
    /// s.user_data_mut().set(&Profile { name: "Ann".into() })?;
    /// # Ok(()) }
    /// ```
    pub fn user_data(&self) -> Data<'_> {
        Data {
            what: "user data",
            map: Some(&self.user.data),
        }
    }

    /// User data, for changing.
    pub fn user_data_mut(&mut self) -> DataMut<'_> {
        DataMut {
            what: "user data",
            map: Some(&mut self.user.data),
            dirty: Some(&mut self.user.dirty),
        }
    }

    /// Conversation data: shared by every user of this conversation.
    pub fn conversation_data(&self) -> Data<'_> {
        Data {
            what: "conversation data",
            map: Some(&self.conversation.data),
        }
    }

    /// Conversation data, for changing.
    pub fn conversation_data_mut(&mut self) -> DataMut<'_> {
        DataMut {
            what: "conversation data",
            map: Some(&mut self.conversation.data),
            dirty: Some(&mut self.conversation.dirty),
        }
    }

    /// Private conversation data: this user in this conversation.
    pub fn private_conversation_data(&self) -> Data<'_> {
        Data {
            what: "private conversation data",
            map: Some(&self.private.data),
        }
    }

    /// Private conversation data, for changing.
    pub fn private_conversation_data_mut(&mut self) -> DataMut<'_> {
        DataMut {
            what: "private conversation data",
            map: Some(&mut self.private.data),
            dirty: Some(&mut self.private.dirty),
        }
    }

    /// The data of the dialog on top of the stack (empty when the stack is empty).
    pub fn dialog_data(&self) -> Data<'_> {
        Data {
            what: "dialog data",
            map: self.stack.last().map(|f| &f.state),
        }
    }

    /// The data of the dialog on top of the stack, for changing. With no dialog on the stack,
    /// writes are a [`BotError::NoActiveDialog`] rather than lost.
    pub fn dialog_data_mut(&mut self) -> DataMut<'_> {
        DataMut {
            what: "dialog data",
            map: self.stack.last_mut().map(|f| &mut f.state),
            dirty: None,
        }
    }

    /// The dialog stack, bottom first (ids and raw data, for inspection and tests).
    pub fn stack(&self) -> &[Frame] {
        &self.stack
    }

    /// The id of the dialog on top, if any.
    pub fn current_dialog(&self) -> Option<&str> {
        self.stack.last().map(|f| f.id.as_str())
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
        self.user.dirty = true;
        self.user
            .data
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
    /// [`Scheduler::cancel`](crate::proactive::scheduler::Scheduler::cancel)). The job is saved atomically
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
        let (id, op) = job_write_op(at_ms, &address, action, None)?;
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
