//! The address-book record of a user, and the writes a turn makes to keep it current.
//!
//! Every incoming message upserts its user's record (only when something changed, in the
//! turn's own compare-and-set batch); `proactive::address_book` reads the book.

use crate::contracts::address::Address;
use crate::contracts::storage::{Precondition, Stored};
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

/// A fingerprint of everything the address book records about an incoming address.
fn fingerprint(incoming: &Address, locale: Option<&str>) -> u64 {
    // Raw bytes with explicit tags and separators (not `std::hash::Hash`, whose encoding may
    // change between toolchains): processes built differently must agree on the mark.
    use std::hash::Hasher;
    let mut h = crate::model::state::Fnv::default();
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
