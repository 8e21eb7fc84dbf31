//! Bot Framework Activity JSON ⇄ [`Message`].
//!
//! [`Activity`] is the wire shape. Inbound, the activity's `from` becomes the address's user,
//! `recipient` its bot, and `conversation`, `channelId`, `serviceUrl`, `id` and `locale` the
//! rest of the address; fields botcore does not model (`replyToId` among them) land in
//! [`Message::extra`] unchanged. Outbound, the address is turned around: `from` is the bot,
//! `recipient` the user, and `replyToId` the address's `id` (see [`Activity::outgoing`]).
//!
//! What the address keeps from an inbound activity besides its accounts:
//! - the tenant, from `channelData.tenant.id` (Teams): in `conversation.tenantId` when the
//!   conversation does not name one, and as `channelData.tenant` — so a saved address still
//!   has it for [`createConversation`](crate::connector);
//! - the user's time zone (`localTimezone`, when it is a known IANA name) and UTC offset
//!   (from `localTimestamp`, as `utcOffset`), so that outgoing activities — proactive ones
//!   too — carry a `localTimestamp` in the user's time.

mod outgoing;
mod user_time;

pub(crate) use outgoing::outgoing_body;
pub use outgoing::{activity_from_message, bot_account};

use crate::trust::normalize;
use botcore::{Address, ChannelAccount, ConversationAccount, Message, MessageKind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Why an inbound activity was refused (answered with `400`): a short, safe reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ActivityError(pub String);

fn bad(reason: impl Into<String>) -> ActivityError {
    ActivityError(reason.into())
}

/// A Bot Framework activity as it travels on the wire.
///
/// Every field is optional here; [`Message::try_from`] checks what an inbound activity must
/// have. A JSON `null` reads as an absent field. Fields not listed are kept in
/// [`extra`](Self::extra) and written back as they came.
///
/// ```
/// use transport_http::activity::Activity;
/// let json = serde_json::json!({"type":"message","text":"hi","textFormat":"plain"});
/// let a: Activity = serde_json::from_value(json.clone()).unwrap();
/// assert_eq!(a.text.as_deref(), Some("hi"));
/// assert_eq!(a.extra["textFormat"], "plain");
/// assert_eq!(serde_json::to_value(&a).unwrap(), json);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Activity {
    /// `type`: `message`, `conversationUpdate`, `event`, ...
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<MessageKind>,
    /// The activity's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When the activity was sent (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The Connector service URL of the channel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_url: Option<String>,
    /// The channel (`msteams`, `directline`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// The sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<ChannelAccount>,
    /// The receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recipient: Option<ChannelAccount>,
    /// The conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationAccount>,
    /// The sender's local time (RFC 3339 with the sender's offset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_timestamp: Option<String>,
    /// The sender's IANA time zone (`Europe/Berlin`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_timezone: Option<String>,
    /// The locale of the text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Attachments (cards, images, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Value>>,
    /// How several attachments are shown: `list` or `carousel`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment_layout: Option<String>,
    /// Suggested actions (quick-reply buttons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_actions: Option<Value>,
    /// `acceptingInput`, `expectingInput` or `ignoringInput`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_hint: Option<String>,
    /// Entities (mentions, places, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entities: Option<Vec<Value>>,
    /// Channel-specific data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<Value>,
    /// The value of an event, an invoke or a card action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// The name of an event or invoke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The code of an `endOfConversation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Every other field (`textFormat`, `membersAdded`, ...), as it came.
    ///
    /// `replyToId` is one of them: botcore keeps an inbound one in [`Message::extra`] as it
    /// came, whatever its type, and [`Activity::outgoing`] sets it to the address's `id`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Reads an activity from a request body.
///
/// ```
/// let body = br#"{"type":"message","id":"a1","channelId":"directline","serviceUrl":"http://127.0.0.1:3000",
///   "from":{"id":"u1","name":"Ann"},"conversation":{"id":"c1"},"text":"hi","textFormat":"plain"}"#;
/// let m = transport_http::activity::message_from_body(body).unwrap();
/// assert_eq!(m.text, "hi");
/// assert_eq!(m.address.user.id, "u1");
/// assert_eq!(m.address.reply_to_id(), Some("a1"));
/// assert_eq!(m.extra["textFormat"], "plain");
/// ```
pub fn message_from_body(body: &[u8]) -> Result<Message, ActivityError> {
    // Straight from the bytes, with no JSON tree in between. Anything this refuses (malformed
    // JSON, a field of the wrong type, a duplicated field) is read again through a tree,
    // which decides the outcome and words the error.
    let object = body.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'{');
    let mut de = serde_json::Deserializer::from_slice(body);
    if object
        && let Ok(activity) = Activity::deserialize(&mut de)
        && de.end().is_ok()
    {
        return Message::try_from(activity);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        use serde_json::error::Category;
        let what = match e.classify() {
            Category::Io => "io",
            Category::Syntax => "syntax error",
            Category::Data => "unexpected data",
            Category::Eof => "unexpected end",
        };
        bad(format!("malformed JSON ({what})"))
    })?;
    message_from_activity(value)
}

/// Reads an activity already parsed as JSON.
pub fn message_from_activity(value: Value) -> Result<Message, ActivityError> {
    if !value.is_object() {
        return Err(bad("an activity must be a JSON object"));
    }
    let activity: Activity = serde_path_to_error::deserialize(value).map_err(wrong_type)?;
    Message::try_from(activity)
}

/// "`from.id` must be a string": the field's path and the JSON type it needs. Only serde's
/// name of the expected type is read from its message, never the offending value, so the
/// reason stays short and echoes nothing of the request.
fn wrong_type(e: serde_path_to_error::Error<serde_json::Error>) -> ActivityError {
    let path = e.path().to_string();
    let message = e.into_inner().to_string();
    let expected = message.rsplit_once(", expected ").map(|(_, x)| x);
    let needed = match expected {
        Some(x) if x.starts_with("a string") => "a string",
        Some(x) if x.starts_with("a sequence") => "an array",
        Some(x) if x.starts_with("a boolean") => "a boolean",
        Some(x) if x.starts_with("struct ") || x.starts_with("a map") => "an object",
        _ => return bad(format!("`{path}` has the wrong type")),
    };
    bad(format!("`{path}` must be {needed}"))
}

fn required(value: Option<String>, field: &str) -> Result<String, ActivityError> {
    value
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("missing `{field}`")))
}

impl TryFrom<Activity> for Message {
    type Error = ActivityError;

    /// Checks that the activity can be answered (`type`, `channelId`, an http(s)
    /// `serviceUrl`, `conversation.id`, and `from.id` on a message) and builds the message.
    fn try_from(activity: Activity) -> Result<Self, ActivityError> {
        let kind = activity
            .kind
            .filter(|k| !k.as_str().is_empty())
            .ok_or_else(|| bad("missing `type`"))?;
        let channel_id = required(activity.channel_id, "channelId")?;
        let service_url = required(activity.service_url, "serviceUrl")?;
        if normalize(&service_url).is_none() {
            return Err(bad("`serviceUrl` must be an http(s) URL"));
        }
        let mut conversation = activity
            .conversation
            .ok_or_else(|| bad("missing `conversation`"))?;
        if conversation.id.is_empty() {
            return Err(bad("missing `conversation.id`"));
        }
        let user = activity.from.unwrap_or_default();
        if user.id.is_empty() && kind == MessageKind::Message {
            return Err(bad("missing `from.id`"));
        }

        let tenant = activity
            .channel_data
            .as_ref()
            .and_then(|d| d.get("tenant"))
            .filter(|t| t.is_object());
        if conversation.tenant_id.is_none() {
            conversation.tenant_id = tenant
                .and_then(|t| t.get("id")?.as_str())
                .filter(|id| !id.is_empty())
                .map(str::to_owned);
        }
        let mut address = Address::new(channel_id, user, activity.recipient.unwrap_or_default());
        address.conversation = Some(conversation);
        address.service_url = service_url;
        address.id = activity.id;
        address.locale = activity.locale.clone();
        if let Some(tenant) = tenant {
            address
                .extra
                .insert("channelData".into(), json!({ "tenant": tenant }));
        }
        user_time::remember(
            &mut address,
            activity.local_timestamp.as_deref(),
            activity.local_timezone.as_deref(),
        );

        let mut m = Message::of_kind(kind, &address);
        m.text = activity.text.unwrap_or_default();
        m.locale = activity.locale;
        m.attachments = activity.attachments.unwrap_or_default();
        m.attachment_layout = activity.attachment_layout;
        m.entities = activity.entities.unwrap_or_default();
        m.suggested_actions = activity.suggested_actions;
        m.input_hint = activity.input_hint;
        m.channel_data = activity.channel_data;
        m.value = activity.value;
        m.name = activity.name;
        m.code = activity.code;
        m.timestamp = activity.timestamp;
        m.local_timestamp = activity.local_timestamp;
        m.local_timezone = activity.local_timezone;
        m.extra = activity.extra;
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
