//! The survey that interrupts: the bot announces a survey, starts an order, and five seconds
//! later pushes the survey on top of whatever the user is doing. "done" ends the survey and
//! the order resumes exactly where it was (its unanswered prompt is asked again).

use botcore::proactive::scheduler::JobAction;
use botcore::{Bot, BotBuilder, ProactiveMode, Prompt, Waterfall, json, prompts};
use std::time::Duration;

/// What the bot says before scheduling the survey.
pub const ANNOUNCE: &str =
    "Hey there, I'm going to interrupt our conversation and start a survey in five seconds...";
/// What the survey says while it has control.
pub const SURVEY: &str = "Hello, I'm the survey dialog. I'm interrupting your conversation to ask you a question. Type \"done\" to resume";
/// What the survey says when it hands control back.
pub const BACK: &str = "Great, back to the original conversation";

/// The survey: a one-step waterfall. Every reply restarts it (v3), so it keeps control
/// until the user types "done".
pub fn survey_dialog() -> Waterfall {
    Waterfall::new().step(|s, _| {
        if s.message().text.trim().eq_ignore_ascii_case("done") {
            s.send(BACK);
            s.end_dialog();
        } else {
            s.send(SURVEY);
        }
        Ok(())
    })
}

/// A two-step pizza order: size, then topping.
pub fn order_dialog() -> Waterfall {
    Waterfall::new()
        .step(|s, _| Prompt::choice("Which size?", ["small", "medium", "large"]).begin(s))
        .step(|s, r| {
            let size = r
                .value
                .as_ref()
                .and_then(|v| v.get("entity"))
                .cloned()
                .unwrap_or(json!("medium"));
            s.dialog_data_mut().insert("size".into(), size);
            prompts::text(s, "Which topping?")
        })
        .step(|s, r| {
            let size = s.dialog_data()["size"].as_str().unwrap_or("").to_owned();
            s.send(format!(
                "Your order: a {size} pizza with {}.",
                r.as_str().unwrap_or("nothing")
            ));
            s.end_dialog();
            Ok(())
        })
}

/// The survey bot. `custom_api_url`, when given, is announced as a second way to trigger a
/// proactive message.
pub fn bot(custom_api_url: Option<String>) -> BotBuilder {
    Bot::builder()
        .dialog(
            "/",
            Waterfall::new()
                .step(move |s, _| {
                    s.send(ANNOUNCE);
                    if let Some(url) = &custom_api_url {
                        s.send(format!(
                            "You can also make me send a message by accessing: {url}"
                        ));
                    }
                    let survey = JobAction::Dialog {
                        id: "*:survey".into(),
                        args: None,
                        mode: ProactiveMode::Interrupt,
                    };
                    s.schedule_in(Duration::from_secs(5), survey)?;
                    s.begin_dialog("order", None)
                })
                .step(|s, _| {
                    s.send("Thanks! Say anything to order again.");
                    s.end_dialog();
                    Ok(())
                }),
        )
        .dialog("order", order_dialog())
        .dialog("survey", survey_dialog())
}
