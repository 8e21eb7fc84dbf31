//! A reminder that survives a restart: `remind me <text>` schedules a message one minute
//! later in the bot's storage; any process of the bot sharing that storage delivers it.

use botcore::{Bot, BotBuilder, JobAction};
use std::time::Duration;

/// How long until the reminder fires.
pub const DELAY: Duration = Duration::from_secs(60);

/// The reminder bot.
pub fn bot() -> BotBuilder {
    Bot::builder().dialog_fn("/", async |s, _| {
        match s.text().strip_prefix("remind me ") {
            Some(what) => {
                let reminder = JobAction::message(format!("Reminder: {what}"));
                s.schedule_in(DELAY, reminder)?;
                s.send("OK, I'll remind you in a minute.");
            }
            None => s.send("Say \"remind me <something>\"."),
        }
        s.end_dialog();
        Ok(())
    })
}
