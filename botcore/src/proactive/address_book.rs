//! The address book: the latest address of every user who wrote to the bot.
//!
//! Every incoming message upserts its user's record (only when something changed, in the
//! turn's own compare-and-set batch). Proactive sends read it to refuse users who never wrote
//! (`NotConsented`) and to refresh a stale service URL.

use crate::contracts::address::Address;
use crate::contracts::error::BotError;
use crate::contracts::storage::{Precondition, StorageExt};
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

impl Bot {
    /// The stored address-book record of the user of `address`, if the user ever wrote.
    pub async fn address_record(
        &self,
        address: &Address,
    ) -> Result<Option<AddressRecord>, BotError> {
        let key = address_key(&address.channel_id, &address.user.id);
        match self.inner.storage.read(&key).await? {
            None => Ok(None),
            Some(s) => serde_json::from_value(s.value)
                .map(Some)
                .map_err(|e| BotError::CorruptState(format!("{key}: {e}"))),
        }
    }

    /// Lists known addresses, `limit` at a time: pass the previous page's `next` as `after`.
    pub async fn addresses(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<AddressPage, BotError> {
        let keys = self
            .inner
            .storage
            .list_keys(ADDRESS_PREFIX, after, limit)
            .await?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let stored = self.inner.storage.read_many(&refs).await?;
        let addresses = stored
            .into_iter()
            .flatten()
            .filter_map(|s| serde_json::from_value::<AddressRecord>(s.value).ok())
            .filter(|r| r.unreachable.is_none())
            .map(|r| r.address)
            .collect();
        let next = if keys.len() == limit {
            keys.last().cloned()
        } else {
            None
        };
        Ok(AddressPage { addresses, next })
    }

    /// Every known, reachable address (all pages).
    pub async fn all_addresses(&self) -> Result<Vec<Address>, BotError> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = self.addresses(after.as_deref(), 500).await?;
            out.extend(page.addresses);
            match page.next {
                Some(n) => after = Some(n),
                None => return Ok(out),
            }
        }
    }

    /// Marks the user of `address` unreachable (after a permanent delivery failure), so
    /// fan-outs skip them until they write again.
    pub(crate) async fn mark_unreachable(
        &self,
        address: &Address,
        status: u16,
    ) -> Result<(), BotError> {
        let key = address_key(&address.channel_id, &address.user.id);
        for _ in 0..4 {
            let Some(s) = self.inner.storage.read(&key).await? else {
                return Ok(());
            };
            let Ok(mut rec) = serde_json::from_value::<AddressRecord>(s.value) else {
                return Ok(());
            };
            // The user may have written from a new conversation since: a failure on the old
            // one says nothing about the new address.
            if rec.address.conversation_id() != address.conversation_id()
                || rec.address.service_url != address.service_url
            {
                return Ok(());
            }
            rec.unreachable = Some(status);
            let v = serde_json::to_value(rec).map_err(BotError::dialog)?;
            // Dropping the mark makes the user's next message (in any process) record the
            // address afresh, which clears the flag.
            let mark = address_mark_key(&address.channel_id, &address.user.id);
            let ops = vec![
                crate::contracts::storage::WriteOp::put(&key, v, Precondition::IfMatch(s.version)),
                crate::contracts::storage::WriteOp::delete(mark, Precondition::Any),
            ];
            match self.inner.storage.write_many(ops).await {
                Ok(_) => return Ok(()),
                Err(crate::contracts::storage::StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
