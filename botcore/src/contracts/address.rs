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

    /// The root message of the Teams channel thread the conversation is, from a conversation
    /// id of the form `19:…@thread.tacv2;messageid=<root>`.
    ///
    /// Teams' rule: a message to the conversation id *with* `;messageid=` goes into that
    /// thread (replies to a channel thread keep the id as it came); a message to the id
    /// *without* it starts a new post in the channel ([`without_thread`](Self::without_thread)).
    ///
    /// ```
    /// use botcore::{Address, ChannelAccount};
    /// let a = Address::new("msteams", ChannelAccount::new("29:ann"), ChannelAccount::new("28:bot"))
    ///     .with_conversation("19:abc@thread.tacv2;messageid=1714557000000");
    /// assert_eq!(a.thread_root_id(), Some("1714557000000"));
    /// let post = a.without_thread();
    /// assert_eq!(post.conversation_id(), Some("19:abc@thread.tacv2"));
    /// assert_eq!(post.thread_root_id(), None);
    /// // Continue in the thread a new post started:
    /// let thread = post.in_thread("1714557999999");
    /// assert_eq!(thread.conversation_id(), Some("19:abc@thread.tacv2;messageid=1714557999999"));
    /// ```
    pub fn thread_root_id(&self) -> Option<&str> {
        self.conversation_id()?
            .split_once(THREAD_MARKER)
            .map(|(_, root)| root)
            .filter(|root| !root.is_empty())
    }

    /// This address for a new post in the channel: the conversation id without its
    /// `;messageid=` thread part, and no message to reply to.
    pub fn without_thread(&self) -> Self {
        let mut a = self.without_reply();
        if let Some(c) = a.conversation.as_mut()
            && let Some((channel, _)) = c.id.split_once(THREAD_MARKER)
        {
            c.id = channel.to_owned();
        }
        a
    }

    /// This address in the channel thread whose root message is `root_id` (for example the
    /// activity id a new post got), with no message to reply to.
    pub fn in_thread(&self, root_id: &str) -> Self {
        let mut a = self.without_thread();
        if let Some(c) = a.conversation.as_mut() {
            c.id = format!("{}{THREAD_MARKER}{root_id}", c.id);
        }
        a
    }
}

/// What separates a Teams channel id from the thread's root message id.
const THREAD_MARKER: &str = ";messageid=";
