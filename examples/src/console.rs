//! A terminal channel adapter: the user types lines, the bot's messages are printed.
//!
//! This is the whole of a custom transport: a [`Connector`] for the way out, and a loop
//! that turns input into [`Message`]s for [`Bot::receive`] on the way in.

use async_trait::async_trait;
use botcore::{
    ADAPTIVE_CARD, Address, Bot, ChannelAccount, Connector, DeliveryError, HERO_CARD, Message,
    MessageKind, Receipt, THUMBNAIL_CARD, Value,
};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The console's channel id.
pub const CHANNEL_ID: &str = "console";

/// The address of the person at the terminal.
pub fn user_address() -> Address {
    Address::new(
        CHANNEL_ID,
        ChannelAccount::new("you").with_name("You"),
        ChannelAccount::new("bot").with_name("Bot"),
    )
    .with_conversation("console")
    .with_service_url("console://local")
}

/// Prints the bot's messages to a writer (stdout by default).
#[derive(Clone)]
pub struct ConsoleConnector(Arc<Mutex<(Box<dyn Write + Send>, u64)>>);

impl std::fmt::Debug for ConsoleConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConnector").finish_non_exhaustive()
    }
}

impl ConsoleConnector {
    /// Prints to stdout.
    pub fn stdout() -> Self {
        Self::to_writer(Box::new(std::io::stdout()))
    }

    /// Prints to any writer.
    pub fn to_writer(out: Box<dyn Write + Send>) -> Self {
        Self(Arc::new(Mutex::new((out, 0))))
    }
}

#[async_trait]
impl Connector for ConsoleConnector {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        let line = match &message.kind {
            MessageKind::Message => std::iter::once(message.text.clone())
                .chain(message.attachments.iter().map(card_line))
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
                .replace('\n', "\n     "),
            MessageKind::Typing => "(typing...)".to_owned(),
            MessageKind::EndOfConversation => "(conversation ended)".to_owned(),
            other => format!("({})", other.as_str()),
        };
        let mut printer = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (out, printed) = &mut *printer;
        writeln!(out, "bot> {line}")
            .and_then(|_| out.flush())
            .map_err(|e| DeliveryError::Unreachable(e.to_string()))?;
        *printed += 1;
        Ok(Receipt {
            activity_id: Some(format!("console-{printed}")),
            conversation_id: "console".into(),
        })
    }

    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        Ok(address.clone().with_conversation("console"))
    }
}

/// How the terminal shows an attachment: a line naming the card, its title and buttons.
fn card_line(attachment: &Value) -> String {
    let content = &attachment["content"];
    let str_of = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match attachment["contentType"].as_str().unwrap_or_default() {
        HERO_CARD | THUMBNAIL_CARD => {
            let buttons: Vec<_> = content["buttons"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| str_of(&b["title"]))
                .collect();
            format!(
                "[card] {}: {} [buttons: {}]",
                str_of(&content["title"]),
                str_of(&content["text"]),
                buttons.join(" | ")
            )
        }
        ADAPTIVE_CARD => {
            let heading = content["body"]
                .as_array()
                .and_then(|b| b.iter().find(|e| e["type"] == "TextBlock"))
                .map(|e| str_of(&e["text"]))
                .unwrap_or_default();
            format!("[Adaptive Card] {heading} (shown on channels with cards)")
        }
        other => format!("[attachment {other}]"),
    }
}

/// Runs the scheduler: [`Bot::scheduler`]`.tick()` every `every`, until the task is dropped.
pub fn spawn_ticker(bot: Bot, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        loop {
            interval.tick().await;
            if let Err(e) = bot.scheduler().tick().await {
                tracing::warn!(error = %e, "scheduler tick failed");
            }
        }
    })
}

/// Feeds every line of `input` to the bot as a message from [`user_address`], until the
/// input ends.
pub async fn run(bot: &Bot, input: impl AsyncBufRead + Unpin) -> std::io::Result<()> {
    let mut lines = input.lines();
    let mut address = user_address();
    let mut n = 0u64;
    while let Some(line) = lines.next_line().await? {
        n += 1;
        address.id = Some(format!("console-in-{n}"));
        if let Err(e) = bot.receive(Message::to(&address).text(line.trim())).await {
            eprintln!("(turn failed: {e})");
        }
    }
    Ok(())
}
