//! [`MockChannel`]: the in-memory channel, a [`Connector`] that records everything.

use async_trait::async_trait;
use botcore::{Address, Connector, ConversationAccount, DeliveryError, Message, Receipt};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The channel id of mock addresses.
pub const MOCK_CHANNEL_ID: &str = "mock";
/// The service URL of mock addresses.
pub const MOCK_SERVICE_URL: &str = "https://mock.channel.invalid";

/// A failure the channel answers with instead of delivering.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// 429 with `Retry-After`.
    Throttled(Duration),
    /// 500: the outcome is unknown.
    ServerError,
    /// 403: the user blocked the bot.
    Forbidden,
    /// 404: the conversation is gone.
    NotFound,
    /// The connection was refused.
    Unreachable,
    /// The call never returns: with the turn's future dropped (a timeout), a process that
    /// stopped in the middle of a delivery.
    Hang,
}

impl Fault {
    fn error(&self) -> DeliveryError {
        match self {
            Self::Throttled(d) => DeliveryError::Throttled {
                retry_after: Some(*d),
            },
            Self::ServerError => DeliveryError::Ambiguous("500 Internal Server Error".into()),
            Self::Forbidden => DeliveryError::Permanent {
                status: 403,
                code: Some("BotBlocked".into()),
            },
            Self::NotFound => DeliveryError::Permanent {
                status: 404,
                code: Some("ConversationNotFound".into()),
            },
            Self::Unreachable | Self::Hang => {
                DeliveryError::Unreachable("connection refused".into())
            }
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    sent: Mutex<Vec<Message>>,
    faults: Mutex<VecDeque<(Option<String>, Fault)>>,
    started: Mutex<Vec<Address>>,
    failed: Mutex<Vec<(Message, DeliveryError)>>,
    start_faults: Mutex<VecDeque<Fault>>,
    updated: Mutex<Vec<(String, Message)>>,
    next_id: AtomicU64,
}

/// The in-memory channel. Clones share the same log.
#[derive(Clone, Debug, Default)]
pub struct MockChannel {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MockChannel {
    /// A new channel with an empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next send (to anyone) fails with `fault`. Faults queue up; they apply to sends only
    /// (see [`fail_next_start`](Self::fail_next_start) for starting conversations).
    pub fn fail_next(&self, fault: Fault) {
        lock(&self.inner.faults).push_back((None, fault));
    }

    /// The next attempt to start a conversation (with anyone) fails with `fault`.
    pub fn fail_next_start(&self, fault: Fault) {
        lock(&self.inner.start_faults).push_back(fault);
    }

    /// Messages the bot replaced with [`Connector::update`], with the activity id.
    pub fn updated(&self) -> Vec<(String, Message)> {
        lock(&self.inner.updated).clone()
    }

    /// The next send to `user_id` fails with `fault`.
    pub fn fail_next_for(&self, user_id: &str, fault: Fault) {
        lock(&self.inner.faults).push_back((Some(user_id.to_owned()), fault));
    }

    /// Every message delivered so far, in order.
    pub fn sent(&self) -> Vec<Message> {
        lock(&self.inner.sent).clone()
    }

    /// How many messages were delivered so far.
    pub fn sent_len(&self) -> usize {
        lock(&self.inner.sent).len()
    }

    /// Messages delivered since position `from` of the log.
    pub fn sent_since(&self, from: usize) -> Vec<Message> {
        lock(&self.inner.sent)
            .get(from..)
            .map(<[Message]>::to_vec)
            .unwrap_or_default()
    }

    /// Messages delivered to `conversation_id`.
    pub fn sent_to(&self, conversation_id: &str) -> Vec<Message> {
        lock(&self.inner.sent)
            .iter()
            .filter(|m| m.address.conversation_id() == Some(conversation_id))
            .cloned()
            .collect()
    }

    /// Messages that the channel refused, with the error it answered.
    pub fn failed(&self) -> Vec<(Message, DeliveryError)> {
        lock(&self.inner.failed).clone()
    }

    /// Conversations the bot started (the addresses it asked for).
    pub fn started_conversations(&self) -> Vec<Address> {
        lock(&self.inner.started).clone()
    }

    /// Forgets everything delivered so far.
    pub fn clear(&self) {
        lock(&self.inner.sent).clear();
    }

    fn take_fault(&self, user: &str) -> Option<Fault> {
        let mut f = lock(&self.inner.faults);
        let pos = f
            .iter()
            .position(|(u, _)| u.as_deref().is_none_or(|u| u == user))?;
        f.remove(pos).map(|(_, fault)| fault)
    }
}

#[async_trait]
impl Connector for MockChannel {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        if let Some(fault) = self.take_fault(&message.address.user.id) {
            if matches!(fault, Fault::Hang) {
                std::future::pending::<()>().await;
            }
            let e = fault.error();
            lock(&self.inner.failed).push((message.clone(), e.clone()));
            return Err(e);
        }
        let conversation_id = message
            .address
            .conversation_id()
            .ok_or_else(|| DeliveryError::Permanent {
                status: 400,
                code: Some("MissingConversation".into()),
            })?
            .to_owned();
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.sent).push(message.clone());
        Ok(Receipt {
            activity_id: Some(format!("mock-activity-{n}")),
            conversation_id,
        })
    }

    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        if let Some(fault) = lock(&self.inner.start_faults).pop_front() {
            return Err(fault.error());
        }
        let n = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut a = address.clone();
        a.conversation = Some(ConversationAccount::new(format!(
            "started-{}-{n}",
            address.user.id
        )));
        a.id = None;
        lock(&self.inner.started).push(address.clone());
        Ok(a)
    }

    async fn update(&self, activity_id: &str, message: &Message) -> Result<(), DeliveryError> {
        lock(&self.inner.updated).push((activity_id.to_owned(), message.clone()));
        Ok(())
    }

    async fn delete(&self, _address: &Address, _activity_id: &str) -> Result<(), DeliveryError> {
        Ok(())
    }
}
