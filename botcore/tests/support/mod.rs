//! Fixtures shared by the proactive test files: bots, addresses, a second bot over a test
//! bot's backends, a connector that is slow on purpose, and a bot that steps can reach; and,
//! in submodules, the fixtures of one family of test files each.

// Every test file uses a part of this module.
#![allow(dead_code)]

pub(crate) mod fanout;
pub(crate) mod order_bot;
pub(crate) mod scheduler;
pub(crate) mod stack_model;

use async_trait::async_trait;
use botcore::{
    Address, Bot, BotBuilder, ChannelAccount, Connector, DeliveryError, Message, Receipt, Session,
    StepError, Storage, Waterfall, prompts,
};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;
use transport_mock::{MOCK_CHANNEL_ID, MOCK_SERVICE_URL, MockChannel, TestBot};

/// What the `survey` dialog of [`survey_bot`] asks.
pub(crate) const SURVEY_QUESTION: &str = "How was your day?";

/// A dialog that ends at once, saying nothing.
pub(crate) fn ends_at_once() -> Waterfall {
    Waterfall::new().step(async |s, _| s.end_dialog())
}

/// A bot whose root dialog ends at once and whose `survey` asks [`SURVEY_QUESTION`] and
/// ends with the answer.
pub(crate) fn survey_bot() -> BotBuilder {
    Bot::builder().dialog("/", ends_at_once()).dialog(
        "survey",
        Waterfall::new()
            .step(async |s, _| prompts::text(s, SURVEY_QUESTION))
            .step(async |s, _| s.end_dialog()),
    )
}

/// The address of `user` on `channel` (mock service URL, no conversation yet).
pub(crate) fn address(channel: &str, user: &str) -> Address {
    Address::new(
        channel,
        ChannelAccount::new(user),
        ChannelAccount::new("bot"),
    )
    .with_service_url(MOCK_SERVICE_URL)
}

/// The address of `user` in `conversation` on the mock channel.
pub(crate) fn mock_address(user: &str, conversation: &str) -> Address {
    address(MOCK_CHANNEL_ID, user).with_conversation(conversation)
}

/// Users `u00`, `u01`, ... who each wrote once (so they may be contacted), by address.
pub(crate) async fn users_who_wrote(t: &TestBot, n: usize) -> Vec<Address> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let u = t.user(&format!("u{i:02}"));
        u.say("hi").await;
        out.push(u.address);
    }
    out
}

/// How many times each of `addresses` got a message with `text`.
pub(crate) fn received(t: &TestBot, addresses: &[Address], text: &str) -> Vec<usize> {
    let mut count: HashMap<String, usize> = HashMap::new();
    for m in t.channel.sent().into_iter().filter(|m| m.text == text) {
        *count.entry(m.address.user.id).or_default() += 1;
    }
    addresses
        .iter()
        .map(|a| count.get(&a.user.id).copied().unwrap_or(0))
        .collect()
}

/// `builder` built over `t`'s storage and clock, sending through `connector`: another process
/// of the same bot with another way out.
pub(crate) fn bot_sending_through(
    t: &TestBot,
    builder: BotBuilder,
    connector: impl Connector,
) -> Bot {
    builder
        .connector(connector)
        .storage(t.storage.clone())
        .clock(t.clock.clone())
        .build()
        .unwrap_or_else(|e| panic!("test bot does not build: {e}"))
}

/// `builder` built over `t`'s channel and clock, storing in `storage` (usually a wrapper of
/// `t.storage`).
pub(crate) fn bot_storing_in(t: &TestBot, builder: BotBuilder, storage: impl Storage) -> Bot {
    builder
        .connector(t.channel.clone())
        .storage(storage)
        .clock(t.clock.clone())
        .build()
        .unwrap_or_else(|e| panic!("test bot does not build: {e}"))
}

/// A connector in front of the mock channel whose every send takes `delay` to return: the
/// channel has the message at once, its answer is slow (a slow HTTP round trip). Sends to
/// one conversation that are not kept apart therefore land between each other in the
/// channel's log. [`reached`](Self::reached) tells when a message is in the channel.
#[derive(Clone, Debug)]
pub(crate) struct SlowChannel {
    channel: MockChannel,
    delay: Duration,
    arrived: Arc<watch::Sender<Vec<String>>>,
}

impl SlowChannel {
    pub(crate) fn new(channel: MockChannel, delay: Duration) -> Self {
        Self {
            channel,
            delay,
            arrived: Arc::new(watch::Sender::new(Vec::new())),
        }
    }

    /// Waits until a message with `text` has reached the channel (its send has not returned
    /// yet if that was less than `delay` ago).
    pub(crate) async fn reached(&self, text: &str) {
        let mut seen = self.arrived.subscribe();
        seen.wait_for(|texts| texts.iter().any(|t| t == text))
            .await
            .map(|_| ())
            .unwrap_or_else(|e| panic!("the connector is gone: {e}"));
    }
}

#[async_trait]
impl Connector for SlowChannel {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        let sent = self.channel.send(message).await;
        self.arrived.send_modify(|t| t.push(message.text.clone()));
        tokio::time::sleep(self.delay).await;
        sent
    }

    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        self.channel.start_conversation(address).await
    }
}

/// The bot, for steps that need it (shared through app data, filled once the bot is built:
/// the bot does not exist while its builder does).
pub(crate) type BotCell = Arc<OnceLock<Bot>>;

/// `builder` with an empty [`BotCell`] in its app data; fill the cell with the built bot.
pub(crate) fn reachable_from_steps(builder: BotBuilder) -> (BotBuilder, BotCell) {
    let cell = BotCell::default();
    (builder.app_data(cell.clone()), cell)
}

/// The bot a step runs in (see [`reachable_from_steps`]).
pub(crate) fn bot_of(s: &Session) -> Result<Bot, StepError> {
    s.app_data::<BotCell>()?
        .get()
        .cloned()
        .ok_or_else(|| StepError::msg("the bot cell was not filled after build"))
}
