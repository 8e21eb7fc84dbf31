//! [`Pending`]: a conversation's outbox record — messages a committed turn sent that are not
//! known to be delivered yet. A turn writes it in the same compare-and-set batch as its
//! state, delivers the messages in order and then deletes it (or rewrites it with what is
//! still pending). While a process delivers, the record carries its lease, so another process
//! neither sends the same messages nor overtakes them; a record whose lease ran out belongs to
//! whichever process comes first (the conversation's next turn, a redelivery of the activity,
//! or the sweep).
//!
//! Stored shape, under `outbox/<channel>/<conversation>`:
//! `{"owner": "<process>", "leaseUntil": <ms>, "tries": <n>, "messages": [<Message>, ...]}`.

use crate::contracts::connector::DeliveryError;
use crate::contracts::message::Message;
use crate::contracts::storage::{Precondition, Stored, Version};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The prefix of every outbox key.
pub(crate) const OUTBOX_PREFIX: &str = "outbox/";

/// How many delivery passes may leave a message pending before it is given up (logged as an
/// error and dropped), so a message no channel will ever take cannot block its conversation.
pub(crate) const MAX_TRIES: u32 = 20;

/// Whether a message that failed with `e` stays in the outbox for a later try (the channel
/// could not take it yet, or may not have); the others are refused for good.
pub(crate) fn retry_later(e: &DeliveryError) -> bool {
    matches!(
        e,
        DeliveryError::Throttled { .. }
            | DeliveryError::Unreachable(_)
            | DeliveryError::Ambiguous(_)
            | DeliveryError::Auth(_)
            | DeliveryError::Skipped
    )
}

/// The stored form of an outbox record.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    #[serde(default)]
    owner: String,
    #[serde(default)]
    lease_until: u64,
    #[serde(default)]
    tries: u32,
    #[serde(default)]
    messages: Vec<Message>,
}

/// A conversation's outbox record as read, with its version.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pending {
    /// The messages not known to be delivered, in order.
    pub(crate) messages: Vec<Message>,
    /// The process holding the lease (or that held it last).
    pub(crate) owner: String,
    /// Until when (bot clock, ms) the owner's lease runs.
    pub(crate) lease_until: u64,
    /// Delivery passes that left the first message pending.
    pub(crate) tries: u32,
    /// The version read (`None`: there is no record).
    pub(crate) version: Option<Version>,
}

impl Pending {
    /// Reads a stored record; an unreadable one is reported and treated as empty (its version
    /// kept, so the next write replaces it).
    pub(crate) fn load(key: &str, stored: Option<Stored>) -> Self {
        let Some(stored) = stored else {
            return Self::default();
        };
        let version = Some(stored.version);
        match serde_json::from_value::<Record>(stored.value) {
            Ok(r) => Self {
                messages: r.messages,
                owner: r.owner,
                lease_until: r.lease_until,
                tries: r.tries,
                version,
            },
            Err(e) => {
                tracing::error!(key, error = %e, "unreadable outbox record dropped");
                Self {
                    version,
                    ..Self::default()
                }
            }
        }
    }

    /// Whether a process other than `me` is delivering these messages now.
    pub(crate) fn leased_by_other(&self, me: &str, now: u64) -> bool {
        !self.messages.is_empty() && self.owner != me && self.lease_until > now
    }

    /// The precondition of a write that replaces the record read.
    pub(crate) fn precondition(&self) -> Precondition {
        match self.version {
            Some(v) => Precondition::IfMatch(v),
            None => Precondition::IfAbsent,
        }
    }
}

/// The stored value of an outbox record holding `messages`, leased by `owner` until
/// `lease_until`.
pub(crate) fn encode(messages: &[Message], owner: &str, lease_until: u64, tries: u32) -> Value {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Out<'a> {
        owner: &'a str,
        lease_until: u64,
        tries: u32,
        messages: &'a [Message],
    }
    serde_json::to_value(Out {
        owner,
        lease_until,
        tries,
        messages,
    })
    .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contracts::address::{Address, ChannelAccount};

    fn stored(value: Value) -> Option<Stored> {
        Some(Stored {
            value,
            version: Version(3),
        })
    }

    #[test]
    fn a_record_round_trips_with_its_messages_in_order() {
        let a = Address::new("mock", ChannelAccount::new("u"), ChannelAccount::new("b"))
            .with_conversation("c");
        let out = vec![Message::to(&a).text("one"), Message::to(&a).text("two")];
        let p = Pending::load("k", stored(encode(&out, "p1", 50, 2)));
        assert_eq!(p.messages, out);
        assert_eq!((p.owner.as_str(), p.lease_until, p.tries), ("p1", 50, 2));
        assert!(p.leased_by_other("p2", 49));
        assert!(!p.leased_by_other("p1", 49));
        assert!(!p.leased_by_other("p2", 50));
    }

    #[test]
    fn an_unreadable_record_reads_as_empty_at_its_version() {
        let p = Pending::load("k", stored(Value::from(7)));
        assert!(p.messages.is_empty());
        assert_eq!(p.precondition(), Precondition::IfMatch(Version(3)));
    }
}
