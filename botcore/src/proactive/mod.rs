//! Proactive messaging: the bot speaks first.
//!
//! **Ad hoc** — [`Bot::send`]: messages to saved addresses, no conversation state read or
//! written, a conversation started first when the address has none, a receipt or a typed
//! error per message.
//!
//! ```no_run
//! # async fn f(bot: botcore::Bot, saved: botcore::Address) -> Result<(), botcore::BotError> {
//! use botcore::Message;
//! let results = bot.send(vec![Message::to(&saved).text("Hello, this is a notification")]).await?;
//! assert!(results[0].is_ok());
//! # Ok(()) }
//! ```
//!
//! **Dialog-based** — [`Bot::begin_dialog`] runs as a turn (same ordering and
//! compare-and-set as a user's turn) in one of three modes:
//!
//! ```no_run
//! # async fn f(bot: botcore::Bot, saved: botcore::Address) -> Result<(), botcore::BotError> {
//! use botcore::{DeadlineAction, ProactiveMode};
//! use std::time::Duration;
//! // Push the survey on top of whatever the user is doing; "done" resumes it.
//! bot.begin_dialog(&saved, "*:survey", None, ProactiveMode::Interrupt).await?;
//! // v3's stock behaviour: clear the stack (user and conversation data kept), then run it.
//! bot.begin_dialog(&saved, "*:survey", None, ProactiveMode::Replace).await?;
//! // Wait until the user's stack is empty, or interrupt after ten minutes at the latest.
//! let when_idle = ProactiveMode::WhenIdle {
//!     idle_after: None,
//!     deadline: Some(Duration::from_secs(600)),
//!     on_deadline: DeadlineAction::Interrupt,
//! };
//! bot.begin_dialog(&saved, "*:survey", None, when_idle).await?;
//! # Ok(()) }
//! ```

pub mod address_book;
pub mod fanout;
pub mod scheduler;

use crate::contracts::address::Address;
use crate::contracts::connector::{DeliveryError, Receipt};
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::StorageExt;
use crate::engine::bot::Bot;
use crate::engine::turn::{self, Entry};
use crate::model::proactive_mode::ProactiveMode;
use crate::model::session::Session;
use crate::model::state::{PREFERRED_LOCALE, StateKeys};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Options of an ad hoc send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Send even to users who never wrote to the bot.
    pub allow_unconsented: bool,
    /// Localize texts in the user's preferred locale (off by default for ad hoc sends).
    pub localize: bool,
}

/// What a proactive dialog did.
#[derive(Debug, Default)]
pub struct ProactiveOutcome {
    /// The address used (with the conversation that was started, if one was).
    pub address: Address,
    /// Whether a conversation was started for it.
    pub started_conversation: bool,
    /// Whether the dialog was held (`WhenIdle`) instead of started.
    pub held: bool,
    /// The delivery result of each message the turn sent.
    pub deliveries: Vec<Result<Receipt, DeliveryError>>,
}

impl Bot {
    async fn prepare_address(
        &self,
        address: &Address,
        allow_unconsented: bool,
    ) -> Result<Address, BotError> {
        if address.channel_id.is_empty() || address.user.id.is_empty() {
            return Err(BotError::InvalidAddress(
                "address needs a channelId and a user id".into(),
            ));
        }
        let mut a = address.clone();
        match self.address_record(address).await? {
            Some(rec) => {
                // Refresh what may have gone stale since the address was saved.
                if !rec.address.service_url.is_empty() {
                    a.service_url = rec.address.service_url;
                }
                if a.bot.id.is_empty() {
                    a.bot = rec.address.bot;
                }
                if a.locale.is_none() {
                    a.locale = rec.address.locale;
                }
            }
            None if !allow_unconsented => {
                return Err(BotError::NotConsented {
                    channel: a.channel_id,
                    user: a.user.id,
                });
            }
            None => {}
        }
        if a.service_url.is_empty() {
            return Err(BotError::InvalidAddress("address has no serviceUrl".into()));
        }
        Ok(a)
    }

    async fn ensure_conversation(&self, address: Address) -> Result<(Address, bool), BotError> {
        if address.conversation_id().is_some() {
            return Ok((address, false));
        }
        let started = self.inner.connector.start_conversation(&address).await?;
        if started.conversation_id().is_none() {
            return Err(BotError::Delivery(DeliveryError::Ambiguous(
                "connector started no conversation".into(),
            )));
        }
        Ok((started, true))
    }

    /// Sends messages to their addresses without touching conversation state (ad hoc).
    /// Users who never wrote are refused with [`BotError::NotConsented`] before anything is sent.
    pub async fn send(
        &self,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<Receipt, DeliveryError>>, BotError> {
        self.send_with(messages, SendOptions::default()).await
    }

    /// [`send`](Self::send) with options. Messages to one conversation go in order; after a
    /// failure the rest of that conversation's messages are not attempted
    /// ([`DeliveryError::Skipped`]).
    pub async fn send_with(
        &self,
        messages: Vec<Message>,
        options: SendOptions,
    ) -> Result<Vec<Result<Receipt, DeliveryError>>, BotError> {
        let mut prepared = Vec::with_capacity(messages.len());
        for m in messages {
            let a = self
                .prepare_address(&m.address, options.allow_unconsented)
                .await?;
            prepared.push((a, m));
        }
        let mut started: HashMap<(String, String), Address> = HashMap::new();
        let mut failed: Vec<String> = Vec::new();
        let mut results = Vec::with_capacity(prepared.len());
        for (addr, mut m) in prepared {
            let user_key = (addr.channel_id.clone(), addr.user.id.clone());
            let addr = match (addr.conversation_id(), started.get(&user_key)) {
                (None, Some(a)) => a.clone(),
                _ => match self.ensure_conversation(addr).await {
                    Ok((a, was_started)) => {
                        if was_started {
                            started.insert(user_key, a.clone());
                        }
                        a
                    }
                    Err(BotError::Delivery(e)) => {
                        results.push(Err(e));
                        continue;
                    }
                    Err(e) => return Err(e),
                },
            };
            let conv = addr.conversation_id().unwrap_or_default().to_owned();
            if failed.contains(&conv) {
                results.push(Err(DeliveryError::Skipped));
                continue;
            }
            if options.localize {
                self.localize_for_user(&mut m, &addr).await?;
            }
            m.address = addr;
            let r = turn::deliver(&self.inner, vec![m.clone()])
                .await
                .pop()
                .unwrap_or(Err(DeliveryError::Skipped));
            if let Err(e) = &r {
                failed.push(conv);
                // Best effort: failing to mark the address must not turn messages already
                // delivered in this call into an error the caller would retry.
                if let DeliveryError::Permanent { status, .. } = e
                    && let Err(mark) = self.mark_unreachable(&m.address, *status).await
                {
                    tracing::warn!(error = %mark, "could not mark an address unreachable");
                }
            }
            results.push(r);
        }
        Ok(results)
    }

    async fn localize_for_user(&self, m: &mut Message, addr: &Address) -> Result<(), BotError> {
        let key = crate::model::state::user_key(&addr.channel_id, &addr.user.id);
        let stored = self.inner.storage.read(&key).await?;
        let locale = stored
            .as_ref()
            .and_then(|s| s.value.get(PREFERRED_LOCALE))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| m.locale.clone())
            .or_else(|| addr.locale.clone())
            .unwrap_or_else(|| self.inner.localizer().default_locale().to_owned());
        if let Some(t) = self.inner.localizer().lookup(&locale, &m.text) {
            m.text = t.to_owned();
        }
        m.locale.get_or_insert(locale);
        Ok(())
    }

    /// Begins dialog `id` for the user at `address`, as a turn, in the given mode. Unknown
    /// ids return [`BotError::DialogNotFound`] with nothing read, written or sent.
    pub async fn begin_dialog(
        &self,
        address: &Address,
        id: &str,
        args: Option<Value>,
        mode: ProactiveMode,
    ) -> Result<ProactiveOutcome, BotError> {
        self.begin_dialog_with(address, id, args, mode, SendOptions::default())
            .await
    }

    /// [`begin_dialog`](Self::begin_dialog), optionally for a user who never wrote to the bot.
    pub async fn begin_dialog_with(
        &self,
        address: &Address,
        id: &str,
        args: Option<Value>,
        mode: ProactiveMode,
        options: SendOptions,
    ) -> Result<ProactiveOutcome, BotError> {
        let id = self.inner.library.resolve(id, None)?.to_owned();
        let a = self
            .prepare_address(address, options.allow_unconsented)
            .await?;
        let (a, started_conversation) = self.ensure_conversation(a).await?;
        let message = Arc::new(turn::proactive_message(&a));
        let ran = turn::run_full(&self.inner, message, Entry::Proactive { id, args, mode }).await?;
        Ok(ProactiveOutcome {
            address: a,
            started_conversation,
            held: ran.report.held,
            deliveries: ran.outcome.deliveries,
        })
    }

    /// Runs `flow` over the user's session at `address` as a turn (load, run, compare-and-set,
    /// deliver): for custom proactive flows. `flow` may run more than once on conflicts.
    pub async fn with_session<F>(
        &self,
        address: &Address,
        flow: F,
    ) -> Result<ProactiveOutcome, BotError>
    where
        F: Fn(&mut Session) -> Result<(), BotError> + Send + Sync + 'static,
    {
        let a = self.prepare_address(address, false).await?;
        let (a, started_conversation) = self.ensure_conversation(a).await?;
        let message = Arc::new(turn::proactive_message(&a));
        let ran = turn::run_full(&self.inner, message, Entry::Custom(Arc::new(flow))).await?;
        Ok(ProactiveOutcome {
            address: a,
            started_conversation,
            held: false,
            deliveries: ran.outcome.deliveries,
        })
    }

    /// Loads the user's session at `address` (v3 `loadSession`) for inspection. Changes made
    /// to it are not saved: use [`with_session`](Self::with_session) for that.
    pub async fn load_session(&self, address: &Address) -> Result<Session, BotError> {
        let keys = StateKeys::for_address(address)?;
        turn::load_for_inspection(
            &self.inner,
            Arc::new(turn::proactive_message(address)),
            &keys,
        )
        .await
    }

    /// When the conversation at `address` last had a turn (ms since the Unix epoch).
    pub async fn last_access(&self, address: &Address) -> Result<Option<u64>, BotError> {
        let keys = StateKeys::for_address(address)?;
        let stored = self.inner.storage.read(&keys.private).await?;
        Ok(turn::session_state(stored.as_ref()).map(|s| s.last_access))
    }
}
