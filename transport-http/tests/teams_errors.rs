//! Teams' refusals on the wire, as the Teams documentation shows them, mapped to typed
//! delivery errors: what a fan-out needs to skip blocked users and say why.

mod common;

use botcore::{Connector, DeliveryError, Message, Refusal};
use common::fake_connector::{Scripted, address, reply, setup};
use serde_json::{Value, json};
use storage_memory::MemoryStorage;

fn teams_error(code: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message}})
}

/// Teams' answer when the user blocked or uninstalled the bot: the sub-code sits in a
/// `message` that is itself JSON.
fn message_writes_blocked() -> Value {
    json!({"errorCode": 209, "message": "{\r\n  \"subCode\": \"MessageWritesBlocked\",\r\n  \"details\": \"Thread is blocked from message writes.\",\r\n  \"errorCode\": null,\r\n  \"errorSubCode\": null\r\n}"})
}

#[tokio::test]
async fn each_teams_refusal_is_permanent_typed_and_never_retried() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    let cases = [
        (
            403,
            teams_error(
                "ConversationBlockedByUser",
                "User blocked the conversation with the bot.",
            ),
            "ConversationBlockedByUser",
            Refusal::BlockedByUser,
        ),
        (
            403,
            message_writes_blocked(),
            "MessageWritesBlocked",
            Refusal::BlockedByUser,
        ),
        (
            403,
            teams_error(
                "BotNotInConversationRoster",
                "The bot is not part of the conversation roster.",
            ),
            "BotNotInConversationRoster",
            Refusal::NotInRoster,
        ),
        (
            403,
            teams_error(
                "ForbiddenOperationException",
                "Bot is not installed in user's personal scope",
            ),
            "ForbiddenOperationException",
            Refusal::NotInRoster,
        ),
        (
            403,
            teams_error("BotDisabledByAdmin", "The tenant admin disabled this bot"),
            "BotDisabledByAdmin",
            Refusal::BotDisabled,
        ),
        (
            404,
            teams_error("ConversationNotFound", "Conversation not found."),
            "ConversationNotFound",
            Refusal::ConversationNotFound,
        ),
        (
            413,
            teams_error("MessageSizeTooBig", "Message size too large."),
            "MessageSizeTooBig",
            Refusal::TooLarge,
        ),
        (
            400,
            teams_error("BadArgument", "Malformed request payload"),
            "BadArgument",
            Refusal::Other,
        ),
    ];
    for (n, (status, body, code, refusal)) in cases.into_iter().enumerate() {
        fake.then(reply(status, body));
        let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
        assert_eq!(
            e,
            DeliveryError::Permanent {
                status,
                code: Some(code.into())
            }
        );
        assert_eq!(e.refusal(), Some(refusal), "{code}");
        assert!(e.is_permanent() && !e.is_retry_safe(), "{code}");
        assert!(e.to_string().contains(&refusal.to_string()), "{e}");
        assert_eq!(fake.requests().len(), n + 1, "{code} was not retried");
    }
    assert!(Refusal::BlockedByUser.is_opt_out() && Refusal::BotDisabled.is_opt_out());
    assert!(!Refusal::ConversationNotFound.is_opt_out());
}

#[tokio::test]
async fn precondition_failed_and_throttled_are_retried_as_teams_asks() {
    let (fake, addr, c) = setup().await;
    let a = address(&format!("http://{addr}"));
    let precondition = || {
        reply(
            412,
            teams_error(
                "PreconditionFailed",
                "Precondition failed, please try again.",
            ),
        )
    };
    // Retried with backoff, delivered once.
    fake.then(precondition()).then(precondition());
    let r = c.send(&Message::to(&a).text("x")).await.unwrap();
    assert_eq!(r.activity_id.as_deref(), Some("act-3"));
    // Still failing after the attempts: throttled, which is safe to retry later.
    for _ in 0..3 {
        fake.then(precondition());
    }
    let e = c.send(&Message::to(&a).text("x")).await.unwrap_err();
    assert_eq!(e, DeliveryError::Throttled { retry_after: None });
    assert!(e.is_retry_safe() && e.refusal().is_none());
    assert_eq!(fake.requests().len(), 6);

    fake.then(Scripted {
        retry_after: Some("0"),
        ..reply(429, teams_error("Throttled", "Too many requests."))
    });
    c.send(&Message::to(&a).text("x")).await.unwrap();
    assert_eq!(fake.requests().len(), 8);
}

/// A fan-out to three users through the bot: the one who blocked the bot is reported as
/// such, the others get the message.
#[tokio::test]
async fn a_fan_out_reports_who_blocked_the_bot() {
    let (fake, addr, c) = setup().await;
    let (bot, _seen) = common::test_bot(c, MemoryStorage::new());
    let service_url = format!("http://{addr}");
    let mut users = Vec::new();
    for name in ["ann", "bob", "cy"] {
        let mut a = address(&service_url);
        a.user.id = format!("29:{name}");
        a.conversation = Some(botcore::ConversationAccount::new(format!("a:{name}")));
        a.id = None;
        // The user wrote once: the bot may write back.
        bot.receive(Message::to(&a).text("hi")).await.unwrap();
        users.push(a);
    }
    let before = fake.requests().len();
    fake.then(reply(200, json!({"id": "ok-ann"})));
    fake.then(reply(
        403,
        teams_error(
            "ConversationBlockedByUser",
            "User blocked the conversation with the bot.",
        ),
    ));
    let messages = users
        .iter()
        .map(|a| Message::to(a).text("Pizza Friday!"))
        .collect();
    let results = bot.send_all(messages).await.unwrap();
    assert_eq!(fake.requests().len(), before + 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    let blocked = results[1].as_ref().unwrap_err();
    assert_eq!(blocked.refusal(), Some(Refusal::BlockedByUser));
    assert!(blocked.to_string().contains("the user blocked the bot"));
}
