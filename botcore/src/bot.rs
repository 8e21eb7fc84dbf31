//! [`Bot`]: routes incoming messages to dialogs, runs turns as transactions, and speaks first.

use crate::clock::{Clock, SystemClock};
use crate::connector::{Connector, DeliveryError, Receipt};
use crate::dialog::Dialog;
use crate::error::BotError;
use crate::library::{Library, Registry};
use crate::localize::Localizer;
use crate::message::Message;
use crate::middleware::Middleware;
use crate::storage::Storage;
use crate::turn::{self, Entry};
use std::fmt;
use std::sync::Arc;

/// What to do with a stored stack that names a dialog no longer registered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnknownDialogPolicy {
    /// v3: send the error message and an endOfConversation, clear the stack.
    #[default]
    ErrorAndReset,
    /// Clear the stack silently and route the message to the root dialog.
    RestartRoot,
}

/// What an event handler wants done with a non-message activity.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum EventAction {
    /// Nothing (the default for events).
    #[default]
    Ignore,
    /// Send these messages (no state is loaded).
    Reply(Vec<Message>),
    /// Run a normal dialog turn with this activity.
    RunTurn,
}

/// What a turn did.
#[derive(Debug, Default)]
pub struct TurnOutcome {
    /// Per outgoing message, in order: the receipt or why it was not delivered.
    pub deliveries: Vec<Result<Receipt, DeliveryError>>,
    /// How many times the turn ran (more than 1 after compare-and-set conflicts).
    pub attempts: usize,
    /// Whether a dialog turn ran (false for ignored events and messages dropped by middleware).
    pub ran_turn: bool,
}

type ErrorHook = dyn Fn(&BotError, &Message) + Send + Sync;
type EventHook = dyn Fn(&Message) -> EventAction + Send + Sync;

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) root_dialog: String,
    pub(crate) max_stack_depth: usize,
    pub(crate) step_budget: usize,
    pub(crate) max_turn_attempts: usize,
    pub(crate) unknown_dialog: UnknownDialogPolicy,
    pub(crate) error_message: String,
}

pub(crate) struct BotInner {
    pub(crate) library: Registry,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) localizer: Localizer,
    pub(crate) middleware: Vec<Arc<dyn Middleware>>,
    pub(crate) on_error: Option<Arc<ErrorHook>>,
    pub(crate) on_event: Option<Arc<EventHook>>,
    pub(crate) config: Config,
    pub(crate) locks: crate::locks::ConversationLocks,
}

/// A bot: dialogs, state, a connector. Cheap to clone; clones share everything.
///
/// See the crate docs for a complete bot.
#[derive(Clone)]
pub struct Bot {
    pub(crate) inner: Arc<BotInner>,
}

impl fmt::Debug for Bot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bot")
            .field("dialogs", &self.inner.library)
            .field("storage", &self.inner.storage)
            .field("connector", &self.inner.connector)
            .finish_non_exhaustive()
    }
}

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
    config: Config,
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
            config: Config {
                root_dialog: "*:/".into(),
                max_stack_depth: 100,
                step_budget: 1_000,
                max_turn_attempts: 16,
                unknown_dialog: UnknownDialogPolicy::default(),
                error_message: "BotBuilder:default_error".into(),
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
    /// Without a handler they are ignored.
    pub fn on_event(
        mut self,
        hook: impl Fn(&Message) -> EventAction + Send + Sync + 'static,
    ) -> Self {
        self.on_event = Some(Arc::new(hook));
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

    /// Builds the bot. Fails on duplicate ids or a missing storage/connector.
    pub fn build(self) -> Result<Bot, BotError> {
        let library = Registry::build(self.root)?;
        let storage = self
            .storage
            .ok_or_else(|| BotError::InvalidAddress("no storage configured".into()))?;
        let connector = self
            .connector
            .ok_or_else(|| BotError::InvalidAddress("no connector configured".into()))?;
        Ok(Bot {
            inner: Arc::new(BotInner {
                library,
                storage,
                connector,
                clock: self.clock,
                localizer: self.localizer,
                middleware: self.middleware,
                on_error: self.on_error,
                on_event: self.on_event,
                config: self.config,
                locks: crate::locks::ConversationLocks::default(),
            }),
        })
    }
}

impl Bot {
    /// Starts building a bot.
    pub fn builder() -> BotBuilder {
        BotBuilder::default()
    }

    /// Handles one incoming message: a full turn (load → dialogs → save with compare-and-set →
    /// deliver). Non-message activities go to the event handler. Errors raised by dialogs have
    /// already been handled as v3 does (error hook, error message, stack cleared) when this
    /// returns them.
    pub async fn receive(&self, mut message: Message) -> Result<TurnOutcome, BotError> {
        for m in &self.inner.middleware {
            if !m.receive(&mut message).await? {
                return Ok(TurnOutcome::default());
            }
        }
        if !message.is_message() {
            let action = self
                .inner
                .on_event
                .as_ref()
                .map(|h| h(&message))
                .unwrap_or_default();
            match action {
                EventAction::Ignore => return Ok(TurnOutcome::default()),
                EventAction::Reply(out) => {
                    let deliveries = turn::deliver(&self.inner, out).await;
                    return Ok(TurnOutcome {
                        deliveries,
                        attempts: 0,
                        ran_turn: false,
                    });
                }
                EventAction::RunTurn => {}
            }
        }
        turn::run(&self.inner, Arc::new(message), Entry::User).await
    }

    /// The bot's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The bot's storage.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The bot's connector.
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.inner.connector
    }

    /// The bot's localizer.
    pub fn localizer(&self) -> &Localizer {
        &self.inner.localizer
    }
}
