//! System strings in the user's language: prompt retries, the error message and yes/no, by
//! the preferred locale with the fallback `es-MX → es → default → English`, app tables
//! overriding them per locale; and the locale set on outgoing messages.

use botcore::{Bot, BotBuilder, BotError, Localizer, Message, Waterfall, prompts};
use transport_mock::{TestBot, TestUser};

/// A number prompt, then a confirm prompt, then the answers.
fn survey() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::number(s, "How many?"))
            .step(async |s, r| {
                let n = r.number()?;
                prompts::confirm(s, &format!("{n}?"));
                Ok(())
            })
            .step(async |s, r| {
                s.send(format!("confirmed={}", r.confirm()?));
                s.end_dialog();
                Ok(())
            }),
    )
}

/// Says `text` as `user`, writing in `locale`.
async fn say_in(user: &TestUser, locale: &str, text: &str) -> Vec<String> {
    let m = Message::to(&user.address).text(text).locale(locale);
    let r = user.send(m).await;
    r.texts().into_iter().map(str::to_owned).collect()
}

/// The retry text a user writing in `locale` gets for "lots" at a number prompt.
async fn number_retry_in(builder: BotBuilder, locale: &str) -> String {
    let t = TestBot::new(builder);
    let user = t.user("ann");
    assert_eq!(say_in(&user, locale, "hi").await, ["How many?"]);
    let mut texts = say_in(&user, locale, "lots").await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    texts.remove(0)
}

#[tokio::test]
async fn a_spanish_user_gets_the_retry_text_in_spanish() {
    assert_eq!(
        number_retry_in(survey(), "es-MX").await,
        "No se pudo reconocer el texto como número. Vuelva a intentar sólo con números."
    );
}

#[tokio::test]
async fn a_german_user_gets_the_retry_text_in_german() {
    assert_eq!(
        number_retry_in(survey(), "de-DE").await,
        "Die Zahl habe ich nicht verstanden. Bitte geben Sie eine Zahl ein."
    );
}

#[tokio::test]
async fn a_japanese_user_gets_the_retry_text_in_japanese() {
    assert_eq!(
        number_retry_in(survey(), "ja-JP").await,
        "数値として認識できませんでした。数値を入力してください。"
    );
}

#[tokio::test]
async fn a_locale_without_a_table_falls_back_to_english() {
    assert_eq!(
        number_retry_in(survey(), "ko-KR").await,
        "I didn't recognize that as a number. Please enter a number."
    );
}

#[tokio::test]
async fn an_app_table_overrides_a_system_string_for_its_locale_only() {
    let localizer = Localizer::new("en")
        .add(
            "es",
            [(
                "BotBuilder:number_retry",
                "¿Cuántos? Solo un número, por favor.",
            )],
        )
        .add("en", [("BotBuilder:number_retry", "A number, please.")]);
    let builder = || survey().localizer(localizer.clone());
    assert_eq!(
        number_retry_in(builder(), "es-AR").await,
        "¿Cuántos? Solo un número, por favor."
    );
    // German has no app string: the German system string beats the app's default locale.
    assert_eq!(
        number_retry_in(builder(), "de").await,
        "Die Zahl habe ich nicht verstanden. Bitte geben Sie eine Zahl ein."
    );
    // Neither has Korean: the app's default-locale string.
    assert_eq!(number_retry_in(builder(), "ko").await, "A number, please.");
}

#[tokio::test]
async fn the_confirm_prompt_retries_and_understands_yes_in_the_users_language() {
    let t = TestBot::new(survey());
    let user = t.user("ana");
    say_in(&user, "es-ES", "hola").await;
    assert_eq!(say_in(&user, "es-ES", "3").await, ["3?"]);
    assert_eq!(
        say_in(&user, "es-ES", "quizás").await,
        ["No se pudo reconocer la confirmación. Por favor responda con 'sí' o 'no'."]
    );
    assert_eq!(say_in(&user, "es-ES", "Sí").await, ["confirmed=true"]);
}

#[tokio::test]
async fn the_error_message_is_in_the_users_language() {
    let t = TestBot::new(Bot::builder().dialog_fn("/", async |_, _| {
        Err(BotError::dialog("boom"))?;
        Ok(())
    }));
    let user = t.user("yuki");
    assert_eq!(
        say_in(&user, "ja", "こんにちは").await,
        ["申し訳ありません。問題が発生したため、最初からやり直す必要があります。"]
    );
    assert_eq!(
        say_in(&user, "fr-CA", "bonjour").await,
        ["Oups. Il y a eu un problème et je crains que nous devions recommencer."]
    );
}

#[test]
fn every_language_has_the_system_strings() {
    let l = Localizer::default();
    let keys = [
        "BotBuilder:text_retry",
        "BotBuilder:number_retry",
        "BotBuilder:confirm_retry",
        "BotBuilder:choice_retry",
        "BotBuilder:time_retry",
        "BotBuilder:attachment_retry",
        "BotBuilder:default_error",
        "BotBuilder:confirm_yes",
        "BotBuilder:confirm_no",
        "BotBuilder:list_or",
        "BotBuilder:list_or_more",
    ];
    for locale in ["es", "de", "fr", "pt-BR", "ja", "zh-Hans"] {
        for key in keys {
            let text = l.get(locale, key);
            assert_ne!(text, key, "{locale} {key}");
            if !matches!(key, "BotBuilder:confirm_no" | "BotBuilder:list_or_more") {
                assert_ne!(text, l.get("en", key), "{locale} {key} is the English text");
            }
        }
    }
    assert_eq!(l.get("pt-BR", "BotBuilder:confirm_yes"), "sim");
    assert_eq!(l.get("zh-CN", "BotBuilder:confirm_yes"), "是");
    assert_eq!(l.get("zh-TW", "BotBuilder:confirm_yes"), "yes");
    assert_eq!(l.get("de-AT", "BotBuilder:list_or"), " oder ");
}

#[test]
fn the_english_defaults_are_v3s() {
    let l = Localizer::default();
    for (key, text) in [
        (
            "BotBuilder:text_retry",
            "I didn't understand. Please try again.",
        ),
        (
            "BotBuilder:number_retry",
            "I didn't recognize that as a number. Please enter a number.",
        ),
        (
            "BotBuilder:confirm_retry",
            "I didn't understand. Please answer 'yes' or 'no'.",
        ),
        (
            "BotBuilder:choice_retry",
            "I didn't understand. Please choose an option from the list.",
        ),
        (
            "BotBuilder:default_error",
            "Oops. Something went wrong and we need to start over.",
        ),
        ("BotBuilder:confirm_yes", "yes"),
        ("BotBuilder:confirm_no", "no"),
        ("BotBuilder:list_or", " or "),
    ] {
        assert_eq!(l.get("en-US", key), text);
        assert_eq!(l.get("ko", key), text);
    }
}

#[tokio::test]
async fn replies_carry_the_users_locale() {
    let t = TestBot::new(Bot::builder().dialog_fn("/", async |s, _| {
        if s.text() == "français" {
            s.set_preferred_locale("fr-FR");
        }
        s.send("ok");
    }));
    let user = t.user("ann");
    let locale = |r: &transport_mock::Replies| r.messages[0].locale.clone();

    let r = user.say("hi").await;
    assert_eq!(locale(&r), None, "no locale known: none set");

    let r = user
        .send(Message::to(&user.address).text("hallo").locale("de-DE"))
        .await;
    assert_eq!(locale(&r).as_deref(), Some("de-DE"));

    let r = user.say("français").await;
    assert_eq!(
        locale(&r).as_deref(),
        Some("fr-FR"),
        "the stored preference"
    );
    let r = user
        .send(Message::to(&user.address).text("hallo").locale("de-DE"))
        .await;
    assert_eq!(locale(&r).as_deref(), Some("fr-FR"), "the preference wins");
}
