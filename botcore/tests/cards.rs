//! Cards and attachments: the builders' exact Bot Framework JSON, the `Message` helpers, an
//! Adaptive Card's `Action.Submit` value reaching the waiting step, and the attachment prompt.

use botcore::{
    AdaptiveCard, Attachment, AttachmentLayout, Bot, CardAction, CardImage, HeroCard, Message,
    Prompt, SuggestedActions, ThumbnailCard, Waterfall, json, prompts,
};
use serde::Deserialize;
use transport_mock::TestBot;

#[test]
fn hero_and_thumbnail_cards_serialize_as_the_bot_framework_schema() {
    let hero = HeroCard::new()
        .title("Margherita")
        .subtitle("Tomato, mozzarella")
        .text("Our classic")
        .image(CardImage::new("https://img.invalid/m.png").alt("a pizza"))
        .button(CardAction::im_back("Order", "order margherita"))
        .button(CardAction::open_url("Menu", "https://menu.invalid"))
        .tap(CardAction::post_back("Details", json!({"id": 7})));
    assert_eq!(
        Attachment::from(hero).to_json(),
        json!({
            "contentType": "application/vnd.microsoft.card.hero",
            "content": {
                "title": "Margherita",
                "subtitle": "Tomato, mozzarella",
                "text": "Our classic",
                "images": [{"url": "https://img.invalid/m.png", "alt": "a pizza"}],
                "buttons": [
                    {"type": "imBack", "title": "Order", "value": "order margherita"},
                    {"type": "openUrl", "title": "Menu", "value": "https://menu.invalid"},
                ],
                "tap": {"type": "postBack", "title": "Details", "value": {"id": 7}},
            },
        })
    );
    let thumb = ThumbnailCard::new()
        .title("Small")
        .image("https://img.invalid/s.png");
    assert_eq!(
        Attachment::from(thumb).to_json(),
        json!({
            "contentType": "application/vnd.microsoft.card.thumbnail",
            "content": {"title": "Small", "images": [{"url": "https://img.invalid/s.png"}]},
        })
    );
}

#[test]
fn actions_attachments_and_suggested_actions_serialize_exactly() {
    let back = CardAction::message_back("Buy", "buy 2", json!({"qty": 2})).display_text("Buying");
    assert_eq!(
        serde_json::to_value(&back).unwrap(),
        json!({"type": "messageBack", "title": "Buy", "value": {"qty": 2}, "text": "buy 2", "displayText": "Buying"})
    );
    let file = Attachment::from_url("image/png", "https://img.invalid/p.png").name("p.png");
    assert_eq!(
        file.to_json(),
        json!({"contentType": "image/png", "contentUrl": "https://img.invalid/p.png", "name": "p.png"})
    );
    let card = json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Hi"}]});
    assert_eq!(
        Attachment::from(AdaptiveCard::new(card.clone())).to_json(),
        json!({"contentType": "application/vnd.microsoft.card.adaptive", "content": card})
    );
    assert_eq!(
        AdaptiveCard::CONTENT_TYPE,
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        SuggestedActions::im_back(["yes", "no"])
            .to(["ann"])
            .to_json(),
        json!({"to": ["ann"], "actions": [
            {"type": "imBack", "title": "yes", "value": "yes"},
            {"type": "imBack", "title": "no", "value": "no"},
        ]})
    );
}

#[test]
fn message_helpers_keep_the_wire_fields_json() {
    let m = Message::default()
        .text("Menu")
        .card(HeroCard::new().title("A"))
        .card(ThumbnailCard::new().title("B"))
        .attachment_layout(AttachmentLayout::List)
        .suggested(SuggestedActions::im_back(["more"]));
    let wire = serde_json::to_value(&m).unwrap();
    assert_eq!(wire["attachmentLayout"], "list");
    assert_eq!(wire["attachments"][1]["content"], json!({"title": "B"}));
    assert_eq!(wire["suggestedActions"]["actions"][0]["value"], "more");
    assert_eq!(
        m.clone().carousel().attachment_layout.as_deref(),
        Some("carousel")
    );
    assert_eq!(
        m.typed_attachments()[0].content,
        Some(json!({"title": "A"}))
    );
    let back: Message = serde_json::from_value(wire).unwrap();
    assert_eq!(back, m, "a message with cards round-trips");
}

#[derive(Deserialize)]
struct Order {
    size: String,
    qty: u32,
}

fn card_order_bot() -> botcore::BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| {
                let card = AdaptiveCard::new(json!({
                    "type": "AdaptiveCard", "version": "1.5",
                    "body": [{"type": "Input.Text", "id": "size"}],
                    "actions": [{"type": "Action.Submit", "title": "Order"}],
                }));
                s.send(Message::default().card(card));
                prompts::text(s, "Fill in the card.");
            })
            .step(async |s, r| {
                let order: Order = r.value()?;
                s.send(format!("{} x {}", order.qty, order.size));
                s.end_dialog();
                Ok(())
            }),
    )
}

#[tokio::test]
async fn an_adaptive_card_submit_answers_the_text_prompt_with_its_value() {
    let t = TestBot::new(card_order_bot());
    let ann = t.user("ann");
    let replies = ann.say("order").await;
    replies.expect(&["", "Fill in the card."]);
    assert_eq!(
        replies.messages[0].attachments[0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let submit = Message::to(&ann.address).value(json!({"size": "large", "qty": 2}));
    ann.send(submit).await.expect(&["2 x large"]);
    // Typed text still answers a text prompt as text.
    ann.say("order").await;
    let replies = ann.say("just text").await;
    assert!(
        replies.error().is_some(),
        "text is not an Order: {replies:?}"
    );
}

#[tokio::test]
async fn a_submit_to_a_waterfall_on_top_reaches_its_step_as_the_value() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new().step(async |s, r| match r.value::<Order>() {
            Ok(o) => s.send(format!("{} x {}", o.qty, o.size)),
            Err(_) => s.send(format!("got {:?}", r.as_str())),
        }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await.expect(&["got None"]);
    ann.say("hello").await.expect(&["got Some(\"hello\")"]);
    let submit = Message::to(&ann.address).value(json!({"size": "small", "qty": 1}));
    ann.send(submit).await.expect(&["1 x small"]);
}

#[tokio::test]
async fn a_submitted_string_answers_a_choice_prompt_like_typing_it() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::choice(s, "Which?", &["red", "blue"]))
            .step(async |s, r| {
                s.send(r.choice()?.value);
                s.end_dialog();
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi").await;
    ann.send(Message::to(&ann.address).value(json!("blue")))
        .await
        .expect(&["blue"]);
}

#[tokio::test]
async fn the_attachment_prompt_waits_for_a_file_with_v3_retry_text() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| Prompt::attachment("Send a photo").begin(s))
            .step(async |s, r| {
                let files = r.attachments()?;
                let names: Vec<&str> = files.iter().filter_map(|f| f.name.as_deref()).collect();
                s.send(format!("got {} file(s): {}", files.len(), names.join(", ")));
                s.end_dialog();
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    let replies = ann.say("hi").await;
    replies.expect(&["Send a photo"]);
    assert_eq!(
        replies.messages[0].input_hint.as_deref(),
        Some("expectingInput")
    );
    ann.say("here it comes")
        .await
        .expect(&["I didn't receive a file. Please try again."]);
    let photo = Attachment::from_url("image/jpeg", "https://files.invalid/cat.jpg").name("cat.jpg");
    let with_file = Message::to(&ann.address).attachment(photo.to_json());
    ann.send(with_file)
        .await
        .expect(&["got 1 file(s): cat.jpg"]);
}
