//! [`Proactive`]: everything the bot can do for one saved address, started by the bot
//! rather than by the user — dialogs (Interrupt, Replace, WhenIdle), custom flows over the
//! user's session, ad hoc messages.

use crate::contracts::address::Address;
use crate::contracts::connector::Receipt;
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::{StorageExt, WriteOp};
use crate::engine::bot::Bot;
use crate::engine::commit;
use crate::engine::turn::{self, Entry};
use crate::model::proactive_mode::{DeadlineAction, ProactiveMode};
use crate::model::session::Session;
use crate::model::state::StateKeys;
use crate::proactive::{ProactiveOutcome, SendOptions};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The bot speaking first to one saved address (from [`Bot::proactive`]).
///
/// ```no_run
/// # async fn f(bot: botcore::Bot, saved: botcore::Address) -> Result<(), botcore::BotError> {
/// use botcore::WhenIdle;
/// use std::time::Duration;
/// // Push the survey on top of whatever the user is doing; when it ends, they are back.
/// bot.proactive(&saved).begin("survey").interrupt().await?;
/// // v3's stock behaviour: clear the stack (user and conversation data kept), then run it.
/// bot.proactive(&saved).begin("survey").replace().await?;
/// // Wait until the user is done, or interrupt after ten minutes at the latest.
/// bot.proactive(&saved)
///     .begin("survey")
///     .when_idle(WhenIdle::deadline(Duration::from_secs(600)))
///     .await?;
/// // A plain message, no state touched.
/// bot.proactive(&saved).send("Your pizza is on its way").await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Proactive<'a> {
    bot: &'a Bot,
    address: &'a Address,
    options: SendOptions,
}

impl Bot {
    /// Speak first to the user at `address` (a saved address of a user who wrote before).
    pub fn proactive<'a>(&'a self, address: &'a Address) -> Proactive<'a> {
        Proactive {
            bot: self,
            address,
            options: SendOptions::default(),
        }
    }
}

impl<'a> Proactive<'a> {
    /// Also reach a user who never wrote to the bot (refused with
    /// [`BotError::NotConsented`] otherwise).
    pub fn allow_unconsented(mut self) -> Self {
        self.options.allow_unconsented = true;
        self
    }

    /// Localize ad hoc texts in the user's preferred locale (proactive dialogs always are).
    pub fn localized(mut self) -> Self {
        self.options.localize = true;
        self
    }

    /// Sends one message (text or a [`Message`], which goes to this address) without
    /// touching conversation state.
    pub async fn send(self, message: impl Into<Message>) -> Result<Receipt, BotError> {
        let mut m = message.into();
        m.address = self.address.clone();
        self.bot
            .send_all_with(vec![m], self.options)
            .await?
            .pop()
            .unwrap_or(Err(crate::DeliveryError::Skipped))
            .map_err(BotError::Delivery)
    }

    /// Begins dialog `id` (an unqualified id is in the bot's own library `*`); choose how it
    /// treats a busy user on the returned [`BeginDialog`].
    pub fn begin(self, id: &'a str) -> BeginDialog<'a> {
        BeginDialog {
            to: self,
            id,
            args: Ok(None),
        }
    }

    /// Runs `flow` over the user's session as a turn (load, run, compare-and-set, deliver):
    /// for custom proactive flows. `flow` may run more than once on conflicts.
    pub async fn with_session<F>(self, flow: F) -> Result<ProactiveOutcome, BotError>
    where
        F: Fn(&mut Session) -> Result<(), BotError> + Send + Sync + 'static,
    {
        self.bot
            .run_custom(self.address, flow, self.options.allow_unconsented)
            .await
    }

    /// Loads the user's session (v3 `loadSession`) for inspection. Changes made to it are
    /// not saved: use [`with_session`](Self::with_session) for that.
    pub async fn load_session(self) -> Result<Session, BotError> {
        self.bot.load_session(self.address).await
    }

    /// When the conversation last had a turn of the user's (ms since the Unix epoch).
    pub async fn last_access(self) -> Result<Option<u64>, BotError> {
        self.bot.last_access(self.address).await
    }
}

/// A proactive dialog about to begin (from [`Proactive::begin`]): pick the mode to run it.
#[derive(Debug)]
#[must_use = "a proactive dialog does nothing until a mode is chosen and awaited"]
pub struct BeginDialog<'a> {
    to: Proactive<'a>,
    id: &'a str,
    args: Result<Option<Value>, BotError>,
}

impl BeginDialog<'_> {
    /// Arguments for the dialog's first step (read with
    /// [`DialogResult::value`](crate::DialogResult::value)).
    pub fn args<A: Serialize>(mut self, args: &A) -> Self {
        self.args = serde_json::to_value(args)
            .map(|v| (!v.is_null()).then_some(v))
            .map_err(|e| BotError::StateType {
                what: "dialog arguments",
                type_name: std::any::type_name::<A>(),
                reason: e.to_string(),
            });
        self
    }

    /// Pushes the dialog on top of whatever the user is doing; when it ends, the interrupted
    /// dialog resumes (a waiting prompt asks again).
    pub async fn interrupt(self) -> Result<ProactiveOutcome, BotError> {
        self.mode(ProactiveMode::Interrupt).await
    }

    /// Clears the stack (user and conversation data kept) and runs the dialog (v3
    /// `bot.beginDialog`).
    pub async fn replace(self) -> Result<ProactiveOutcome, BotError> {
        self.mode(ProactiveMode::Replace).await
    }

    /// Holds the dialog until the user's stack is empty (or they have been idle), with a
    /// deadline; see [`WhenIdle`].
    pub async fn when_idle(self, when: WhenIdle) -> Result<ProactiveOutcome, BotError> {
        self.mode(when.into()).await
    }

    /// Begins the dialog in `mode`.
    pub async fn mode(self, mode: ProactiveMode) -> Result<ProactiveOutcome, BotError> {
        let args = self.args?;
        let to = self.to;
        to.bot
            .begin_proactive(
                to.address,
                self.id,
                args,
                mode,
                to.options.allow_unconsented,
                Vec::new(),
            )
            .await
    }
}

/// When a held proactive dialog starts (for [`BeginDialog::when_idle`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WhenIdle {
    idle_after: Option<Duration>,
    deadline: Option<Duration>,
    on_deadline: DeadlineAction,
}

impl WhenIdle {
    /// Wait for an empty stack, however long that takes.
    pub fn stack_empty() -> Self {
        Self::default()
    }

    /// Wait for an empty stack, and interrupt at `after` at the latest.
    pub fn deadline(after: Duration) -> Self {
        Self {
            deadline: Some(after),
            ..Self::default()
        }
    }

    /// Also start once the user has been idle this long.
    pub fn or_idle_for(mut self, idle: Duration) -> Self {
        self.idle_after = Some(idle);
        self
    }

    /// At the deadline, drop the dialog instead of interrupting.
    pub fn drop_at_deadline(mut self) -> Self {
        self.on_deadline = DeadlineAction::Drop;
        self
    }
}

impl From<WhenIdle> for ProactiveMode {
    fn from(w: WhenIdle) -> Self {
        ProactiveMode::WhenIdle {
            idle_after: w.idle_after,
            deadline: w.deadline,
            on_deadline: w.on_deadline,
        }
    }
}

impl Bot {
    pub(crate) async fn begin_proactive(
        &self,
        address: &Address,
        id: &str,
        args: Option<Value>,
        mode: ProactiveMode,
        allow_unconsented: bool,
        also: Vec<WriteOp>,
    ) -> Result<ProactiveOutcome, BotError> {
        let id = self.inner.library.resolve(id, None)?.to_owned();
        let a = self.prepare_address(address, allow_unconsented).await?;
        let (a, started_conversation) = self.ensure_conversation(a).await?;
        let message = Arc::new(turn::proactive_message(&a));
        let entry = Entry::Proactive {
            id,
            args,
            mode,
            also,
        };
        let ran = turn::run(&self.inner, message, entry).await?;
        Ok(ProactiveOutcome {
            address: a,
            started_conversation,
            held: ran.report.held,
            deliveries: ran.outcome.deliveries,
        })
    }

    pub(crate) async fn run_custom<F>(
        &self,
        address: &Address,
        flow: F,
        allow_unconsented: bool,
    ) -> Result<ProactiveOutcome, BotError>
    where
        F: Fn(&mut Session) -> Result<(), BotError> + Send + Sync + 'static,
    {
        let a = self.prepare_address(address, allow_unconsented).await?;
        let (a, started_conversation) = self.ensure_conversation(a).await?;
        let message = Arc::new(turn::proactive_message(&a));
        let ran = turn::run(&self.inner, message, Entry::Custom(Arc::new(flow))).await?;
        Ok(ProactiveOutcome {
            address: a,
            started_conversation,
            held: false,
            deliveries: ran.outcome.deliveries,
        })
    }

    pub(crate) async fn load_session(&self, address: &Address) -> Result<Session, BotError> {
        let keys = StateKeys::for_address(address)?;
        commit::load_for_inspection(
            &self.inner,
            Arc::new(turn::proactive_message(address)),
            &keys,
        )
        .await
    }

    pub(crate) async fn last_access(&self, address: &Address) -> Result<Option<u64>, BotError> {
        let keys = StateKeys::for_address(address)?;
        let stored = self.inner.storage.read(&keys.private).await?;
        Ok(commit::session_state(stored.as_ref()).map(|s| s.last_access))
    }
}
