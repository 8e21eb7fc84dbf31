//! [`Address`]: everything needed to reach a user again.
//!
//! The JSON shape reads a Bot Builder v3 saved address (`session.message.address`) and a
//! v4/.NET `ConversationReference` unchanged, and writes the v3 shape. Fields this crate does
//! not know are kept in `extra` and written back, so a round-trip loses nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A user or a bot on a channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    /// The channel-specific id.
    #[serde(default)]
    pub id: String,
    /// Display name, when the channel gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Fields not modelled here (`role`, `aadObjectId`, ...), kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ChannelAccount {
    /// An account with an id and no name.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// A conversation on a channel.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConversationAccount {
    /// The channel-specific conversation id.
    #[serde(default)]
    pub id: String,
    /// Whether the conversation has more than two members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_group: Option<bool>,
    /// The tenant the conversation belongs to (Teams and other AAD channels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Fields not modelled here, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ConversationAccount {
    /// A conversation with the given id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }
}

/// Everything needed to reach a user again: channel, user, bot, conversation, service URL.
///
/// ```
/// use botcore::Address;
/// // A v3 saved address and a v4 ConversationReference both read unchanged.
/// let v3: Address = serde_json::from_str(r#"{"id":"m1","channelId":"slack",
///   "user":{"id":"U1","name":"ann"},"bot":{"id":"B1"},"conversation":{"id":"C1"},
///   "serviceUrl":"https://slack.botframework.com"}"#).unwrap();
/// let v4: Address = serde_json::from_str(r#"{"activityId":"m1","channelId":"slack",
///   "user":{"id":"U1","name":"ann"},"bot":{"id":"B1"},"conversation":{"id":"C1"},
///   "serviceUrl":"https://slack.botframework.com","locale":"en-US"}"#).unwrap();
/// assert_eq!(v3.reply_to_id(), v4.reply_to_id());
/// assert_eq!(v4.conversation_id(), Some("C1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// The channel (`"slack"`, `"msteams"`, `"directline"`, ...).
    #[serde(default)]
    pub channel_id: String,
    /// The user to reach.
    #[serde(default)]
    pub user: ChannelAccount,
    /// The bot's identity on the channel.
    #[serde(default)]
    pub bot: ChannelAccount,
    /// The conversation; `None` means "start a conversation first".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    /// The Connector service URL of the channel.
    #[serde(default)]
    pub service_url: String,
    /// The id of the message to reply to (v3 `id`, v4 `activityId`).
    #[serde(default, alias = "activityId", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The locale the user last wrote in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Fields not modelled here, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Address {
    /// A new address on `channel_id` for `user`, with no conversation yet.
    pub fn new(channel_id: impl Into<String>, user: ChannelAccount, bot: ChannelAccount) -> Self {
        Self {
            channel_id: channel_id.into(),
            user,
            bot,
            ..Self::default()
        }
    }

    /// Sets the conversation id.
    pub fn with_conversation(mut self, id: impl Into<String>) -> Self {
        self.conversation = Some(ConversationAccount::new(id));
        self
    }

    /// Sets the service URL.
    pub fn with_service_url(mut self, url: impl Into<String>) -> Self {
        self.service_url = url.into();
        self
    }

    /// The conversation id, if the address has a conversation.
    pub fn conversation_id(&self) -> Option<&str> {
        self.conversation
            .as_ref()
            .map(|c| c.id.as_str())
            .filter(|id| !id.is_empty())
    }

    /// The id of the message a reply should thread under.
    pub fn reply_to_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The tenant id, from the conversation (v4) or from `channelData.tenant.id` (Teams).
    pub fn tenant_id(&self) -> Option<&str> {
        self.conversation
            .as_ref()
            .and_then(|c| c.tenant_id.as_deref())
            .or_else(|| {
                self.extra
                    .get("channelData")?
                    .get("tenant")?
                    .get("id")?
                    .as_str()
            })
    }

    /// This address without the message id: for a new message rather than a reply.
    pub fn without_reply(&self) -> Self {
        let mut a = self.clone();
        a.id = None;
        a
    }
}
