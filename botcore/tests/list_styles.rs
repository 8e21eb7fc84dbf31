//! Prompt choices rendered per channel and list style: suggested actions on Web Chat, a hero
//! card on Teams, text on the mock channel; pressing a button answers like typing; confirm
//! prompts get yes / no buttons.

use botcore::{Bot, BotBuilder, ListStyle, Localizer, Message, Prompt, Waterfall, json, prompts};
use transport_mock::{TestBot, TestUser};

const SIZES: [&str; 3] = ["small", "medium", "large"];

fn size_bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::choice(s, "Which size?", &SIZES))
            .step(async |s, r| {
                let size = r.choice()?;
                s.send(format!("{} (choice {})", size.value, size.index));
                prompts::confirm(s, "Extra shot?");
                Ok(())
            })
            .step(async |s, r| {
                s.send(format!("extra shot: {}", r.confirm()?));
                s.end_dialog();
                Ok(())
            }),
    )
}

/// What [`styled`] asks.
struct Ask {
    style: ListStyle,
    choices: Vec<String>,
}

/// A bot whose root dialog asks for one of `choices` in `style`.
fn styled(style: ListStyle, choices: &[&str]) -> BotBuilder {
    let choices = choices.iter().map(|c| c.to_string()).collect();
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| {
                    let ask = s.app_data::<Ask>()?;
                    Prompt::choice("Which size?", ask.choices.clone())
                        .list_style(ask.style)
                        .begin(s);
                    Ok(())
                })
                .step(async |s, r| {
                    let c = r.choice()?;
                    s.send(format!("{} (choice {})", c.value, c.index));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .app_data(Ask { style, choices })
}

fn on(t: &TestBot, user: &str, channel: &str) -> TestUser {
    let mut u = t.user(user);
    u.address.channel_id = channel.into();
    u
}

fn prompt_of(m: &[Message]) -> &Message {
    assert_eq!(m.len(), 1, "one prompt message: {m:?}");
    &m[0]
}

fn im_back(title: &str) -> serde_json::Value {
    json!({"type": "imBack", "title": title, "value": title})
}

#[tokio::test]
async fn choices_are_suggested_actions_on_webchat_and_text_on_the_mock_channel() {
    let t = TestBot::new(size_bot());
    let web = on(&t, "ann", "webchat");
    let replies = web.say("hi").await;
    let m = prompt_of(&replies.messages);
    assert_eq!(m.text, "Which size?");
    assert_eq!(
        m.suggested_actions,
        Some(json!({"actions": [im_back("small"), im_back("medium"), im_back("large")]}))
    );
    assert!(m.attachments.is_empty());
    assert_eq!(m.input_hint.as_deref(), Some("expectingInput"));

    let text = t.user("bob");
    let replies = text.say("hi").await;
    replies.expect(&["Which size? (1. small, 2. medium, or 3. large)"]);
    let m = prompt_of(&replies.messages);
    assert_eq!(m.suggested_actions, None);
    assert!(m.attachments.is_empty());
    assert_eq!(m.input_hint.as_deref(), Some("expectingInput"));
}

#[tokio::test]
async fn pressing_a_button_answers_the_prompt_like_typing_its_text() {
    let t = TestBot::new(size_bot());
    let web = on(&t, "ann", "webchat");
    let replies = web.say("hi").await;
    let actions = replies.messages[0].typed_suggested_actions().unwrap();
    let large = actions.actions[2].value.clone().unwrap();
    let replies = web.say(large.as_str().unwrap()).await;
    replies.expect(&["large (choice 2)", "Extra shot?"]);
}

#[tokio::test]
async fn confirm_prompts_get_localized_yes_no_buttons() {
    let l = Localizer::new("en").add(
        "fr",
        [
            ("BotBuilder:confirm_yes", "oui"),
            ("BotBuilder:confirm_no", "non"),
        ],
    );
    let t = TestBot::new(size_bot().localizer(l));
    let web = on(&t, "ann", "directline");
    web.say("hi").await;
    let replies = web
        .send(Message::to(&web.address).text("small").locale("fr"))
        .await;
    let confirm = &replies.messages[1];
    assert_eq!(confirm.text, "Extra shot?");
    assert_eq!(
        confirm.suggested_actions,
        Some(json!({"actions": [im_back("oui"), im_back("non")]}))
    );
    web.send(Message::to(&web.address).text("oui").locale("fr"))
        .await
        .expect(&["extra shot: true"]);

    // The mock channel is text-only: a confirm prompt is its text alone, as before.
    t.transcript(
        "bob",
        "
        > hi
        < Which size? (1. small, 2. medium, or 3. large)
        > 1
        < small (choice 0)
        < Extra shot?
        > no
        < extra shot: false
        ",
    )
    .await;
}

#[tokio::test]
async fn teams_prefers_a_hero_card_and_falls_back_to_a_list_past_three_buttons() {
    let t = TestBot::new(styled(ListStyle::Auto, &SIZES));
    let teams = on(&t, "ann", "msteams");
    let replies = teams.say("hi").await;
    let m = prompt_of(&replies.messages);
    assert_eq!(m.text, "Which size?");
    assert_eq!(m.suggested_actions, None);
    assert_eq!(
        m.attachments,
        [json!({
            "contentType": "application/vnd.microsoft.card.hero",
            "content": {"buttons": [im_back("small"), im_back("medium"), im_back("large")]},
        })]
    );
    teams.say("medium").await.expect(&["medium (choice 1)"]);

    // Four choices are more than a Teams hero card shows: v3's numbered list.
    let t = TestBot::new(styled(ListStyle::Auto, &["a", "b", "c", "d"]));
    let teams = on(&t, "bob", "msteams");
    let replies = teams.say("hi").await;
    replies.expect(&["Which size?\n\n   1. a\n   2. b\n   3. c\n   4. d"]);
    assert!(replies.messages[0].attachments.is_empty());
}

#[tokio::test]
async fn too_many_choices_for_a_channel_are_listed_as_text() {
    let eleven: Vec<String> = (1..=11).map(|i| format!("c{i}")).collect();
    let eleven: Vec<&str> = eleven.iter().map(String::as_str).collect();
    let t = TestBot::new(styled(ListStyle::Auto, &eleven));
    let fb = on(&t, "ann", "facebook");
    let replies = fb.say("hi").await;
    let m = prompt_of(&replies.messages);
    assert!(
        m.text.starts_with("Which size?\n\n   1. c1\n"),
        "{}",
        m.text
    );
    assert_eq!(m.suggested_actions, None);
    assert!(m.attachments.is_empty());
}

#[tokio::test]
async fn an_explicit_style_overrides_the_channel() {
    // Button on a text channel: a hero card (the channel's connector shows it as text).
    let t = TestBot::new(styled(ListStyle::Button, &SIZES));
    let replies = t.user("ann").say("hi").await;
    let m = prompt_of(&replies.messages);
    assert_eq!(m.text, "Which size?");
    assert_eq!(
        m.attachments[0]["content"]["buttons"],
        json!([im_back("small"), im_back("medium"), im_back("large")])
    );

    // List, Inline and None on Web Chat: text, no buttons.
    for (style, text) in [
        (
            ListStyle::List,
            "Which size?\n\n   1. small\n   2. medium\n   3. large",
        ),
        (
            ListStyle::Inline,
            "Which size? (1. small, 2. medium, or 3. large)",
        ),
        (ListStyle::None, "Which size?"),
    ] {
        let t = TestBot::new(styled(style, &SIZES));
        let replies = on(&t, "ann", "webchat").say("hi").await;
        replies.expect(&[text]);
        assert_eq!(replies.messages[0].suggested_actions, None, "{style:?}");
    }
}

#[tokio::test]
async fn a_retry_shows_the_buttons_again() {
    let t = TestBot::new(styled(ListStyle::Auto, &SIZES));
    let web = on(&t, "ann", "emulator");
    web.say("hi").await;
    let replies = web.say("purple").await;
    let m = prompt_of(&replies.messages);
    assert_eq!(
        m.text,
        "I didn't understand. Please choose an option from the list."
    );
    assert_eq!(m.typed_suggested_actions().unwrap().actions.len(), 3);
    web.say("small").await.expect(&["small (choice 0)"]);
}
