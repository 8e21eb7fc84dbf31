//! The address book: the latest address of every user who wrote to the bot.
//!
//! Every incoming message upserts its user's record (only when something changed, in the
//! turn's own compare-and-set batch). Proactive sends read it to refuse users who never wrote
//! (`NotConsented`) and to refresh a stale service URL.

use crate::address::Address;
use crate::bot::Bot;
use crate::error::BotError;
use crate::state::{ADDRESS_PREFIX, address_key, address_mark_key};
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

/// A fingerprint of everything the address book records about an incoming address.
fn fingerprint(incoming: &Address, locale: Option<&str>) -> u64 {
    // Raw bytes with explicit tags and separators (not `std::hash::Hash`, whose encoding may
    // change between toolchains): processes built differently must agree on the mark.
    use std::hash::Hasher;
    let mut h = crate::state::Fnv::default();
    let fields = [
        Some(incoming.channel_id.as_str()),
        Some(incoming.user.id.as_str()),
        incoming.user.name.as_deref(),
        Some(incoming.bot.id.as_str()),
        incoming.bot.name.as_deref(),
        incoming.conversation_id(),
        Some(incoming.service_url.as_str()),
        locale,
    ];
    for f in fields {
        match f {
            Some(v) => {
                h.write(&[1]);
                h.write(v.as_bytes());
            }
            None => h.write(&[0]),
        }
        h.write(&[0xff]);
    }
    h.finish()
}

/// The writes that bring a user's address-book entry up to date.
#[derive(Debug, Clone)]
pub(crate) struct AddressUpdate {
    pub(crate) record: Value,
    pub(crate) mark: Value,
    pub(crate) mark_precondition: Precondition,
}

/// Compares the incoming address with the user's mark (a fingerprint of the address last
/// recorded, read in the turn's batch) and returns the writes when it changed. The mark is
/// deleted when the address is marked unreachable, so the user's next message revives the
/// entry whichever process receives it. `message_locale` stands in for the address's locale
/// when the address has none.
pub(crate) fn update_for(
    mark: Option<&Stored>,
    incoming: &Address,
    message_locale: Option<&str>,
) -> Option<AddressUpdate> {
    let locale = incoming.locale.as_deref().or(message_locale);
    let fp = fingerprint(incoming, locale);
    let mark_precondition = match mark {
        Some(s) if s.value.get("fp").and_then(Value::as_u64) == Some(fp) => return None,
        Some(s) => Precondition::IfMatch(s.version),
        None => Precondition::IfAbsent,
    };
    let mut address = incoming.without_reply();
    address.locale = locale.map(str::to_owned);
    let record = serde_json::to_value(AddressRecord {
        address,
        unreachable: None,
    })
    .ok()?;
    Some(AddressUpdate {
        record,
        mark: serde_json::json!({ "fp": fp }),
        mark_precondition,
    })
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
                crate::storage::WriteOp::put(&key, v, Precondition::IfMatch(s.version)),
                crate::storage::WriteOp::delete(mark, Precondition::Any),
            ];
            match self.inner.storage.write_many(ops).await {
                Ok(_) => return Ok(()),
                Err(crate::storage::StorageError::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}
