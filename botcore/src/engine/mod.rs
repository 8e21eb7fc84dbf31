//! Layer 3, the engine: the [`Bot`](bot::Bot) and what runs a turn — the per-conversation
//! locks, the turn transaction (load → run → compare-and-set → deliver) and the driver that
//! carries out the session's stack operations. Imports the model and the contracts.

pub(crate) mod bot;
pub(crate) mod builder;
pub(crate) mod commit;
pub(crate) mod config;
pub(crate) mod delivery;
pub(crate) mod deploy;
pub(crate) mod driver;
pub(crate) mod entry;
pub(crate) mod events;
pub(crate) mod exactly_once;
pub(crate) mod locks;
pub(crate) mod migrate;
pub(crate) mod outbox;
pub(crate) mod runtime;
pub(crate) mod turn;
pub(crate) mod typing;
pub(crate) mod unmarked;
