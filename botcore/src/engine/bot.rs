//! [`Bot`]: routes incoming messages to dialogs and runs turns as transactions. The ways a
//! bot speaks first are in `proactive`.

use crate::contracts::clock::Clock;
use crate::contracts::connector::Connector;
use crate::contracts::connector::{DeliveryError, Receipt};
use crate::contracts::error::BotError;
use crate::contracts::message::{Message, MessageKind};
use crate::contracts::storage::Storage;
use crate::engine::config::EventAction;
use crate::engine::delivery;
use crate::engine::events::MembersChanged;
use crate::engine::runtime::Runtime;
use crate::engine::turn::{self, Entry, TurnOutcome};
use crate::model::localize::Localizer;
use std::fmt;
use std::sync::Arc;

/// A bot: dialogs, state, a connector. Cheap to clone; clones share everything.
///
/// See the crate docs for a complete bot.
#[derive(Clone)]
pub struct Bot {
    pub(crate) inner: Arc<Runtime>,
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

impl Bot {
    /// Handles one incoming message: a full turn (load → dialogs → save with compare-and-set →
    /// deliver). Non-message activities go to the members hooks (a `conversationUpdate`), then
    /// to the event handler. Errors raised by dialogs have already been handled as v3 does
    /// (error hook, error message, stack cleared) when this returns them.
    pub async fn receive(&self, mut message: Message) -> Result<TurnOutcome, BotError> {
        for m in &self.inner.middleware {
            if !m.receive(&mut message).await? {
                return Ok(TurnOutcome::default());
            }
        }
        if !message.is_message() {
            let mut deliveries = Vec::new();
            if message.kind == MessageKind::ConversationUpdate && self.inner.members.any() {
                deliveries = self.raise_members(&message).await;
            }
            let action = self
                .inner
                .on_event
                .as_ref()
                .map(|h| h(&message))
                .unwrap_or_default();
            match action {
                EventAction::Ignore => {
                    return Ok(TurnOutcome {
                        deliveries,
                        ..TurnOutcome::default()
                    });
                }
                EventAction::Reply(out) => {
                    for m in out {
                        deliveries.push(delivery::deliver_between_turns(&self.inner, m).await);
                    }
                    return Ok(TurnOutcome {
                        deliveries,
                        ..TurnOutcome::default()
                    });
                }
                EventAction::RunTurn => {
                    let mut ran = turn::run(&self.inner, Arc::new(message), Entry::User).await?;
                    deliveries.append(&mut ran.outcome.deliveries);
                    ran.outcome.deliveries = deliveries;
                    return Ok(ran.outcome);
                }
            }
        }
        turn::run(&self.inner, Arc::new(message), Entry::User)
            .await
            .map(|ran| ran.outcome)
    }

    /// Raises the members events of `activity` and delivers what the hooks return, in order,
    /// between the conversation's turns. Messages without an address go to the conversation;
    /// texts are localized in the activity's locale (no user state is read).
    async fn raise_members(&self, activity: &Message) -> Vec<Result<Receipt, DeliveryError>> {
        let Some(event) = MembersChanged::from_activity(activity) else {
            return Vec::new();
        };
        let out = self.inner.members.messages(&event);
        let locale = activity
            .locale
            .as_deref()
            .or(activity.address.locale.as_deref());
        let localizer = self.inner.localizer();
        let mut deliveries = Vec::with_capacity(out.len());
        for mut m in out {
            if m.address.channel_id.is_empty() {
                m.address = event.address();
            }
            let lookup_in = locale.unwrap_or_else(|| localizer.default_locale());
            if !m.text.is_empty()
                && let Some(t) = localizer.lookup(lookup_in, &m.text)
            {
                m.text = t.to_owned();
            }
            if m.locale.is_none() {
                m.locale = locale.map(str::to_owned);
            }
            deliveries.push(delivery::deliver_between_turns(&self.inner, m).await);
        }
        deliveries
    }

    /// The bot's clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        self.inner.clock()
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
        self.inner.localizer()
    }
}
