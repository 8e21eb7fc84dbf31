//! The order bot the proactive dialog tests interrupt: a root dialog asking for a size and a
//! topping (or, on `count`, `quiet` or `wait`, another dialog that waits), and a survey to
//! begin proactively.

use botcore::{Bot, BotBuilder, Prompt, Waterfall, prompts};
use serde::{Deserialize, Serialize};
use transport_mock::{TestBot, TestUser};

/// What the survey says when it begins, and to any reply but `done`.
pub(crate) const SURVEY: &str = "Hello, I'm the survey dialog. I'm interrupting your conversation to ask you a question. Type \"done\" to resume";
/// What the survey says when `done` ends it.
pub(crate) const BACK: &str = "Great, back to the original conversation";

/// The order dialog's data.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Order {
    size: String,
}

pub(crate) fn survey() -> Waterfall {
    Waterfall::new().step(async |s, _| {
        if s.text() == "done" {
            s.send(BACK);
            s.end_dialog_with(&"survey-done");
        } else {
            s.send(SURVEY);
        }
    })
}

pub(crate) fn order_bot() -> BotBuilder {
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| match s.text() {
                    "count" => s.replace_dialog("count"),
                    "quiet" => s.replace_dialog("quiet"),
                    "wait" => s.replace_dialog("waiter"),
                    _ => prompts::text(s, "Which size?"),
                })
                .step(async |s, r| {
                    let size = r.text()?.to_owned();
                    s.dialog_data_mut().set(&Order { size })?;
                    prompts::text(s, "Which topping?");
                    Ok(())
                })
                .step(async |s, r| {
                    let order: Order = s.dialog_data().get()?;
                    s.send(format!("Order: {} with {}", order.size, r.text()?));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog(
            "count",
            Waterfall::new()
                .step(async |s, _| prompts::number(s, "How many?"))
                .step(async |s, r| {
                    s.send(format!("count {}", r.number()?));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog(
            "quiet",
            Waterfall::new().step(async |s, _| {
                Prompt::text("Quiet question?")
                    .no_reprompt_after_interrupt()
                    .begin(s)
            }),
        )
        .dialog(
            "waiter",
            Waterfall::new()
                .step(async |s, _| s.send("waiting for anything"))
                .step(async |s, r| {
                    s.send(format!("waiter resumed with {:?}", r.text()?));
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog("survey", survey())
}

pub(crate) async fn at_topping(t: &TestBot, id: &str) -> TestUser {
    let u = t.user(id);
    u.say("hi").await.expect(&["Which size?"]);
    u.say("large").await.expect(&["Which topping?"]);
    u
}

pub(crate) async fn interrupt(t: &TestBot, u: &TestUser) -> Vec<String> {
    let before = t.channel.sent_len();
    let out = t
        .bot
        .proactive(&u.address)
        .begin("*:survey")
        .interrupt()
        .await
        .unwrap();
    assert!(out.deliveries.iter().all(Result::is_ok));
    u.new_messages();
    t.channel
        .sent_since(before)
        .into_iter()
        .map(|m| m.text)
        .collect()
}
