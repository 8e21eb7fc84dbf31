//! [`BotBuilder`]: dialogs, backends, hooks and limits, put together into a [`Bot`].

use crate::contracts::clock::{Clock, SystemClock};
use crate::contracts::connector::Connector;
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::middleware::Middleware;
use crate::contracts::storage::Storage;
use crate::contracts::telemetry::BotMetrics;
use crate::engine::bot::Bot;
use crate::engine::config::{
    Config, DialogVersion, ErrorHook, EventAction, EventHook, MembersHooks, ProactiveRefusal,
    UnknownDialogPolicy,
};
use crate::engine::events::MembersChanged;
use crate::engine::locks::ConversationLocks;
use crate::engine::runtime::Runtime;
use crate::model::dialog::Dialog;
use crate::model::dialog::waterfall::{StepFn, Waterfall};
use crate::model::library::{Library, Registry};
use crate::model::localize::Localizer;
use crate::model::result::DialogResult;
use crate::model::session::Session;
use crate::model::session::{AppData, SessionEnv};
use crate::model::version::{FrameMut, MigrationError, VersionPolicy};
use std::fmt;
use std::sync::Arc;

/// Builds a [`Bot`].
pub struct BotBuilder {
    root: Library,
    storage: Option<Arc<dyn Storage>>,
    connector: Option<Arc<dyn Connector>>,
    clock: Arc<dyn Clock>,
    localizer: Localizer,
    middleware: Vec<Arc<dyn Middleware>>,
    on_error: Option<Arc<ErrorHook>>,
    on_event: Option<Arc<EventHook>>,
    members: MembersHooks,
    pub(crate) config: Config,
    app_data: AppData,
}

impl fmt::Debug for BotBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotBuilder")
            .field("root", &self.root)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Default for BotBuilder {
    fn default() -> Self {
        Self {
            root: Library::new("*"),
            storage: None,
            connector: None,
            clock: Arc::new(SystemClock),
            localizer: Localizer::default(),
            middleware: Vec::new(),
            on_error: None,
            on_event: None,
            members: MembersHooks::default(),
            app_data: AppData::default(),
            config: Config {
                root_dialog: "*:/".into(),
                max_stack_depth: 100,
                step_budget: 1_000,
                max_turn_attempts: 16,
                unknown_dialog: UnknownDialogPolicy::default(),
                version_policy: VersionPolicy::default(),
                dialog_version: None,
                error_message: "BotBuilder:default_error".into(),
                proactive_wait: std::time::Duration::from_secs(30),
                show_typing: None,
                dedupe_window: crate::engine::config::DEDUPE_WINDOW,
                outbox_lease: crate::engine::config::OUTBOX_LEASE,
                proactive_refusal: ProactiveRefusal::default(),
            },
        }
    }
}

impl BotBuilder {
    /// Registers a dialog in the bot's own library `*` (`"/"` is the root dialog).
    pub fn dialog(mut self, id: impl Into<String>, dialog: impl Dialog) -> Self {
        self.root = self.root.dialog(id, dialog);
        self
    }

    /// The version of the dialog registered last here (see [`Library::version`] and the
    /// guide [`deploying`](crate::guide::deploying)).
    pub fn version(mut self, version: u32) -> Self {
        self.root = self.root.version(version);
        self
    }

    /// A migration of the dialog registered last, `from` → `from + 1` ([`Library::migrate`]).
    pub fn migrate(
        mut self,
        from: u32,
        migration: impl Fn(&mut FrameMut<'_>) -> Result<(), MigrationError> + Send + Sync + 'static,
    ) -> Self {
        self.root = self.root.migrate(from, migration);
        self
    }

    /// Declares a former id of the dialog registered last (see [`Library::formerly`]).
    pub fn formerly(mut self, old_id: impl Into<String>) -> Self {
        self.root = self.root.formerly(old_id);
        self
    }

    /// The version policy of the dialog registered last ([`Library::on_version_mismatch`]).
    pub fn on_version_mismatch(mut self, policy: VersionPolicy) -> Self {
        self.root = self.root.on_version_mismatch(policy);
        self
    }

    /// The dialog data type of the dialog registered last ([`Library::state_type`]).
    pub fn state_type<T>(mut self) -> Self
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Default + 'static,
    {
        self.root = self.root.state_type::<T>();
        self
    }

    /// What happens to a stored frame that cannot be migrated to its dialog's version, for
    /// dialogs that declare no policy of their own (default: [`VersionPolicy::ResetStack`]
    /// with v3's error message).
    pub fn version_policy(mut self, policy: VersionPolicy) -> Self {
        self.config.version_policy = policy;
        self
    }

    /// The bot-wide version, v3's `dialogVersion` middleware (see [`DialogVersion`]).
    pub fn dialog_version(mut self, version: DialogVersion) -> Self {
        self.config.dialog_version = Some(version);
        self
    }

    /// Shares `value` with every step, by its type: read it with
    /// [`Session::app_data`]. (Steps are closures that cannot capture; this is how they reach
    /// a database pool, an HTTP client or settings.) Adding a second value of the same type
    /// replaces the first.
    pub fn app_data<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.app_data
            .insert(std::any::TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// [`app_data`](Self::app_data) for a value already in an `Arc` (one the app keeps a
    /// handle to as well).
    pub fn app_data_arc<T: Send + Sync + 'static>(mut self, value: Arc<T>) -> Self {
        self.app_data.insert(std::any::TypeId::of::<T>(), value);
        self
    }

    /// Registers a dialog that is one function, like v3's `bot.dialog('survey', function
    /// (session, args) {…})`: a one-step waterfall. It runs when begun (the result carries the
    /// begin arguments) and again on every reply until it ends itself.
    ///
    /// ```
    /// # let builder = botcore::Bot::builder();
    /// let builder = builder.dialog_fn("survey", async |s, _| {
    ///     if s.text() == "done" {
    ///         s.end_dialog();
    ///     } else {
    ///         s.send("Type done to go back.");
    ///     }
    /// });
    /// ```
    pub fn dialog_fn<F, O>(self, id: impl Into<String>, step: F) -> Self
    where
        F: AsyncFn(&mut Session, DialogResult) -> O + for<'a> StepFn<'a> + 'static,
    {
        self.dialog(id, Waterfall::new().step(step))
    }

    /// Adds a library of dialogs (ids `name:dialog`).
    pub fn library(mut self, library: Library) -> Self {
        self.root = self.root.library(library);
        self
    }

    /// Sets the storage backend (required).
    pub fn storage(mut self, storage: impl Storage) -> Self {
        self.storage = Some(Arc::new(storage));
        self
    }

    /// Sets the storage backend from an `Arc`.
    pub fn storage_arc(mut self, storage: Arc<dyn Storage>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Sets the connector (required).
    pub fn connector(mut self, connector: impl Connector) -> Self {
        self.connector = Some(Arc::new(connector));
        self
    }

    /// Sets the connector from an `Arc`.
    pub fn connector_arc(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connector = Some(connector);
        self
    }

    /// Sets the clock (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sets the localizer.
    pub fn localizer(mut self, localizer: Localizer) -> Self {
        self.localizer = localizer;
        self
    }

    /// Adds a middleware.
    pub fn middleware(mut self, middleware: impl Middleware) -> Self {
        self.middleware.push(Arc::new(middleware));
        self
    }

    /// Called with every error that resets a user's conversation (a failing dialog step, an
    /// unknown dialog on the stack, unreadable or oversized state), before the user gets the
    /// error message. Storage outages and unresolved conflicts are returned by
    /// [`Bot::receive`] instead: nothing was changed, the channel may retry.
    pub fn on_error(mut self, hook: impl Fn(&BotError, &Message) + Send + Sync + 'static) -> Self {
        self.on_error = Some(Arc::new(hook));
        self
    }

    /// Decides what happens with non-message activities (conversationUpdate, event, ...).
    /// Without a handler they are ignored. A `conversationUpdate` reaches it after the
    /// [`on_members_added`](Self::on_members_added) / [`on_members_removed`](Self::on_members_removed)
    /// hooks have run and their messages were sent.
    pub fn on_event(
        mut self,
        hook: impl Fn(&Message) -> EventAction + Send + Sync + 'static,
    ) -> Self {
        self.on_event = Some(Arc::new(hook));
        self
    }

    /// Called when members join a conversation (a `conversationUpdate` with `membersAdded`),
    /// with the members other than the bot; also when only the bot itself joined
    /// ([`MembersChanged::bot_added`]). The messages returned are sent in order, between the
    /// conversation's turns; one without an address goes to the conversation, and texts are
    /// localized in the update's locale. Hooks add up: each one set runs, in order. The
    /// [`on_event`](Self::on_event) handler still sees the update afterwards.
    ///
    /// ```
    /// # let builder = botcore::Bot::builder();
    /// let builder = builder.on_members_added(|event| {
    ///     event
    ///         .added
    ///         .iter()
    ///         .map(|m| {
    ///             let name = m.name.as_deref().unwrap_or("there");
    ///             event.message_to(m).text(format!("Hello {name}!"))
    ///         })
    ///         .collect()
    /// });
    /// ```
    pub fn on_members_added(
        mut self,
        hook: impl Fn(&MembersChanged) -> Vec<Message> + Send + Sync + 'static,
    ) -> Self {
        self.members.added.push(Arc::new(hook));
        self
    }

    /// Called when members leave a conversation (`membersRemoved`), as
    /// [`on_members_added`](Self::on_members_added) is for joins; also when the bot itself
    /// was removed ([`MembersChanged::bot_removed`]; messages to a conversation the bot left
    /// usually fail).
    pub fn on_members_removed(
        mut self,
        hook: impl Fn(&MembersChanged) -> Vec<Message> + Send + Sync + 'static,
    ) -> Self {
        self.members.removed.push(Arc::new(hook));
        self
    }

    /// Greets every member who joins a conversation, except the bot itself, with `text` (a
    /// localization key or the text): v3's `conversationUpdate` welcome in one line.
    ///
    /// ```
    /// # let builder = botcore::Bot::builder();
    /// let builder = builder.welcome("Hi! I'm the pizza bot.");
    /// ```
    pub fn welcome(self, text: impl Into<String>) -> Self {
        let text = text.into();
        self.on_members_added(move |event| {
            event
                .added
                .iter()
                .map(|m| event.message_to(m).text(text.as_str()))
                .collect()
        })
    }

    /// Shows the user the bot is typing while their turn is slow (v4's ShowTypingMiddleware):
    /// once a user's message has been running its dialogs for `threshold`, a typing activity
    /// goes to the conversation, then again every `threshold` (at least 2 s apart), until
    /// the turn's replies go out. A turn faster than `threshold` sends none. Typing
    /// activities go straight to the connector (not through the send middleware); failing
    /// ones are logged at debug level and otherwise ignored. Off by default;
    /// [`Session::send_typing`] works either way.
    pub fn show_typing(mut self, threshold: std::time::Duration) -> Self {
        self.config.show_typing = Some(threshold);
        self
    }

    /// The dialog begun when a message arrives with an empty stack (default `*:/`).
    pub fn root_dialog(mut self, id: impl Into<String>) -> Self {
        self.config.root_dialog = id.into();
        self
    }

    /// The maximum depth of the dialog stack (default 100).
    pub fn max_stack_depth(mut self, n: usize) -> Self {
        self.config.max_stack_depth = n;
        self
    }

    /// The maximum number of stack operations in one turn (default 1,000).
    pub fn step_budget(mut self, n: usize) -> Self {
        self.config.step_budget = n;
        self
    }

    /// How many times a turn is run on compare-and-set conflicts before giving up (default 16).
    pub fn max_turn_attempts(mut self, n: usize) -> Self {
        self.config.max_turn_attempts = n.max(1);
        self
    }

    /// What to do when the stored stack names an unknown dialog.
    pub fn unknown_dialog_policy(mut self, policy: UnknownDialogPolicy) -> Self {
        self.config.unknown_dialog = policy;
        self
    }

    /// The message sent when a turn fails (a localization key or text; default: v3's
    /// "Oops. Something went wrong and we need to start over.").
    pub fn error_message(mut self, text: impl Into<String>) -> Self {
        self.config.error_message = text.into();
        self
    }

    /// How long a turn the bot starts (a proactive dialog, a scheduled job, a custom flow)
    /// waits for the turn already running in its conversation before giving up with
    /// [`BotError::Busy`] (default 30 s). Users' turns always wait.
    pub fn proactive_wait(mut self, wait: std::time::Duration) -> Self {
        self.config.proactive_wait = wait;
        self
    }

    /// Builds the bot. Fails on duplicate ids or a missing storage/connector.
    pub fn build(self) -> Result<Bot, BotError> {
        let library = Arc::new(Registry::build(self.root)?);
        let storage = self
            .storage
            .ok_or(BotError::Config("no storage: call BotBuilder::storage"))?;
        let connector = self
            .connector
            .ok_or(BotError::Config("no connector: call BotBuilder::connector"))?;
        let env = Arc::new(SessionEnv {
            ids: library.clone(),
            localizer: self.localizer,
            clock: self.clock,
            app_data: self.app_data,
        });
        Ok(Bot {
            inner: Arc::new(Runtime {
                library,
                env,
                storage,
                connector,
                middleware: self.middleware,
                on_error: self.on_error,
                on_event: self.on_event,
                members: self.members,
                config: self.config,
                locks: ConversationLocks::default(),
                instance: crate::engine::runtime::instance_id(),
                unmarked: Default::default(),
                metrics: BotMetrics::register(),
            }),
        })
    }
}

impl Bot {
    /// Starts building a bot.
    pub fn builder() -> BotBuilder {
        BotBuilder::default()
    }
}
