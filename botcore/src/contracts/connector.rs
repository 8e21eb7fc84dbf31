//! The outbound side of a transport: the [`Connector`] trait and its results.
//!
//! A custom channel adapter implements [`Connector`] (send, start a conversation, optionally
//! update/delete) and feeds incoming messages to [`Bot::receive`](crate::Bot::receive).

use crate::contracts::address::Address;
use crate::contracts::message::Message;
use async_trait::async_trait;
use std::fmt::Debug;
use std::time::Duration;

/// Proof that a message was accepted by the channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// The activity id the channel gave the message, if any.
    pub activity_id: Option<String>,
    /// The conversation the message went to.
    pub conversation_id: String,
}

/// Why a message was not delivered, classified so callers know whether a retry is safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The channel asked us to slow down; retrying after `retry_after` is safe.
    #[error("throttled by the channel (retry after {retry_after:?})")]
    Throttled {
        /// How long the channel asked us to wait.
        retry_after: Option<Duration>,
    },
    /// The request never reached the channel (connection refused, DNS): retrying is safe.
    #[error("channel unreachable: {0}")]
    Unreachable(String),
    /// The channel failed after receiving the request (5xx, timeout): the message may or may
    /// not have been delivered, so it is not replayed blindly.
    #[error("delivery outcome unknown: {0}")]
    Ambiguous(String),
    /// The channel refused for good (403 blocked, 404 gone, 400 bad request).
    /// [`refusal`](Self::refusal) says why, from `status` and `code`.
    #[error(
        "delivery refused permanently: {} (status {status}, code {code:?})",
        Refusal::from_channel(*status, code.as_deref())
    )]
    Permanent {
        /// The HTTP status or equivalent.
        status: u16,
        /// The channel's error code, if it gave one.
        code: Option<String>,
    },
    /// The target service URL is not one the bot's credentials may be sent to.
    #[error("service URL not allowed: {0}")]
    ServiceUrlNotAllowed(String),
    /// The connector cannot do this operation (e.g. update on a channel without it).
    #[error("operation not supported by this connector: {0}")]
    Unsupported(&'static str),
    /// Not attempted: an earlier message to the same conversation failed, and sending this
    /// one would break the order.
    #[error("not attempted: an earlier message to the same conversation failed")]
    Skipped,
    /// Getting a token for the channel failed.
    #[error("authentication with the channel failed: {0}")]
    Auth(String),
}

impl DeliveryError {
    /// Whether sending the same message again cannot cause a duplicate.
    pub fn is_retry_safe(&self) -> bool {
        matches!(self, Self::Throttled { .. } | Self::Unreachable(_))
    }

    /// Whether the address should be considered dead (the user blocked the bot, the
    /// conversation is gone).
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent { .. })
    }

    /// Why a [`Permanent`](Self::Permanent) refusal happened; `None` for other errors.
    ///
    /// ```
    /// use botcore::{DeliveryError, Refusal};
    /// let e = DeliveryError::Permanent { status: 403, code: Some("ConversationBlockedByUser".into()) };
    /// assert_eq!(e.refusal(), Some(Refusal::BlockedByUser));
    /// assert!(e.to_string().contains("the user blocked the bot"));
    /// assert_eq!(DeliveryError::Unreachable("dns".into()).refusal(), None);
    /// ```
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::Permanent { status, code } => {
                Some(Refusal::from_channel(*status, code.as_deref()))
            }
            _ => None,
        }
    }
}

/// Why a channel refused a message for good: the Bot Framework / Teams error code of a
/// [`DeliveryError::Permanent`], in a form a fan-out can act on (skip blocked users, report
/// the rest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The user blocked the bot or uninstalled it (`ConversationBlockedByUser`, Teams'
    /// `MessageWritesBlocked`).
    BlockedByUser,
    /// The bot is not a member of the conversation: removed from it, or not installed for
    /// the user (`BotNotInConversationRoster`, `ForbiddenOperationException`).
    NotInRoster,
    /// An administrator disabled the bot for the tenant (`BotDisabledByAdmin`).
    BotDisabled,
    /// The conversation does not exist (any more) (`ConversationNotFound`).
    ConversationNotFound,
    /// The message is too large for the channel (`MessageSizeTooBig`, or status 413).
    TooLarge,
    /// The address cannot be used: no conversation id, or an id that cannot be put in a URL
    /// (`MissingConversationId`, `InvalidConversationId`, `InvalidActivityId`) — refused before
    /// any request.
    InvalidAddress,
    /// Any other refusal (`BadArgument`, an unknown code, no code).
    Other,
}

impl Refusal {
    /// Classifies a refusal by the channel's HTTP status and error code (the code decides;
    /// without a known one only `413` is recognised).
    ///
    /// ```
    /// use botcore::Refusal;
    /// assert_eq!(Refusal::from_channel(403, Some("BotDisabledByAdmin")), Refusal::BotDisabled);
    /// assert_eq!(Refusal::from_channel(413, None), Refusal::TooLarge);
    /// assert_eq!(Refusal::from_channel(403, None), Refusal::Other);
    /// ```
    pub fn from_channel(status: u16, code: Option<&str>) -> Self {
        match code {
            Some("ConversationBlockedByUser" | "MessageWritesBlocked") => Self::BlockedByUser,
            Some("BotNotInConversationRoster" | "ForbiddenOperationException") => Self::NotInRoster,
            Some("BotDisabledByAdmin") => Self::BotDisabled,
            Some("ConversationNotFound") => Self::ConversationNotFound,
            Some("MessageSizeTooBig") => Self::TooLarge,
            Some("MissingConversationId" | "InvalidConversationId" | "InvalidActivityId") => {
                Self::InvalidAddress
            }
            _ if status == 413 => Self::TooLarge,
            _ => Self::Other,
        }
    }

    /// Whether the user (or their administrator) chose not to hear from the bot: retrying
    /// later, or through another conversation, would not be welcome.
    pub fn is_opt_out(self) -> bool {
        matches!(self, Self::BlockedByUser | Self::BotDisabled)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::BlockedByUser => "the user blocked the bot",
            Self::NotInRoster => "the bot is not a member of the conversation",
            Self::BotDisabled => "an administrator disabled the bot",
            Self::ConversationNotFound => "the conversation does not exist",
            Self::TooLarge => "the message is too large",
            Self::InvalidAddress => "the address cannot be used",
            Self::Other => "the channel refused the message",
        })
    }
}

/// Sends messages to a channel.
#[async_trait]
pub trait Connector: Send + Sync + Debug + 'static {
    /// Sends one message to `message.address` (replying to `address.id` when set).
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError>;

    /// Starts a conversation with `address.user` and returns the address with the new
    /// conversation filled in.
    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError>;

    /// Replaces a message the bot sent earlier.
    async fn update(&self, _activity_id: &str, _message: &Message) -> Result<(), DeliveryError> {
        Err(DeliveryError::Unsupported("update"))
    }

    /// Deletes a message the bot sent earlier.
    async fn delete(&self, _address: &Address, _activity_id: &str) -> Result<(), DeliveryError> {
        Err(DeliveryError::Unsupported("delete"))
    }
}

#[async_trait]
impl<C: Connector + ?Sized> Connector for std::sync::Arc<C> {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        (**self).send(message).await
    }
    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        (**self).start_conversation(address).await
    }
    async fn update(&self, activity_id: &str, message: &Message) -> Result<(), DeliveryError> {
        (**self).update(activity_id, message).await
    }
    async fn delete(&self, address: &Address, activity_id: &str) -> Result<(), DeliveryError> {
        (**self).delete(address, activity_id).await
    }
}

/// A connector that routes by channel id: one bot served by several transports (say, a
/// terminal and the Bot Framework) at once.
///
/// ```
/// # use botcore::ByChannel;
/// # fn f(http: impl botcore::Connector, console: impl botcore::Connector) {
/// let connector = ByChannel::new(http).route("console", console);
/// # }
/// ```
#[derive(Debug)]
pub struct ByChannel {
    fallback: Box<dyn Connector>,
    routes: Vec<(String, Box<dyn Connector>)>,
}

impl ByChannel {
    /// Sends everything not routed elsewhere through `fallback`.
    pub fn new(fallback: impl Connector) -> Self {
        Self {
            fallback: Box::new(fallback),
            routes: Vec::new(),
        }
    }

    /// Sends messages of `channel_id` through `connector`.
    pub fn route(mut self, channel_id: impl Into<String>, connector: impl Connector) -> Self {
        self.routes.push((channel_id.into(), Box::new(connector)));
        self
    }

    fn pick(&self, channel_id: &str) -> &dyn Connector {
        self.routes
            .iter()
            .find(|(c, _)| c == channel_id)
            .map(|(_, c)| c.as_ref())
            .unwrap_or(self.fallback.as_ref())
    }
}

#[async_trait]
impl Connector for ByChannel {
    async fn send(&self, message: &Message) -> Result<Receipt, DeliveryError> {
        self.pick(&message.address.channel_id).send(message).await
    }
    async fn start_conversation(&self, address: &Address) -> Result<Address, DeliveryError> {
        self.pick(&address.channel_id)
            .start_conversation(address)
            .await
    }
    async fn update(&self, activity_id: &str, message: &Message) -> Result<(), DeliveryError> {
        self.pick(&message.address.channel_id)
            .update(activity_id, message)
            .await
    }
    async fn delete(&self, address: &Address, activity_id: &str) -> Result<(), DeliveryError> {
        self.pick(&address.channel_id)
            .delete(address, activity_id)
            .await
    }
}
