//! Ad hoc messages: sent to a saved address with no conversation state read or written.

use crate::contracts::address::Address;
use crate::contracts::connector::{DeliveryError, Receipt};
use crate::contracts::error::BotError;
use crate::contracts::message::Message;
use crate::contracts::storage::StorageExt;
use crate::engine::bot::Bot;
use crate::engine::delivery;
use crate::model::state::PREFERRED_LOCALE;
use crate::proactive::SendOptions;
use serde_json::Value;
use std::collections::HashMap;

impl Bot {
    pub(crate) async fn prepare_address(
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
        match self.address_book().get(address).await? {
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

    pub(crate) async fn ensure_conversation(
        &self,
        address: Address,
    ) -> Result<(Address, bool), BotError> {
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

    /// Sends one message to its address without touching conversation state (ad hoc): a
    /// conversation is started first when the address has none. Users who never wrote are
    /// refused with [`BotError::NotConsented`]; a refused delivery is a
    /// [`BotError::Delivery`]. Never lands between the messages of one of that conversation's
    /// turns.
    ///
    /// ```no_run
    /// # async fn f(bot: botcore::Bot, saved: botcore::Address) -> Result<(), botcore::BotError> {
    /// use botcore::Message;
    /// let receipt = bot.send(Message::to(&saved).text("Your order has shipped")).await?;
    /// # Ok(()) }
    /// ```
    pub async fn send(&self, message: Message) -> Result<Receipt, BotError> {
        self.send_all_with(vec![message], SendOptions::default())
            .await?
            .pop()
            .unwrap_or(Err(DeliveryError::Skipped))
            .map_err(BotError::Delivery)
    }

    /// Sends many messages ad hoc: a receipt or a typed error per message, in order. Every
    /// address is checked first (a user who never wrote fails the whole call before anything
    /// is sent).
    pub async fn send_all(
        &self,
        messages: Vec<Message>,
    ) -> Result<Vec<Result<Receipt, DeliveryError>>, BotError> {
        self.send_all_with(messages, SendOptions::default()).await
    }

    /// [`send_all`](Self::send_all) with options. Messages to one conversation go in order;
    /// after a failure the rest of that conversation's messages are not attempted
    /// ([`DeliveryError::Skipped`]).
    pub async fn send_all_with(
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
            let r = delivery::deliver_between_turns(&self.inner, m.clone()).await;
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

    pub(crate) async fn localize_for_user(
        &self,
        m: &mut Message,
        addr: &Address,
    ) -> Result<(), BotError> {
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
}
