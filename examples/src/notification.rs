//! Ad hoc proactive messages: the bot saves the user's address on first contact (botcore's
//! address book does it for every message) and later sends a notification without touching
//! the conversation's state.

use botcore::{Address, Bot, BotBuilder, BotError, Message, Receipt};

/// The notification text of the Bot Builder sample.
pub const NOTIFICATION: &str = "Hello, this is a notification";

/// A bot that greets and promises a notification.
pub fn bot() -> BotBuilder {
    Bot::builder().dialog_fn("/", async |s, _| {
        s.send("Hi! I saved your address and will send you a notification.");
        s.end_dialog();
    })
}

/// Sends the notification to a saved address (refused for users who never wrote).
pub async fn notify(bot: &Bot, saved: &Address, text: &str) -> Result<Receipt, BotError> {
    bot.send(Message::to(saved).text(text)).await
}
