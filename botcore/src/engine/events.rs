//! Typed lifecycle events: members joining and leaving a conversation, read from a
//! `conversationUpdate`'s `membersAdded` / `membersRemoved`
//! ([`BotBuilder::on_members_added`](crate::BotBuilder::on_members_added),
//! [`BotBuilder::welcome`](crate::BotBuilder::welcome)).

use crate::contracts::address::{Address, ChannelAccount};
use crate::contracts::message::{Message, MessageKind};
use serde_json::Value;

/// Members joined or left a conversation: a `conversationUpdate` with `membersAdded` or
/// `membersRemoved`, the bot itself left out of both lists.
///
/// ```
/// use botcore::{Address, ChannelAccount, Message, MessageKind, MembersChanged, json};
/// let address = Address::new("webchat", ChannelAccount::new("ann"), ChannelAccount::new("bot"))
///     .with_conversation("c1");
/// let mut update = Message::of_kind(MessageKind::ConversationUpdate, &address);
/// update.extra.insert("membersAdded".into(), json!([{"id": "ann"}, {"id": "bot"}]));
/// let event = MembersChanged::from_activity(&update).unwrap();
/// assert_eq!(event.added, vec![ChannelAccount::new("ann")]);
/// assert!(event.bot_added);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MembersChanged {
    /// The `conversationUpdate` as it came (its channel data, the Teams tenant, ...).
    pub activity: Message,
    /// Who joined, without the bot.
    pub added: Vec<ChannelAccount>,
    /// Who left, without the bot.
    pub removed: Vec<ChannelAccount>,
    /// Whether the bot itself joined (it was installed in a team, added to a group, ...).
    pub bot_added: bool,
    /// Whether the bot itself left.
    pub bot_removed: bool,
}

impl MembersChanged {
    /// Reads a `conversationUpdate` activity. `None` for other activities and for an update
    /// that names no members. The bot is recognized by the address's bot id, or, when the
    /// activity named no recipient, by the member's `role: "bot"`.
    pub fn from_activity(activity: &Message) -> Option<Self> {
        if activity.kind != MessageKind::ConversationUpdate {
            return None;
        }
        let (added, bot_added) = members(activity, "membersAdded");
        let (removed, bot_removed) = members(activity, "membersRemoved");
        if added.is_empty() && removed.is_empty() && !bot_added && !bot_removed {
            return None;
        }
        Some(Self {
            activity: activity.clone(),
            added,
            removed,
            bot_added,
            bot_removed,
        })
    }

    /// The conversation's address, not as a reply to the update: where a hook's messages
    /// without an address go.
    pub fn address(&self) -> Address {
        self.activity.address.without_reply()
    }

    /// A new message to the conversation, addressed to `member` (for a greeting).
    pub fn message_to(&self, member: &ChannelAccount) -> Message {
        let mut address = self.address();
        address.user = member.clone();
        Message::to(&address)
    }
}

/// The members listed under `field`, and whether the bot was one of them.
fn members(activity: &Message, field: &str) -> (Vec<ChannelAccount>, bool) {
    let listed: Vec<ChannelAccount> = activity
        .extra
        .get(field)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let bot = &activity.address.bot.id;
    let is_bot = |m: &ChannelAccount| {
        if bot.is_empty() {
            m.extra.get("role").and_then(Value::as_str) == Some("bot")
        } else {
            m.id == *bot
        }
    };
    let with_bot = listed.iter().any(is_bot);
    (
        listed.into_iter().filter(|m| !is_bot(m)).collect(),
        with_bot,
    )
}
