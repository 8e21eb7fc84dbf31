//! [`Message`] → the [`Activity`] that sends it.

use super::{Activity, user_time};
use botcore::{Address, ChannelAccount, Message};
use jiff::Timestamp;
use serde_json::{Map, Value};

/// The bot's account on an outgoing activity: the address's bot when it has an id; otherwise
/// the app id — as `28:<app id>` on Teams, where that is the bot's id — or `bot` when there
/// is no app id either (local emulators). Never an empty id.
///
/// ```
/// use botcore::{Address, ChannelAccount};
/// use transport_http::activity::bot_account;
/// let a = Address::new("msteams", ChannelAccount::new("29:ann"), ChannelAccount::default());
/// assert_eq!(bot_account(&a, "app-id").id, "28:app-id");
/// let b = Address::new("webchat", ChannelAccount::new("u1"), ChannelAccount::new("b1"));
/// assert_eq!(bot_account(&b, "app-id").id, "b1");
/// ```
pub fn bot_account(address: &Address, app_id: &str) -> ChannelAccount {
    let bot = &address.bot;
    if !bot.id.is_empty() {
        return bot.clone();
    }
    let app_id = app_id.trim();
    let id = match address.channel_id.as_str() {
        _ if app_id.is_empty() => "bot".to_owned(),
        "msteams" if !app_id.starts_with("28:") => format!("28:{app_id}"),
        _ => app_id.to_owned(),
    };
    let mut account = bot.clone();
    account.id = id;
    account
        .extra
        .entry("role")
        .or_insert_with(|| Value::String("bot".into()));
    account
}

impl Activity {
    /// The activity that sends `message` to its address:
    /// - `from` = [`bot_account`] (the address's bot, or `app_id`), `recipient` = the user,
    ///   `replyToId` = the address's `id`, `conversation`, `channelId` and `serviceUrl` from
    ///   the address;
    /// - `timestamp`: the message's own, or now (RFC 3339, UTC);
    /// - `localTimestamp`: the message's own, or now in the user's time when the address
    ///   knows it (from the activity the address came from); `localTimezone` and
    ///   `attachmentLayout` as the message has them;
    /// - `locale`: the message's, or the address's.
    ///
    /// Fields in `message.extra` go along, except where a field set here has the same name.
    pub fn outgoing(message: &Message, app_id: &str) -> Self {
        outgoing_at(message, app_id, Timestamp::now())
    }
}

/// [`Activity::outgoing`] at a given time.
pub(crate) fn outgoing_at(message: &Message, app_id: &str, now: Timestamp) -> Activity {
    let a = &message.address;
    let mut activity = Activity {
        kind: Some(message.kind.clone()),
        text: Some(message.text.clone()).filter(|t| !t.is_empty()),
        locale: message.locale.clone().or_else(|| a.locale.clone()),
        attachments: Some(message.attachments.clone()).filter(|v| !v.is_empty()),
        attachment_layout: message.attachment_layout.clone(),
        entities: Some(message.entities.clone()).filter(|v| !v.is_empty()),
        suggested_actions: message.suggested_actions.clone(),
        input_hint: message.input_hint.clone(),
        channel_data: message.channel_data.clone(),
        value: message.value.clone(),
        name: message.name.clone(),
        code: message.code.clone(),
        timestamp: Some(
            message
                .timestamp
                .clone()
                .unwrap_or_else(|| user_time::utc(now)),
        ),
        local_timestamp: message
            .local_timestamp
            .clone()
            .or_else(|| user_time::local_now(a, now)),
        local_timezone: message.local_timezone.clone(),
        from: Some(bot_account(a, app_id)),
        recipient: Some(a.user.clone()),
        conversation: a.conversation.clone(),
        channel_id: Some(a.channel_id.clone()),
        service_url: Some(a.service_url.clone()),
        id: None,
        extra: Map::new(),
    };
    if !message.extra.is_empty() {
        // The names the fields above write, as serde spells them (serialized only when there
        // are extra fields to filter: most messages have none).
        let written = match serde_json::to_value(&activity) {
            Ok(Value::Object(fields)) => fields,
            _ => Map::new(),
        };
        activity.extra = message
            .extra
            .iter()
            .filter(|(k, _)| !written.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
    }
    if let Some(id) = a.reply_to_id().filter(|id| !id.is_empty()) {
        activity
            .extra
            .insert("replyToId".into(), Value::String(id.to_owned()));
    }
    activity
}

impl From<&Message> for Activity {
    /// [`Activity::outgoing`] without an app id: a bot account without an id is sent as `bot`.
    fn from(message: &Message) -> Self {
        Activity::outgoing(message, "")
    }
}

/// Writes the activity that sends `message` to its address ([`Activity::outgoing`] without
/// an app id): `from` = the bot, `recipient` = the user, `replyToId` = the address's message
/// id, `timestamp` = now. Fields in `message.extra` are written too, without overriding the
/// modelled ones.
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
/// assert!(act["timestamp"].as_str().unwrap().ends_with('Z'));
/// ```
pub fn activity_from_message(message: &Message) -> Value {
    serde_json::to_value(Activity::from(message)).unwrap_or(Value::Null)
}

/// The JSON body the connector sends for `message`, with the bot's app id for an empty
/// `from` and `id` as the activity's id (for an update). Serialized straight to bytes, with no
/// JSON tree in between.
pub(crate) fn outgoing_body(message: &Message, app_id: &str, id: Option<&str>) -> Vec<u8> {
    let mut activity = Activity::outgoing(message, app_id);
    if let Some(id) = id {
        activity.extra.remove("id");
        activity.id = Some(id.to_owned());
    }
    serde_json::to_vec(&activity).unwrap_or_else(|_| b"null".to_vec())
}
