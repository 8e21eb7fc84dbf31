//! [`TestBot`] and [`TestUser`]: drive a bot through the mock channel like a user would.

use crate::channel::{MOCK_CHANNEL_ID, MOCK_SERVICE_URL, MockChannel};
use crate::storage::FaultyStorage;
use botcore::Frame;
use botcore::{
    Address, Bot, BotBuilder, BotError, ChannelAccount, ManualClock, Message, MessageKind,
    TurnOutcome,
};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use storage_memory::MemoryStorage;

/// The start time of every test bot's manual clock (2023-11-14T22:13:20Z).
pub const START_MS: u64 = 1_700_000_000_000;

/// A bot wired to the mock channel, an in-memory storage (wrapped in [`FaultyStorage`]) and
/// a manual clock. Clones share everything.
#[derive(Clone, Debug)]
pub struct TestBot {
    /// The bot under test.
    pub bot: Bot,
    /// The channel: everything the bot sent.
    pub channel: MockChannel,
    /// The storage, with fault knobs.
    pub storage: FaultyStorage<MemoryStorage>,
    /// The clock the bot reads.
    pub clock: ManualClock,
    next_message: Arc<AtomicU64>,
}

impl TestBot {
    /// Builds `builder` with a fresh mock channel, storage and clock.
    ///
    /// # Panics
    /// If the bot does not build (duplicate dialog ids): a test setup error.
    pub fn new(builder: BotBuilder) -> Self {
        let clock = ManualClock::new(START_MS);
        let storage = FaultyStorage::new(MemoryStorage::new().with_clock(clock.clone()));
        Self::assemble(
            builder,
            MockChannel::new(),
            storage,
            clock,
            Arc::new(AtomicU64::new(1)),
        )
    }

    /// Builds a second bot that shares this one's channel, storage and clock: like a second
    /// process of the same bot (for races and restarts).
    pub fn sharing(&self, builder: BotBuilder) -> Self {
        Self::assemble(
            builder,
            self.channel.clone(),
            self.storage.clone(),
            self.clock.clone(),
            // Activity ids stay unique across the bots of one store, as a channel's are.
            self.next_message.clone(),
        )
    }

    fn assemble(
        builder: BotBuilder,
        channel: MockChannel,
        storage: FaultyStorage<MemoryStorage>,
        clock: ManualClock,
        next_message: Arc<AtomicU64>,
    ) -> Self {
        let bot = builder
            .connector(channel.clone())
            .storage(storage.clone())
            .clock(clock.clone())
            .build()
            .unwrap_or_else(|e| panic!("test bot does not build: {e}"));
        Self {
            bot,
            channel,
            storage,
            clock,
            next_message,
        }
    }

    /// A user in a one-to-one conversation of their own (`conv-<id>`).
    pub fn user(&self, id: &str) -> TestUser {
        self.user_in(id, &format!("conv-{id}"))
    }

    /// A user in the given conversation (several users may share one).
    pub fn user_in(&self, id: &str, conversation: &str) -> TestUser {
        let address = Address::new(
            MOCK_CHANNEL_ID,
            ChannelAccount::new(id).with_name(id),
            ChannelAccount::new("bot").with_name("bot"),
        )
        .with_conversation(conversation)
        .with_service_url(MOCK_SERVICE_URL);
        TestUser {
            bot: self.clone(),
            address,
            cursor: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The user's stored state, as the next turn would load it.
    pub async fn state(&self, user: &TestUser) -> UserState {
        let s = self
            .bot
            .proactive(&user.address)
            .load_session()
            .await
            .unwrap_or_else(|e| panic!("cannot load state: {e}"));
        UserState {
            user_data: s.user_data().json().cloned().unwrap_or_default(),
            conversation_data: s.conversation_data().json().cloned().unwrap_or_default(),
            private_data: s
                .private_conversation_data()
                .json()
                .cloned()
                .unwrap_or_default(),
            stack: s.stack().to_vec(),
        }
    }

    /// Runs due scheduled jobs (after moving the clock).
    pub async fn tick(&self) -> usize {
        self.bot
            .scheduler()
            .tick()
            .await
            .map(|r| r.len())
            .unwrap_or_else(|e| panic!("tick failed: {e}"))
    }

    /// Moves the clock forward and runs due jobs.
    pub async fn advance(&self, by: std::time::Duration) -> usize {
        self.clock.advance(by);
        self.tick().await
    }

    pub(crate) fn next_message_id(&self) -> String {
        format!("msg-{}", self.next_message.fetch_add(1, Ordering::Relaxed))
    }
}

/// A user's stored state.
#[derive(Clone, Debug, PartialEq)]
pub struct UserState {
    /// User data.
    pub user_data: Map<String, Value>,
    /// Conversation data.
    pub conversation_data: Map<String, Value>,
    /// Private conversation data (without the dialog stack).
    pub private_data: Map<String, Value>,
    /// The dialog stack, bottom first.
    pub stack: Vec<Frame>,
}

impl UserState {
    /// User data as the bot's own type (`T::default()` when there is none).
    pub fn user<T: serde::Serialize + serde::de::DeserializeOwned + Default>(&self) -> T {
        typed(&self.user_data)
    }

    /// Conversation data as the bot's own type.
    pub fn conversation<T: serde::Serialize + serde::de::DeserializeOwned + Default>(&self) -> T {
        typed(&self.conversation_data)
    }

    /// The data of the dialog on top of the stack as the bot's own type.
    pub fn dialog<T: serde::Serialize + serde::de::DeserializeOwned + Default>(&self) -> T {
        self.stack
            .last()
            .map(|f| typed(&f.state))
            .unwrap_or_default()
    }

    /// The ids on the stack, bottom first.
    pub fn stack_ids(&self) -> Vec<&str> {
        self.stack.iter().map(|f| f.id.as_str()).collect()
    }
}

/// A scripted user of a [`TestBot`]. Clones share the read position of the inbox.
#[derive(Clone, Debug)]
pub struct TestUser {
    bot: TestBot,
    /// The user's address (what the channel puts on their messages).
    pub address: Address,
    cursor: Arc<AtomicUsize>,
}

/// What the bot sent in answer to one user message.
#[derive(Debug)]
pub struct Replies {
    /// Every activity the bot sent to this conversation while the turn ran (when other turns
    /// of the same conversation run at the same moment, their messages can appear here too).
    pub messages: Vec<Message>,
    /// The turn's result.
    pub outcome: Result<TurnOutcome, BotError>,
}

impl Replies {
    /// The texts of the message activities, in order.
    pub fn texts(&self) -> Vec<&str> {
        self.messages
            .iter()
            .filter(|m| m.kind == MessageKind::Message)
            .map(|m| m.text.as_str())
            .collect()
    }

    /// Asserts that the texts are exactly `expected`, with a readable diff on failure.
    #[track_caller]
    pub fn expect(&self, expected: &[&str]) -> &Self {
        let got = self.texts();
        if got != expected {
            panic!("{}", crate::transcript::diff(expected, &got));
        }
        self
    }

    /// The turn's error, if it failed.
    pub fn error(&self) -> Option<&BotError> {
        self.outcome.as_ref().err()
    }
}

impl TestUser {
    /// Sends `text` as this user and returns what the bot answered in that turn.
    pub async fn say(&self, text: &str) -> Replies {
        self.send(Message::to(&self.address).text(text)).await
    }

    /// Sends a prepared message (its address is filled in if empty). It gets a new activity
    /// id unless it has one: sending a message with the same id again is a channel's
    /// redelivery.
    pub async fn send(&self, mut message: Message) -> Replies {
        if message.address.channel_id.is_empty() {
            message.address = self.address.clone();
        }
        if message.address.id.is_none() {
            message.address.id = Some(self.bot.next_message_id());
        }
        let conv = message
            .address
            .conversation_id()
            .unwrap_or_default()
            .to_owned();
        let mark = self.bot.channel.sent_len();
        let outcome = self.bot.bot.receive(message).await;
        let messages: Vec<Message> = self
            .bot
            .channel
            .sent_since(mark)
            .into_iter()
            .filter(|m| m.address.conversation_id() == Some(conv.as_str()))
            .collect();
        self.cursor
            .store(self.bot.channel.sent_to(&conv).len(), Ordering::SeqCst);
        Replies { messages, outcome }
    }

    /// Everything the bot sent to this user's conversation since the last call (or the last
    /// [`say`](Self::say)): for proactive messages.
    pub fn new_messages(&self) -> Vec<Message> {
        let all = self.bot.channel.sent_to(self.conversation_id());
        let from = self.cursor.swap(all.len(), Ordering::SeqCst).min(all.len());
        all[from..].to_vec()
    }

    /// The texts of [`new_messages`](Self::new_messages).
    pub fn new_texts(&self) -> Vec<String> {
        self.new_messages()
            .into_iter()
            .filter(|m| m.kind == MessageKind::Message)
            .map(|m| m.text)
            .collect()
    }

    /// The user's conversation id.
    pub fn conversation_id(&self) -> &str {
        self.address.conversation_id().unwrap_or_default()
    }

    /// The user's stored state.
    pub async fn state(&self) -> UserState {
        self.bot.state(self).await
    }
}

/// Reads a stored bag as `T`, leaving out the keys botcore and v3 reserve.
fn typed<T: serde::Serialize + serde::de::DeserializeOwned + Default>(
    map: &Map<String, Value>,
) -> T {
    let own: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| !k.starts_with("BotBuilder.") && !k.starts_with("botcore."))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Fields the bag does not have take their values from `T::default()`, as in the bot.
    let mut all = match serde_json::to_value(T::default()) {
        Ok(Value::Object(base)) => base,
        _ => Map::new(),
    };
    all.extend(own);
    serde_json::from_value(Value::Object(all)).unwrap_or_else(|e| {
        panic!(
            "stored data does not fit {}: {e}",
            std::any::type_name::<T>()
        )
    })
}
