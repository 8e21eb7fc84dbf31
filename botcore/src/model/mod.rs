//! Layer 2, the model: what a conversation is made of. Stored state in the v3 shape, dialogs
//! (waterfalls, prompts, libraries), localization, and the [`Session`](session::Session): one
//! turn's view of the state plus the effects it asks for (messages, stack operations,
//! scheduled jobs), which the engine carries out. Imports only the contracts.

pub(crate) mod address_record;
pub(crate) mod channels;
pub(crate) mod data;
pub(crate) mod dialog;
pub(crate) mod effects;
pub(crate) mod held;
pub(crate) mod inbound;
pub(crate) mod job;
pub(crate) mod library;
pub(crate) mod localize;
pub(crate) mod outbox;
pub(crate) mod proactive_mode;
pub(crate) mod result;
pub(crate) mod session;
pub(crate) mod stack;
pub(crate) mod state;
pub(crate) mod system_strings;
pub(crate) mod version;
