//! [`Message`]: what comes in from a channel and what goes out to it.

use crate::contracts::address::Address;
use crate::contracts::card::{Attachment, AttachmentLayout, SuggestedActions};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The kind of a message (the Activity `type`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MessageKind {
    /// A text/attachment message.
    #[default]
    Message,
    /// A typing indicator.
    Typing,
    /// The end of a conversation (with a `code`).
    EndOfConversation,
    /// A named event.
    Event,
    /// Members joined or left.
    ConversationUpdate,
    /// The bot was added to or removed from a contact list.
    ContactRelationUpdate,
    /// An invoke (a request that expects an answer).
    Invoke,
    /// Any other activity type, kept by name.
    Other(String),
}

impl MessageKind {
    /// The wire name of the kind.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Message => "message",
            Self::Typing => "typing",
            Self::EndOfConversation => "endOfConversation",
            Self::Event => "event",
            Self::ConversationUpdate => "conversationUpdate",
            Self::ContactRelationUpdate => "contactRelationUpdate",
            Self::Invoke => "invoke",
            Self::Other(s) => s,
        }
    }

    /// Reads a wire name.
    pub fn parse(s: &str) -> Self {
        match s {
            "message" => Self::Message,
            "typing" => Self::Typing,
            "endOfConversation" => Self::EndOfConversation,
            "event" => Self::Event,
            "conversationUpdate" => Self::ConversationUpdate,
            "contactRelationUpdate" => Self::ContactRelationUpdate,
            "invoke" => Self::Invoke,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl Serialize for MessageKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for MessageKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::parse(&s))
    }
}

/// A message to or from a user.
///
/// `Message` is its own builder: start with [`Message::to`] and chain.
///
/// ```
/// use botcore::{Address, ChannelAccount, Message};
/// let address = Address::new("mock", ChannelAccount::new("ann"), ChannelAccount::new("bot"))
///     .with_conversation("c1");
/// let m = Message::to(&address).text("Hello, this is a notification").locale("en-US");
/// assert_eq!(m.text, "Hello, this is a notification");
/// assert_eq!(m.address.conversation_id(), Some("c1"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// The kind of message.
    #[serde(rename = "type", default)]
    pub kind: MessageKind,
    /// The text (empty when there is none).
    #[serde(default)]
    pub text: String,
    /// The locale of the text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// Attachments (cards, images, ...), as the channel's JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Value>,
    /// How several attachments are shown: `list` (the default) or `carousel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attachment_layout: Option<String>,
    /// Suggested actions (quick-reply buttons).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggested_actions: Option<Value>,
    /// `acceptingInput`, `expectingInput` or `ignoringInput`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_hint: Option<String>,
    /// Entities (mentions, places, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Value>,
    /// Channel-specific data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    /// The value of an event or invoke, or of a card action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The name of an event or invoke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The code of an endOfConversation (`completedSuccessfully`, `unknown`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Where the message came from or goes to.
    #[serde(default)]
    pub address: Address,
    /// When the message was sent (RFC 3339), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The sender's local time when the message was sent (RFC 3339 with the user's offset),
    /// when the channel gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_timestamp: Option<String>,
    /// The sender's IANA time zone (e.g. `Europe/Paris`), when the channel gives it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_timezone: Option<String>,
    /// Fields of the incoming activity not modelled here, kept as they came.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A new, empty message to `address`.
    pub fn to(address: &Address) -> Self {
        Self {
            address: address.clone(),
            ..Self::default()
        }
    }

    /// A message of the given kind to `address`.
    pub fn of_kind(kind: MessageKind, address: &Address) -> Self {
        Self {
            kind,
            address: address.clone(),
            ..Self::default()
        }
    }

    /// Sets the text.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    /// Sets the locale.
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = Some(locale.into());
        self
    }

    /// Adds an attachment.
    pub fn attachment(mut self, attachment: Value) -> Self {
        self.attachments.push(attachment);
        self
    }

    /// Adds a card or file: a [`HeroCard`](crate::HeroCard), [`ThumbnailCard`](crate::ThumbnailCard),
    /// [`AdaptiveCard`](crate::AdaptiveCard) or [`Attachment`].
    ///
    /// ```
    /// use botcore::{AdaptiveCard, Message, ThumbnailCard, json};
    /// let m = Message::default()
    ///     .card(ThumbnailCard::new().title("Margherita"))
    ///     .card(AdaptiveCard::new(json!({"type": "AdaptiveCard", "version": "1.5", "body": []})))
    ///     .carousel();
    /// assert_eq!(m.attachments.len(), 2);
    /// assert_eq!(m.attachments[1]["contentType"], "application/vnd.microsoft.card.adaptive");
    /// assert_eq!(m.attachment_layout.as_deref(), Some("carousel"));
    /// ```
    pub fn card(mut self, card: impl Into<Attachment>) -> Self {
        self.attachments.push(card.into().to_json());
        self
    }

    /// Sets how several attachments are shown.
    pub fn attachment_layout(mut self, layout: AttachmentLayout) -> Self {
        self.attachment_layout = Some(layout.as_str().to_owned());
        self
    }

    /// Shows the attachments side by side ([`AttachmentLayout::Carousel`]).
    pub fn carousel(self) -> Self {
        self.attachment_layout(AttachmentLayout::Carousel)
    }

    /// Sets quick-reply buttons ([`SuggestedActions`]).
    pub fn suggested(mut self, actions: SuggestedActions) -> Self {
        self.suggested_actions = Some(actions.to_json());
        self
    }

    /// The attachments read as [`Attachment`]s (entries that are not attachment objects are
    /// left out).
    pub fn typed_attachments(&self) -> Vec<Attachment> {
        self.attachments
            .iter()
            .filter_map(|a| serde_json::from_value(a.clone()).ok())
            .collect()
    }

    /// The suggested actions read as [`SuggestedActions`], if any.
    pub fn typed_suggested_actions(&self) -> Option<SuggestedActions> {
        serde_json::from_value(self.suggested_actions.clone()?).ok()
    }

    /// Adds an entity.
    pub fn entity(mut self, entity: Value) -> Self {
        self.entities.push(entity);
        self
    }

    /// Sets the suggested actions.
    pub fn suggested_actions(mut self, actions: Value) -> Self {
        self.suggested_actions = Some(actions);
        self
    }

    /// Sets the input hint.
    pub fn input_hint(mut self, hint: impl Into<String>) -> Self {
        self.input_hint = Some(hint.into());
        self
    }

    /// Sets the channel data.
    pub fn channel_data(mut self, data: Value) -> Self {
        self.channel_data = Some(data);
        self
    }

    /// Sets the value.
    pub fn value(mut self, value: Value) -> Self {
        self.value = Some(value);
        self
    }

    /// Sets the name (for events and invokes).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the endOfConversation code.
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Sets the timestamp.
    pub fn timestamp(mut self, ts: impl Into<String>) -> Self {
        self.timestamp = Some(ts.into());
        self
    }

    /// Sets the sender's local time (RFC 3339 with the user's offset).
    pub fn local_timestamp(mut self, ts: impl Into<String>) -> Self {
        self.local_timestamp = Some(ts.into());
        self
    }

    /// Sets the sender's IANA time zone (e.g. `Europe/Paris`).
    pub fn local_timezone(mut self, tz: impl Into<String>) -> Self {
        self.local_timezone = Some(tz.into());
        self
    }

    /// Whether this is a text/attachment message.
    pub fn is_message(&self) -> bool {
        self.kind == MessageKind::Message
    }
}

impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Self::default().text(text)
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Self::default().text(text)
    }
}
