//! The address book: the latest address of every user who wrote to the bot.
//!
//! Every incoming message upserts its user's record (only when something changed, in the
//! turn's own compare-and-set batch). Proactive sends read it to refuse users who never wrote
//! (`NotConsented`) and to refresh a stale service URL.

use crate::address::Address;
use crate::bot::Bot;
use crate::error::BotError;
use crate::state::{ADDRESS_PREFIX, address_key};
use crate::storage::{Precondition, StorageExt, Stored};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One address-book record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AddressRecord {
    /// The latest address the user wrote from (without a message id).
    pub address: Address,
    /// Set when the channel answered that the address is gone for good (403/404).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable: Option<u16>,
}

/// A page of known addresses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddressPage {
    /// The addresses on this page (unreachable ones left out).
    pub addresses: Vec<Address>,
    /// Pass this as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

fn same(stored: &Value, field: &str, incoming: Option<&str>) -> bool {
    stored.get(field).and_then(Value::as_str) == incoming
}

/// Whether the stored record already says everything the incoming address would record.
/// Compared field by field on the stored JSON: this runs on every turn.
fn up_to_date(stored: &Value, incoming: &Address, locale: Option<&str>) -> bool {
    let Some(a) = stored.get("address") else {
        return false;
    };
    let account = |v: Option<&Value>, acc: &crate::address::ChannelAccount| {
        v.is_some_and(|v| same(v, "id", Some(&acc.id)) && same(v, "name", acc.name.as_deref()))
    };
    stored.get("unreachable").is_none_or(Value::is_null)
        && same(a, "channelId", Some(&incoming.channel_id))
        && same(a, "serviceUrl", Some(&incoming.service_url))
        && same(a, "locale", locale)
        && account(a.get("user"), &incoming.user)
        && account(a.get("bot"), &incoming.bot)
        && a.get("conversation")
            .and_then(|c| c.get("id"))
            .and_then(Value::as_str)
            == incoming.conversation_id()
}

/// The write (value, precondition) that brings the stored record up to date with `incoming`,
/// or `None` when it already is. `message_locale` stands in for the address's locale when the
/// address has none. The record is read in the turn's batch and written with its
/// compare-and-set, so a record marked unreachable by another process is revived as soon as
/// the user writes again.
pub(crate) fn update_for(
    stored: Option<&Stored>,
    incoming: &Address,
    message_locale: Option<&str>,
) -> Option<(Value, Precondition)> {
    let locale = incoming.locale.as_deref().or(message_locale);
    let pre = match stored {
        Some(s) if up_to_date(&s.value, incoming, locale) => return None,
        Some(s) => Precondition::IfMatch(s.version),
        None => Precondition::IfAbsent,
    };
    let mut address = incoming.without_reply();
    address.locale = locale.map(str::to_owned);
    let rec = AddressRecord {
        address,
        unreachable: None,
    };
    serde_json::to_value(rec).ok().map(|v| (v, pre))
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
            rec.unreachable = Some(status);
            let v = serde_json::to_value(rec).map_err(BotError::dialog)?;
            match self
                .inner
                .storage
                .write(&key, v, Precondition::IfMatch(s.version))
                .await
            {
                Ok(_) => return Ok(()),
                Err(crate::storage::StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
