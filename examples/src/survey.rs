//! The survey that interrupts: the bot announces a survey, starts an order, and five seconds
//! later pushes the survey on top of whatever the user is doing. "done" ends the survey and
//! the order resumes exactly where it was (its unanswered prompt is asked again). The size is
//! a choice prompt: buttons on channels that have them (Web Chat, Teams, the Emulator), a
//! numbered list in the terminal, from the same code. "card" shows a hero card and an
//! Adaptive Card instead of an order (see [`crate::cards`]).

use crate::cards;
use botcore::{Bot, BotBuilder, JobAction, ProactiveMode, Prompt, Waterfall, prompts};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the bot says before scheduling the survey.
pub const ANNOUNCE: &str =
    "Hey there, I'm going to interrupt our conversation and start a survey in five seconds...";
/// What the survey says while it has control.
pub const SURVEY: &str = "Hello, I'm the survey dialog. I'm interrupting your conversation to ask you a question. Type \"done\" to resume";
/// What the survey says when it hands control back.
pub const BACK: &str = "Great, back to the original conversation";

/// The order's first question, a choice of [`SIZES`].
pub const SIZE_PROMPT: &str = "Which size?";
/// The sizes on offer.
pub const SIZES: [&str; 3] = ["small", "medium", "large"];
/// The order's second question.
pub const TOPPING_PROMPT: &str = "Which topping?";

/// Where the bot can also be asked to send a message (announced when set).
#[derive(Debug, Clone)]
pub struct CustomApiUrl(pub String);

/// The order being taken (the order dialog's data).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Order {
    size: String,
}

/// A two-step pizza order: size, then topping.
pub fn order_dialog() -> Waterfall {
    Waterfall::new()
        .step(async |s, _| Prompt::choice(SIZE_PROMPT, SIZES).begin(s))
        .step(async |s, r| {
            let size = r.choice()?.value;
            s.dialog_data_mut().set(&Order { size })?;
            prompts::text(s, TOPPING_PROMPT);
            Ok(())
        })
        .step(async |s, r| {
            let Order { size } = s.dialog_data().get()?;
            let topping = r.text()?;
            s.send(format!("Your order: a {size} pizza with {topping}."));
            s.end_dialog();
            Ok(())
        })
}

/// The survey bot. `custom_api_url`, when given, is announced as a second way to trigger a
/// proactive message.
pub fn bot(custom_api_url: Option<String>) -> BotBuilder {
    let builder = Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(async |s, _| {
                    if cards::is_trigger(s.text()) {
                        // The cards instead of an order; the root begins again afterwards.
                        s.replace_dialog("cards");
                        return Ok(());
                    }
                    s.send(ANNOUNCE);
                    if let Ok(url) = s.app_data::<CustomApiUrl>() {
                        s.send(format!(
                            "You can also make me send a message by accessing: {}",
                            url.0
                        ));
                    }
                    let survey = JobAction::dialog("survey", ProactiveMode::Interrupt);
                    s.schedule_in(Duration::from_secs(5), survey)?;
                    s.begin_dialog("order");
                    Ok(())
                })
                .step(async |s, _| {
                    s.send("Thanks! Say anything to order again.");
                    s.end_dialog();
                }),
        )
        .dialog("order", order_dialog())
        .dialog("cards", cards::cards_dialog())
        // Every reply restarts a one-function dialog (v3), so it keeps control until "done".
        .dialog_fn("survey", async |s, _| {
            if s.text().trim().eq_ignore_ascii_case("done") {
                s.send(BACK);
                s.end_dialog();
            } else {
                s.send(SURVEY);
            }
        });
    match custom_api_url {
        Some(url) => builder.app_data(CustomApiUrl(url)),
        None => builder,
    }
}
