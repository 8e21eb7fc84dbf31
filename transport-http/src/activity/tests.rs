//! Unit tests of the Activity ⇄ Message conversions.

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
    assert_eq!(
        m.local_timestamp.as_deref(),
        Some("2024-01-01T00:00:00+01:00")
    );
    assert_eq!(a.extra["utcOffset"], "+01:00");
    assert!(!m.extra.contains_key("from"));
    assert!(!m.extra.contains_key("localTimestamp"));
}

#[test]
fn local_time_zone_and_attachment_layout_are_typed_both_ways() {
    let mut v = base();
    v["localTimezone"] = json!("Europe/Berlin");
    v["attachmentLayout"] = json!("carousel");
    let m = message_from_activity(v).unwrap();
    assert_eq!(m.local_timezone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(m.attachment_layout.as_deref(), Some("carousel"));
    assert_eq!(m.address.extra["localTimezone"], "Europe/Berlin");
    assert!(m.extra.is_empty(), "{:?}", m.extra);

    let mut out = Message::to(&m.address).text("cards");
    out.attachment_layout = Some("list".into());
    out.local_timezone = Some("Europe/Berlin".into());
    let act = activity_from_message(&out);
    assert_eq!(act["attachmentLayout"], "list");
    assert_eq!(act["localTimezone"], "Europe/Berlin");
    let explicit = activity_from_message(&out.clone().timestamp("2024-01-01T00:00:00Z"));
    assert_eq!(explicit["timestamp"], "2024-01-01T00:00:00Z");
}

#[test]
fn outgoing_activities_carry_timestamps_in_utc_and_in_the_users_time() {
    let m = message_from_activity(base()).unwrap();
    let now = jiff::Timestamp::from_millisecond(1_714_557_600_123).unwrap();
    let act = outgoing::outgoing_at(&Message::to(&m.address).text("hi"), "", now);
    assert_eq!(act.timestamp.as_deref(), Some("2024-05-01T10:00:00.123Z"));
    // The inbound activity was written at +01:00.
    assert_eq!(
        act.local_timestamp.as_deref(),
        Some("2024-05-01T11:00:00.123+01:00")
    );
    // No local time known: no localTimestamp, but a timestamp all the same.
    let bare = Address::new(
        "webchat",
        ChannelAccount::new("u"),
        ChannelAccount::new("b"),
    );
    let act = outgoing::outgoing_at(&Message::to(&bare), "", now);
    assert_eq!(act.local_timestamp, None);
    assert!(act.timestamp.is_some());
}

#[test]
fn an_address_without_a_bot_id_sends_from_the_app_id_never_from_nobody() {
    let mut v = base();
    v.as_object_mut().unwrap().remove("recipient");
    let m = message_from_activity(v).unwrap();
    let reply = Message::to(&m.address).text("hi");
    let teams = Activity::outgoing(&reply, "app-id");
    let from = teams.from.unwrap();
    assert_eq!(
        (from.id.as_str(), &from.extra["role"]),
        ("28:app-id", &json!("bot"))
    );
    let mut webchat = reply.clone();
    webchat.address.channel_id = "webchat".into();
    assert_eq!(
        Activity::outgoing(&webchat, "app-id").from.unwrap().id,
        "app-id"
    );
    assert_eq!(activity_from_message(&webchat)["from"]["id"], "bot");
    assert_eq!(
        Activity::outgoing(&reply, "28:app-id").from.unwrap().id,
        "28:app-id"
    );
}

#[test]
fn the_tenant_from_channel_data_goes_into_the_conversation() {
    let mut v = base();
    v["conversation"] = json!({"id": "a:1", "conversationType": "personal"});
    let m = message_from_activity(v).unwrap();
    let c = m.address.conversation.as_ref().unwrap();
    assert_eq!(c.tenant_id.as_deref(), Some("t1"));
    assert_eq!(c.extra["conversationType"], "personal");
    // A saved address keeps it.
    let saved: Address = serde_json::from_value(serde_json::to_value(&m.address).unwrap()).unwrap();
    assert_eq!(saved, m.address);
    assert_eq!(saved.tenant_id(), Some("t1"));
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
fn wrong_types_name_the_field_and_the_type_it_needs() {
    let cases = [
        (json!({"type": 5}), "`type` must be a string"),
        (json!({"text": {"a": 1}}), "`text` must be a string"),
        (json!({"attachments": {}}), "`attachments` must be an array"),
        (json!({"from": "secret-ish"}), "`from` must be an object"),
        (json!({"from": {"id": 7}}), "`from.id` must be a string"),
        (
            json!({"conversation": {"id": "c", "isGroup": "yes"}}),
            "`conversation.isGroup` must be a boolean",
        ),
    ];
    for (v, reason) in cases {
        let e = message_from_activity(v).unwrap_err();
        assert_eq!(e.0, reason);
    }
}

#[test]
fn nulls_read_as_absent_and_reply_to_id_stays_in_extra() {
    let mut v = base();
    v["text"] = Value::Null;
    v["channelData"] = Value::Null;
    v["replyToId"] = json!("earlier");
    let m = message_from_activity(v).unwrap();
    assert_eq!((m.text.as_str(), m.channel_data.as_ref()), ("", None));
    assert_eq!(m.extra["replyToId"], "earlier");
    assert!(!m.extra.contains_key("text"));
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

#[test]
fn outbound_extra_fields_never_override_modelled_ones() {
    let m = message_from_activity(base()).unwrap();
    let mut reply = Message::to(&m.address.without_reply());
    for (k, v) in [
        ("from", json!("x")),
        ("text", json!("kept")),
        ("id", json!(1)),
    ] {
        reply.extra.insert(k.into(), v);
    }
    reply.extra.insert("textFormat".into(), json!("plain"));
    let act = Activity::from(&reply);
    assert!(
        !act.extra.contains_key("from"),
        "from is written by the field"
    );
    let json = serde_json::to_value(&act).unwrap();
    assert_eq!(json["from"]["id"], "28:b");
    // Unset modelled fields leave same-named extra fields alone, as before.
    assert_eq!((&json["text"], &json["id"]), (&json!("kept"), &json!(1)));
    assert_eq!(json["textFormat"], "plain");
    assert!(json.get("replyToId").is_none());
}
