//! Cards in the demo: say "card" and the bot shows a hero card and an Adaptive Card with a
//! small form, then waits. Submitting the form (`Action.Submit`) sends the card's values back
//! as the message's `value`, with no text: the waiting step gets them as its result and the
//! bot answers with what it got.
//!
//! Channels that render cards (Web Chat, Teams, the Emulator) show them; the terminal shows
//! the message's text and a line per card.

use botcore::{
    AdaptiveCard, AttachmentLayout, CardAction, HeroCard, Message, Value, Waterfall, json, prompts,
};

/// What the user says to see the cards.
pub const TRIGGER: &str = "card";
/// The text of the message that carries the cards.
pub const INTRO: &str = "Here are two cards: a hero card, and an Adaptive Card you can fill in.";
/// The prompt the cards dialog waits on.
pub const PROMPT: &str = "Fill in the Adaptive Card and press \"Send feedback\".";
/// The hero card's title.
pub const HERO_TITLE: &str = "Pizza of the day";
/// The hero card's button: it says "hi", which starts an order.
pub const HERO_BUTTON: &str = "Order a pizza";
/// The Adaptive Card's heading.
pub const ADAPTIVE_TITLE: &str = "Tell us about your pizza";
/// The Adaptive Card's submit button.
pub const SUBMIT: &str = "Send feedback";
/// How the bot's answer to a submitted card starts.
pub const SUBMITTED: &str = "Card submitted:";

/// A hero card: title, subtitle, text and an `imBack` button.
pub fn hero_card() -> HeroCard {
    HeroCard::new()
        .title(HERO_TITLE)
        .subtitle("Margherita, baked to order")
        .text("Tomato, mozzarella and basil on a thin crust.")
        .button(CardAction::im_back(HERO_BUTTON, "hi"))
}

/// An Adaptive Card with a text input, a choice and an `Action.Submit`.
pub fn adaptive_card() -> AdaptiveCard {
    AdaptiveCard::new(json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.3",
        "body": [
            {"type": "TextBlock", "text": ADAPTIVE_TITLE, "weight": "Bolder", "size": "Medium"},
            {"type": "Input.Text", "id": "name", "label": "Your name", "placeholder": "Your name"},
            {
                "type": "Input.ChoiceSet", "id": "rating", "label": "Rating",
                "style": "compact", "value": "5",
                "choices": [
                    {"title": "Great", "value": "5"},
                    {"title": "Fine", "value": "3"},
                    {"title": "Not for me", "value": "1"},
                ],
            },
        ],
        "actions": [{"type": "Action.Submit", "title": SUBMIT, "data": {"card": "feedback"}}],
    }))
}

/// The message with both cards, one under the other.
pub fn cards_message() -> Message {
    Message::default()
        .text(INTRO)
        .card(hero_card())
        .card(adaptive_card())
        .attachment_layout(AttachmentLayout::List)
}

/// Whether a message asks for the cards.
pub fn is_trigger(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case(TRIGGER)
}

/// The cards dialog: shows the cards and waits; the submitted form (or, where cards are not
/// shown, whatever the user types) is answered with [`submitted`].
pub fn cards_dialog() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| {
            s.send(cards_message());
            prompts::text(s, PROMPT);
        })
        .step(async |s, r| {
            let value: Value = r.value()?;
            s.send(submitted(&value));
            s.end_dialog();
            Ok(())
        })
}

/// The bot's answer to a submitted card: `Card submitted: card=feedback, name=Ann, rating=5`
/// (the fields of the card's value by name; non-text values as JSON).
pub fn submitted(value: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let fields = match value {
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => text(other),
    };
    format!("{SUBMITTED} {fields}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::survey;
    use botcore::{ADAPTIVE_CARD, HERO_CARD};
    use transport_mock::TestBot;

    #[tokio::test]
    async fn card_shows_both_cards_and_a_submitted_form_is_answered_with_its_values() {
        let t = TestBot::new(survey::bot(None));
        let ann = t.user("ann");
        let replies = ann.say("card").await;
        replies.expect(&[INTRO, PROMPT]);
        let cards = &replies.messages[0];
        let types: Vec<_> = cards
            .attachments
            .iter()
            .map(|a| &a["contentType"])
            .collect();
        assert_eq!(types, [HERO_CARD, ADAPTIVE_CARD]);
        assert_eq!(cards.attachments[0]["content"]["buttons"][0]["value"], "hi");
        // Action.Submit: the card's data and the inputs as `value`, no text.
        let submit =
            Message::default().value(json!({"card": "feedback", "name": "Ann", "rating": "3"}));
        ann.send(submit)
            .await
            .expect(&["Card submitted: card=feedback, name=Ann, rating=3"]);
        assert!(ann.state().await.stack.is_empty(), "the cards dialog ended");
        // The root begins again: an order.
        let replies = ann.say("hi").await;
        assert_eq!(replies.texts()[0], survey::ANNOUNCE);
    }

    #[test]
    fn submitted_lists_fields_by_name_and_shows_other_values_as_they_are() {
        let v = json!({"rating": 5, "name": "Ann"});
        assert_eq!(submitted(&v), "Card submitted: name=Ann, rating=5");
        assert_eq!(submitted(&json!("typed")), "Card submitted: typed");
    }
}
