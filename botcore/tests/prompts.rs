//! Prompt behaviour through the public API and the mock channel: v3's retry texts, giving up
//! after max retries, how choices are listed, and the preferred locale.

use botcore::{Bot, BotBuilder, Prompt, Waterfall, prompts};
use serde::{Deserialize, Serialize};
use transport_mock::TestBot;

#[derive(Serialize, Deserialize, Default)]
struct Order {
    name: String,
    cups: f64,
}

fn order_bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| prompts::text(s, "What is your name?"))
            .step(async |s, r| {
                let name = r.text()?;
                s.dialog_data_mut()
                    .update(|o: &mut Order| o.name = name.to_owned())?;
                prompts::number(s, &format!("Hi {name}, how many coffees?"));
                Ok(())
            })
            .step(async |s, r| {
                let cups = r.number()?;
                s.dialog_data_mut().update(|o: &mut Order| o.cups = cups)?;
                prompts::confirm(s, "Confirm order?");
                Ok(())
            })
            .step(async |s, r| {
                let order: Order = s.dialog_data().get()?;
                let confirmed = r.confirm()?;
                s.send(format!(
                    "Order for {}: {} cups, confirmed={confirmed}",
                    order.name, order.cups
                ));
                s.end_dialog();
                Ok(())
            }),
    )
}

#[tokio::test]
async fn prompt_waterfall_runs_with_v3_retry_texts() {
    let t = TestBot::new(order_bot());
    t.transcript(
        "ann",
        r#"
        > hello
        < What is your name?
        > Ann
        < Hi Ann, how many coffees?
        > lots
        < I didn't recognize that as a number. Please enter a number.
        > 3
        < Confirm order?
        > maybe
        < I didn't understand. Please answer 'yes' or 'no'.
        > yes
        < Order for Ann: 3 cups, confirmed=true
        "#,
    )
    .await;
    assert!(
        t.user("ann").state().await.stack.is_empty(),
        "the stack is empty after the order"
    );
    t.user("ann")
        .say("hello again")
        .await
        .expect(&["What is your name?"]);
}

#[tokio::test]
async fn text_and_choice_prompts_retry_with_the_v3_texts_and_give_up_after_max_retries() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| {
                Prompt::choice("Pick a color", ["red", "green", "blue"])
                    .max_retries(1)
                    .begin(s)
            })
            .step(async |s, r| {
                // A prompt that gave up hands over no answer at all.
                let picked = r.choice().map_or_else(|_| "null".to_owned(), |c| c.value);
                s.send(format!("reason={:?} value={picked}", r.reason));
                prompts::text(s, "Say something")
            })
            .step(async |s, r| {
                s.send(format!("you said {}", r.text()?));
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    t.transcript(
        "bo",
        r#"
        > hi
        < Pick a color (1. red, 2. green, or 3. blue)
        > purple
        < I didn't understand. Please choose an option from the list. (1. red, 2. green, or 3. blue)
        > purple
        < reason=NotCompleted value=null
        < Say something
        > 
        < I didn't understand. Please try again.
        > hello
        < you said hello
        "#,
    )
    .await;
}

#[tokio::test]
async fn a_choice_prompt_with_more_than_three_choices_lists_them_one_per_line_like_v3() {
    let bot = Bot::builder().dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| {
                prompts::choice(s, "Pick a size", &["small", "medium", "large", "huge"])
            })
            .step(async |s, r| {
                let size = r.choice()?;
                s.send(format!("{}: {}", size.index, size.value));
                s.end_dialog();
                Ok(())
            }),
    );
    let t = TestBot::new(bot);
    let ann = t.user("ann");
    ann.say("hi")
        .await
        .expect(&["Pick a size\n\n   1. small\n   2. medium\n   3. large\n   4. huge"]);
    ann.say("2").await.expect(&["1: medium"]);
}

#[tokio::test]
async fn prompts_speak_the_preferred_locale_with_fallback() {
    let l = botcore::Localizer::new("en")
        .add(
            "es",
            [
                ("BotBuilder:number_retry", "No es un número."),
                ("how_many", "¿Cuántos?"),
            ],
        )
        .add("en", [("how_many", "How many?")]);
    let bot = Bot::builder().localizer(l).dialog(
        "/",
        Waterfall::new()
            .step(async |s, _| {
                if s.text() == "es" {
                    s.set_preferred_locale("es-MX");
                }
                prompts::number(s, "how_many")
            })
            .step(async |s, _| s.end_dialog()),
    );
    let t = TestBot::new(bot);
    t.user("ana").say("es").await.expect(&["¿Cuántos?"]);
    t.user("ana")
        .say("muchos")
        .await
        .expect(&["No es un número."]);
    t.user("bob").say("en").await.expect(&["How many?"]);
    t.user("bob")
        .say("lots")
        .await
        .expect(&["I didn't recognize that as a number. Please enter a number."]);
}
