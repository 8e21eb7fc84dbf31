//! Proactive messaging: the bot speaks first, to a user it met before.
//!
//! - **Ad hoc** — [`Bot::send`] and [`Bot::send_all`]: messages to saved addresses, no
//!   conversation state read or written, a conversation started first when the address has
//!   none, a receipt or a typed error per message.
//! - **Dialogs** — [`Bot::proactive`]`(&address).begin("survey")`, then
//!   [`interrupt`](BeginDialog::interrupt), [`replace`](BeginDialog::replace) or
//!   [`when_idle`](BeginDialog::when_idle): runs as a turn of that conversation (same ordering
//!   and compare-and-set as a user's turn).
//! - **Later** — [`Bot::scheduler`]: jobs that survive restarts ([`scheduler`]).
//! - **Everyone** — [`Bot::fan_out`]: one action for many addresses, resumable ([`fanout`]).
//! - **Who** — [`Bot::address_book`]: the latest address of every user who wrote.
//!
//! ```no_run
//! # async fn f(bot: botcore::Bot, saved: botcore::Address) -> Result<(), botcore::BotError> {
//! use botcore::Message;
//! bot.send(Message::to(&saved).text("Hello, this is a notification")).await?;
//! bot.proactive(&saved).begin("survey").interrupt().await?;
//! # Ok(()) }
//! ```

pub mod address_book;
mod adhoc;
mod dialogs;
pub mod fanout;
pub mod scheduler;

pub use address_book::{AddressBook, AddressPage, AddressRecord};
pub use dialogs::{BeginDialog, Proactive, WhenIdle};

use crate::contracts::address::Address;
use crate::contracts::connector::{DeliveryError, Receipt};
#[cfg(doc)]
use crate::engine::bot::Bot;

/// Options of an ad hoc send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Send even to users who never wrote to the bot.
    pub allow_unconsented: bool,
    /// Localize texts in the user's preferred locale (off by default for ad hoc sends).
    pub localize: bool,
}

/// What a proactive dialog did.
#[derive(Debug, Default)]
pub struct ProactiveOutcome {
    /// The address used (with the conversation that was started, if one was).
    pub address: Address,
    /// Whether a conversation was started for it.
    pub started_conversation: bool,
    /// Whether the dialog was held (`WhenIdle`) instead of started.
    pub held: bool,
    /// The delivery result of each message the turn sent.
    pub deliveries: Vec<Result<Receipt, DeliveryError>>,
    /// Messages the channel could not take yet: they wait in the conversation's outbox and go
    /// out with its next turn or [`Bot::sweep_outbox`](crate::Bot::sweep_outbox).
    pub pending: usize,
}
