//! The address book: the latest address of every user who wrote to the bot.
//!
//! Every incoming message upserts its user's record (only when something changed, in the
//! turn's own compare-and-set batch). Proactive sends read it to refuse users who never wrote
//! (`NotConsented`) and to refresh a stale service URL.

use crate::contracts::address::Address;
use crate::contracts::error::BotError;
use crate::contracts::storage::{Precondition, StorageExt, Update, WriteOp};
use crate::engine::bot::Bot;
pub use crate::model::address_record::AddressRecord;
use crate::model::state::{ADDRESS_PREFIX, address_key, address_mark_key};

/// A page of known addresses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddressPage {
    /// The addresses on this page (unreachable ones left out).
    pub addresses: Vec<Address>,
    /// Pass this as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The address book (from [`Bot::address_book`]): the latest address of every user who wrote.
///
/// ```no_run
/// # async fn f(bot: botcore::Bot) -> Result<(), botcore::BotError> {
/// let mut page = bot.address_book().page(None, 100).await?;
/// while let Some(next) = page.next.clone() {
///     // ... use page.addresses ...
///     page = bot.address_book().page(Some(&next), 100).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AddressBook<'a> {
    bot: &'a Bot,
}

impl Bot {
    /// The address book.
    pub fn address_book(&self) -> AddressBook<'_> {
        AddressBook { bot: self }
    }
}

impl AddressBook<'_> {
    /// The stored address-book record of the user of `address`, if the user ever wrote.
    pub async fn get(self, address: &Address) -> Result<Option<AddressRecord>, BotError> {
        let key = address_key(&address.channel_id, &address.user.id);
        match self.bot.inner.storage.read(&key).await? {
            None => Ok(None),
            Some(s) => serde_json::from_value(s.value)
                .map(Some)
                .map_err(|e| BotError::CorruptState(format!("{key}: {e}"))),
        }
    }

    /// Lists known addresses, `limit` at a time: pass the previous page's `next` as `after`.
    pub async fn page(self, after: Option<&str>, limit: usize) -> Result<AddressPage, BotError> {
        let (page, next) = self
            .bot
            .inner
            .storage
            .read_page(ADDRESS_PREFIX, after, limit)
            .await?;
        let addresses = page
            .into_iter()
            .filter_map(|(_, s)| serde_json::from_value::<AddressRecord>(s.value).ok())
            .filter(|r| r.unreachable.is_none())
            .map(|r| r.address)
            .collect();
        Ok(AddressPage { addresses, next })
    }

    /// Every known, reachable address (all pages).
    pub async fn all(self) -> Result<Vec<Address>, BotError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.page(after.as_deref(), 500).await?;
            out.extend(page.addresses);
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }
}

impl Bot {
    /// Marks the user of `address` unreachable (after a permanent delivery failure), so
    /// fan-outs skip them until they write again.
    pub(crate) async fn mark_unreachable(
        &self,
        address: &Address,
        status: u16,
    ) -> Result<(), BotError> {
        let key = address_key(&address.channel_id, &address.user.id);
        let mark = address_mark_key(&address.channel_id, &address.user.id);
        self.inner
            .storage
            .update(&[&key], |read| {
                let Some(s) = read.into_iter().next().flatten() else {
                    return Ok(Update::Done(()));
                };
                let Ok(mut rec) = serde_json::from_value::<AddressRecord>(s.value) else {
                    return Ok(Update::Done(()));
                };
                // The user may have written from a new conversation since: a failure on the
                // old one says nothing about the new address.
                if rec.address.conversation_id() != address.conversation_id()
                    || rec.address.service_url != address.service_url
                {
                    return Ok(Update::Done(()));
                }
                rec.unreachable = Some(status);
                let v = serde_json::to_value(rec).map_err(BotError::dialog)?;
                // Dropping the mark makes the user's next message (in any process) record
                // the address afresh, which clears the flag.
                Ok::<_, BotError>(Update::Write(
                    vec![
                        WriteOp::put(&key, v, Precondition::IfMatch(s.version)),
                        WriteOp::delete(&mark, Precondition::Any),
                    ],
                    (),
                ))
            })
            .await
    }
}
