//! A reminder that survives a restart: `remind me <text>` schedules a message one minute
//! later in the bot's storage; any process of the bot sharing that storage delivers it.

use botcore::proactive::scheduler::JobAction;
use botcore::{Bot, BotBuilder, Message, Waterfall};
use std::time::Duration;

/// How long until the reminder fires.
pub const DELAY: Duration = Duration::from_secs(60);

/// The reminder bot.
pub fn bot() -> BotBuilder {
    Bot::builder().dialog(
        "/",
        Waterfall::new().step(|s, _| {
            let text = s.message().text.clone();
            match text.strip_prefix("remind me ") {
                Some(what) => {
                    let reminder =
                        Message::to(&s.address().without_reply()).text(format!("Reminder: {what}"));
                    s.schedule_in(DELAY, JobAction::Message { message: reminder })?;
                    s.send("OK, I'll remind you in a minute.");
                }
                None => s.send("Say \"remind me <something>\"."),
            }
            s.end_dialog();
            Ok(())
        }),
    )
}
