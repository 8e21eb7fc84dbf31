//! [`Runtime`]: everything a running bot shares between its turns.

use crate::contracts::clock::Clock;
use crate::contracts::connector::Connector;
use crate::contracts::middleware::Middleware;
use crate::contracts::storage::Storage;
use crate::contracts::telemetry::BotMetrics;
use crate::engine::config::{Config, ErrorHook, EventHook, MembersHooks};
use crate::engine::locks::ConversationLocks;
use crate::model::library::Registry;
use crate::model::localize::Localizer;
use crate::model::session::SessionEnv;
use std::sync::Arc;

/// The dialogs, the backends, the hooks and the locks of one bot.
pub(crate) struct Runtime {
    pub(crate) library: Arc<Registry>,
    /// What sessions see of the bot (shares `library`).
    pub(crate) env: Arc<SessionEnv>,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) middleware: Vec<Arc<dyn Middleware>>,
    pub(crate) on_error: Option<Arc<ErrorHook>>,
    pub(crate) on_event: Option<Arc<EventHook>>,
    pub(crate) members: MembersHooks,
    pub(crate) config: Config,
    pub(crate) locks: ConversationLocks,
    /// This process's name in the outbox leases it takes (random per bot).
    pub(crate) instance: Arc<str>,
    /// Outboxes delivered but not marked yet.
    pub(crate) unmarked: crate::engine::unmarked::Unmarked,
    /// The handles of the metrics every turn records.
    pub(crate) metrics: BotMetrics,
}

impl Runtime {
    /// The bot's clock.
    pub(crate) fn clock(&self) -> &Arc<dyn Clock> {
        &self.env.clock
    }

    /// The bot's localizer.
    pub(crate) fn localizer(&self) -> &Localizer {
        &self.env.localizer
    }
}

/// A random name for a bot's outbox leases.
pub(crate) fn instance_id() -> Arc<str> {
    format!("{:016x}", rand::random::<u64>()).into()
}
