//! # botcore
//!
//! Conversational bots the way Bot Builder v3 built them — addresses, messages, sessions,
//! dialogs, waterfalls, prompts, a dialog stack — with proactive messaging first: a bot that
//! speaks first, from a timer, a webhook or a queue, to a user it met before.
//!
//! botcore is transport-agnostic: a transport feeds incoming [`Message`]s to
//! [`Bot::receive`] and implements [`Connector`] for the way out; state lives in any
//! [`Storage`] backend.
#![doc = include_str!("docs/quickstart.md")]

pub mod address;
pub mod bot;
pub mod clock;
pub mod connector;
pub mod dialog;
pub mod error;
pub mod library;
pub mod localize;
mod locks;
pub mod message;
pub mod middleware;
pub mod proactive;
pub mod rate_limit;
pub mod session;
pub mod state;
pub mod storage;
#[cfg(feature = "testing")]
pub mod testing;
mod turn;

pub use address::{Address, ChannelAccount, ConversationAccount};
pub use bot::{Bot, BotBuilder, EventAction, TurnOutcome, UnknownDialogPolicy};
pub use clock::{Clock, ManualClock, SystemClock};
pub use connector::{Connector, DeliveryError, Receipt};
pub use dialog::prompts::{self, Prompt};
pub use dialog::waterfall::Waterfall;
pub use dialog::{Dialog, DialogResult, ResumeReason};
pub use error::BotError;
pub use library::Library;
pub use localize::Localizer;
pub use message::{Message, MessageKind};
pub use middleware::Middleware;
pub use proactive::{DeadlineAction, ProactiveMode, ProactiveOutcome, SendOptions};
pub use rate_limit::{Rate, RateLimited, RateLimits};
pub use session::Session;
pub use storage::{Precondition, Storage, StorageError, StorageExt, Stored, Version, WriteOp};

/// Re-exported so dialogs and handlers can name JSON values without another dependency.
pub use serde_json::{Value, json};
