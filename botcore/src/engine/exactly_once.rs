//! What botcore guarantees about turns and their messages, and the settings behind it.
//!
//! - **A turn's effects are applied once.** A turn's state, its scheduled jobs, the address
//!   book and the messages it sends are saved in one compare-and-set batch, together with the
//!   id of the activity it ran for. A channel that sends the same activity again (same `id`,
//!   same user and conversation) gets no second turn: the bot delivers what is still pending
//!   and answers as it did the first time ([`TurnOutcome::redelivery`]). The last
//!   [`BotBuilder::dedupe_window`] ids are remembered per user and conversation; activities
//!   without an id run every time.
//! - **A committed message is delivered at least once.** Messages wait in the conversation's
//!   outbox until the channel took them. Those the channel could not take yet (unreachable,
//!   throttled, an unknown outcome) stay there ([`TurnOutcome::pending`]) and go out, in
//!   order and ahead of anything newer, with the conversation's next turn, a redelivery of the
//!   activity, or [`Bot::sweep_outbox`]. A message is sent twice only when a process stops
//!   after the channel accepted it and before the outbox was marked (one storage write), or
//!   when a delivery outlives [`BotBuilder::outbox_lease`]. Messages refused for good (403,
//!   404, ...) are logged and dropped.
//! - **A proactive dialog the user never saw does not stay.** When the first message of a
//!   proactive dialog is refused for good, the conversation is put back as it was and the
//!   caller gets the [`DeliveryError`](crate::DeliveryError) ([`ProactiveRefusal`]).
//!
//! [`TurnOutcome::redelivery`]: crate::TurnOutcome::redelivery
//! [`TurnOutcome::pending`]: crate::TurnOutcome::pending

use crate::contracts::error::BotError;
use crate::engine::bot::Bot;
use crate::engine::builder::BotBuilder;
use crate::engine::config::ProactiveRefusal;
use crate::engine::outbox::{self, SweepReport};
use std::time::Duration;

impl BotBuilder {
    /// How many processed activity ids each user's conversation remembers (default 16; 0 turns
    /// deduplication off). An activity whose id is among them is not run again: its pending
    /// messages are delivered and it is answered as the first time.
    pub fn dedupe_window(mut self, ids: usize) -> Self {
        self.config.dedupe_window = ids;
        self
    }

    /// How long a process owns the outbox record it is delivering (default 10 s). Another
    /// process's turn in the same conversation waits at most this long for that delivery to
    /// finish before it carries the messages itself; keep it above the longest delivery
    /// (retries after a 429 included).
    pub fn outbox_lease(mut self, lease: Duration) -> Self {
        self.config.outbox_lease = lease;
        self
    }

    /// What happens to a proactive dialog whose first message is refused for good (default
    /// [`ProactiveRefusal::TakeBack`]).
    pub fn proactive_refusal(mut self, policy: ProactiveRefusal) -> Self {
        self.config.proactive_refusal = policy;
        self
    }
}

impl Bot {
    /// Delivers what turns left pending in every conversation's outbox — a process that
    /// stopped between saving a turn and delivering its messages, a channel that was down.
    /// Records another process is delivering (its lease has not run out) are passed over.
    /// Call it when a process starts and then periodically (`transport-http`'s `serve` does).
    pub async fn sweep_outbox(&self) -> Result<SweepReport, BotError> {
        outbox::sweep(&self.inner).await
    }

    /// Runs [`sweep_outbox`](Self::sweep_outbox) now and then every `period` on a task of its
    /// own, logging what it delivered and any error; abort the handle to stop it.
    ///
    /// ```no_run
    /// # async fn f(bot: botcore::Bot) {
    /// let sweeper = bot.spawn_outbox_sweeper(std::time::Duration::from_secs(15));
    /// # sweeper.abort();
    /// # }
    /// ```
    pub fn spawn_outbox_sweeper(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let bot = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(period.max(Duration::from_millis(1)));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                match bot.sweep_outbox().await {
                    Ok(r) if r.conversations > 0 => tracing::info!(
                        conversations = r.conversations,
                        delivered = r.delivered,
                        pending = r.pending,
                        dropped = r.dropped,
                        "outbox sweep delivered what other turns left pending"
                    ),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "outbox sweep failed"),
                }
            }
        })
    }
}
