//! Layer 1, the contracts: the vocabulary every other layer speaks (addresses, messages,
//! errors, time) and the small traits transports and storage backends implement
//! ([`Connector`](connector::Connector), [`Storage`](storage::Storage),
//! [`Middleware`](middleware::Middleware)), with the connector wrappers built on them.
//! Nothing here knows about dialogs, sessions or the bot.

pub(crate) mod address;
pub(crate) mod card;
pub(crate) mod clock;
pub(crate) mod connector;
pub(crate) mod error;
pub(crate) mod message;
pub(crate) mod middleware;
pub mod rate_limit;
pub mod storage;
pub mod telemetry;
