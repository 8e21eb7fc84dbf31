//! Bot Framework Activity JSON ⇄ [`Message`].
//!
//! Inbound, the activity's `from` becomes the address's user, `recipient` its bot, and
//! `conversation`, `channelId`, `serviceUrl`, `id` and `locale` the rest of the address; fields
//! botcore does not model land in [`Message::extra`] unchanged. Outbound, the address is turned
//! around: `from` is the bot, `recipient` the user, and `replyToId` the address's `id`.

use crate::trust::normalize;
use botcore::{Address, ChannelAccount, ConversationAccount, Message, MessageKind};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::fmt;

/// Why an inbound activity was refused (answered with `400`): a short, safe reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityError(pub String);

impl fmt::Display for ActivityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ActivityError {}

fn bad(reason: impl Into<String>) -> ActivityError {
    ActivityError(reason.into())
}

/// Fields the conversion reads; everything else is kept in `extra`.
const MODELLED: &[&str] = &[
    "type",
    "id",
    "timestamp",
    "serviceUrl",
    "channelId",
    "from",
    "recipient",
    "conversation",
    "locale",
    "text",
    "attachments",
    "suggestedActions",
    "inputHint",
    "entities",
    "channelData",
    "value",
    "name",
    "code",
];

fn take(obj: &mut Map<String, Value>, field: &str) -> Option<Value> {
    obj.remove(field).filter(|v| !v.is_null())
}

fn take_str(obj: &mut Map<String, Value>, field: &str) -> Result<Option<String>, ActivityError> {
    match take(obj, field) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("`{field}` must be a string"))),
    }
}

fn take_required_str(obj: &mut Map<String, Value>, field: &str) -> Result<String, ActivityError> {
    take_str(obj, field)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("missing `{field}`")))
}

fn take_array(obj: &mut Map<String, Value>, field: &str) -> Result<Vec<Value>, ActivityError> {
    match take(obj, field) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(bad(format!("`{field}` must be an array"))),
    }
}

fn take_object<T: DeserializeOwned>(
    obj: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<T>, ActivityError> {
    match take(obj, field) {
        None => Ok(None),
        Some(v @ Value::Object(_)) => serde_json::from_value(v)
            .map(Some)
            .map_err(|_| bad(format!("`{field}` has fields of the wrong type"))),
        Some(_) => Err(bad(format!("`{field}` must be an object"))),
    }
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
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("malformed JSON ({})", e.classify_name())))?;
    message_from_activity(value)
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

/// Reads an activity already parsed as JSON.
pub fn message_from_activity(value: Value) -> Result<Message, ActivityError> {
    let Value::Object(mut obj) = value else {
        return Err(bad("an activity must be a JSON object"));
    };
    let kind = MessageKind::parse(&take_required_str(&mut obj, "type")?);
    let channel_id = take_required_str(&mut obj, "channelId")?;
    let service_url = take_required_str(&mut obj, "serviceUrl")?;
    if normalize(&service_url).is_none() {
        return Err(bad("`serviceUrl` must be an http(s) URL"));
    }
    let conversation: ConversationAccount =
        take_object(&mut obj, "conversation")?.ok_or_else(|| bad("missing `conversation`"))?;
    if conversation.id.is_empty() {
        return Err(bad("missing `conversation.id`"));
    }
    let user: ChannelAccount = take_object(&mut obj, "from")?.unwrap_or_default();
    if user.id.is_empty() && kind == MessageKind::Message {
        return Err(bad("missing `from.id`"));
    }
    let bot: ChannelAccount = take_object(&mut obj, "recipient")?.unwrap_or_default();
    let id = take_str(&mut obj, "id")?;
    let locale = take_str(&mut obj, "locale")?;
    let channel_data = take(&mut obj, "channelData");

    let mut address = Address::new(channel_id, user, bot);
    address.conversation = Some(conversation);
    address.service_url = service_url;
    address.id = id;
    address.locale = locale.clone();
    if let Some(tenant) = channel_data
        .as_ref()
        .and_then(|d| d.get("tenant"))
        .filter(|t| t.is_object())
    {
        address
            .extra
            .insert("channelData".into(), json!({ "tenant": tenant }));
    }

    let mut m = Message::of_kind(kind, &address);
    m.text = take_str(&mut obj, "text")?.unwrap_or_default();
    m.locale = locale;
    m.attachments = take_array(&mut obj, "attachments")?;
    m.entities = take_array(&mut obj, "entities")?;
    m.suggested_actions = take(&mut obj, "suggestedActions");
    m.input_hint = take_str(&mut obj, "inputHint")?;
    m.channel_data = channel_data;
    m.value = take(&mut obj, "value");
    m.name = take_str(&mut obj, "name")?;
    m.code = take_str(&mut obj, "code")?;
    m.timestamp = take_str(&mut obj, "timestamp")?;
    // Whatever is left (`localTimestamp`, `textFormat`, `membersAdded`, `replyToId`, ...).
    for key in MODELLED {
        obj.remove(*key);
    }
    m.extra = obj;
    Ok(m)
}

fn account(a: &ChannelAccount) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}

/// Writes the activity that sends `message` to its address: `from` = the bot, `recipient` =
/// the user, `replyToId` = the address's message id. Fields in `message.extra` are written
/// too, without overriding the modelled ones.
///
/// ```
/// use botcore::{Address, ChannelAccount, Message};
/// let mut a = Address::new("directline", ChannelAccount::new("u1"), ChannelAccount::new("bot"))
///     .with_conversation("c1")
///     .with_service_url("http://127.0.0.1:3000");
/// a.id = Some("a1".into());
/// let act = transport_http::activity::activity_from_message(&Message::to(&a).text("echo: hi"));
/// assert_eq!(act["from"]["id"], "bot");
/// assert_eq!(act["recipient"]["id"], "u1");
/// assert_eq!(act["replyToId"], "a1");
/// assert_eq!(act["text"], "echo: hi");
/// ```
pub fn activity_from_message(message: &Message) -> Value {
    let mut obj = message.extra.clone();
    let a = &message.address;
    let mut put = |k: &str, v: Value| {
        obj.insert(k.to_owned(), v);
    };
    put("type", Value::String(message.kind.as_str().to_owned()));
    if !message.text.is_empty() {
        put("text", Value::String(message.text.clone()));
    }
    if let Some(l) = message.locale.as_ref().or(a.locale.as_ref()) {
        put("locale", Value::String(l.clone()));
    }
    if !message.attachments.is_empty() {
        put("attachments", Value::Array(message.attachments.clone()));
    }
    if !message.entities.is_empty() {
        put("entities", Value::Array(message.entities.clone()));
    }
    let optional: [(&str, Option<Value>); 7] = [
        ("suggestedActions", message.suggested_actions.clone()),
        ("inputHint", message.input_hint.clone().map(Value::String)),
        ("channelData", message.channel_data.clone()),
        ("value", message.value.clone()),
        ("name", message.name.clone().map(Value::String)),
        ("code", message.code.clone().map(Value::String)),
        ("timestamp", message.timestamp.clone().map(Value::String)),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            put(k, v);
        }
    }
    put("from", account(&a.bot));
    put("recipient", account(&a.user));
    if let Some(c) = &a.conversation {
        put(
            "conversation",
            serde_json::to_value(c).unwrap_or(Value::Null),
        );
    }
    put("channelId", Value::String(a.channel_id.clone()));
    put("serviceUrl", Value::String(a.service_url.clone()));
    if let Some(id) = &a.id {
        put("replyToId", Value::String(id.clone()));
    }
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Value {
        json!({"type":"message","channelId":"msteams","serviceUrl":"https://smba.trafficmanager.net/emea/",
               "from":{"id":"29:u","name":"Ann","aadObjectId":"x"},"conversation":{"id":"a:1","tenantId":"t1"},
               "recipient":{"id":"28:b","name":"Bot"},"id":"m1","locale":"de-DE","text":"hallo",
               "channelData":{"tenant":{"id":"t1"}},"localTimestamp":"2024-01-01T00:00:00+01:00"})
    }

    #[test]
    fn inbound_builds_the_address_and_keeps_unknown_fields() {
        let m = message_from_activity(base()).unwrap();
        let a = &m.address;
        assert_eq!((a.user.id.as_str(), a.bot.id.as_str()), ("29:u", "28:b"));
        assert_eq!(a.user.extra["aadObjectId"], "x");
        assert_eq!(a.conversation_id(), Some("a:1"));
        assert_eq!(a.tenant_id(), Some("t1"));
        assert_eq!(a.locale.as_deref(), Some("de-DE"));
        assert_eq!(a.reply_to_id(), Some("m1"));
        assert_eq!(m.extra["localTimestamp"], "2024-01-01T00:00:00+01:00");
        assert!(!m.extra.contains_key("from"));
    }

    #[test]
    fn missing_recipient_and_locale_are_accepted() {
        let mut v = base();
        v.as_object_mut().unwrap().remove("recipient");
        v.as_object_mut().unwrap().remove("locale");
        let m = message_from_activity(v).unwrap();
        assert_eq!(m.address.bot.id, "");
        assert_eq!(m.locale, None);
    }

    #[test]
    fn non_message_kinds_need_no_sender() {
        let v = json!({"type":"conversationUpdate","channelId":"emulator","serviceUrl":"http://127.0.0.1:3000",
                       "conversation":{"id":"c"},"membersAdded":[]});
        let m = message_from_activity(v).unwrap();
        assert_eq!(m.kind, MessageKind::ConversationUpdate);
        assert_eq!(m.extra["membersAdded"], json!([]));
    }

    #[test]
    fn malformed_activities_are_refused_with_a_reason() {
        let cases = [
            (json!([1]), "JSON object"),
            (json!({"channelId":"x"}), "missing `type`"),
            (
                json!({"type":"message","channelId":"x","serviceUrl":"nope","conversation":{"id":"c"}}),
                "serviceUrl",
            ),
            (
                json!({"type":"message","channelId":"x","serviceUrl":"http://h","conversation":{"id":"c"}}),
                "from.id",
            ),
            (
                json!({"type":"message","channelId":"x","serviceUrl":"http://h","conversation":"c"}),
                "conversation",
            ),
        ];
        for (v, reason) in cases {
            let e = message_from_activity(v).unwrap_err();
            assert!(e.0.contains(reason), "{e} should mention {reason}");
        }
        assert!(
            message_from_body(b"{\"type\":")
                .unwrap_err()
                .0
                .contains("malformed JSON")
        );
    }

    #[test]
    fn outbound_turns_the_address_around() {
        let m = message_from_activity(base()).unwrap();
        let reply = Message::to(&m.address)
            .text("hi")
            .input_hint("expectingInput");
        let act = activity_from_message(&reply);
        assert_eq!(act["from"]["id"], "28:b");
        assert_eq!(act["recipient"]["id"], "29:u");
        assert_eq!(act["recipient"]["aadObjectId"], "x");
        assert_eq!(act["conversation"]["tenantId"], "t1");
        assert_eq!(act["replyToId"], "m1");
        assert_eq!(act["inputHint"], "expectingInput");
        assert_eq!(act["locale"], "de-DE");
        assert!(act.get("attachments").is_none());
    }
}
