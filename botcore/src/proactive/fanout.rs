//! Fan-out: one message or dialog to many users, with bounded concurrency.

use crate::address::Address;
use crate::bot::Bot;
use crate::error::BotError;
use crate::message::Message;
use crate::proactive::{ProactiveMode, ProactiveOutcome};
use futures::StreamExt;
use serde_json::Value;

/// What to do for each recipient of a fan-out.
// Built once per fan-out: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum FanOutAction {
    /// Send this message (its address is replaced by each recipient's).
    Message(Message),
    /// Begin this dialog for each recipient.
    Dialog {
        /// The dialog id.
        id: String,
        /// Its arguments.
        args: Option<Value>,
        /// How to treat a busy recipient.
        mode: ProactiveMode,
    },
}

/// The result for one recipient.
#[derive(Debug)]
pub struct FanOutResult {
    /// The recipient.
    pub address: Address,
    /// What happened.
    pub result: Result<ProactiveOutcome, BotError>,
}

impl Bot {
    /// Runs `action` for every address, at most `concurrency` at a time. Results come back in
    /// the order of `addresses`; one recipient's failure does not stop the others.
    ///
    /// ```no_run
    /// # async fn f(bot: botcore::Bot, team: Vec<botcore::Address>) {
    /// use botcore::proactive::fanout::FanOutAction;
    /// use botcore::ProactiveMode;
    /// let standup = FanOutAction::Dialog { id: "*:standup".into(), args: None, mode: ProactiveMode::Interrupt };
    /// for r in bot.fan_out(team, standup, 8).await {
    ///     println!("{}: {}", r.address.user.id, if r.result.is_ok() { "asked" } else { "failed" });
    /// }
    /// # }
    /// ```
    pub async fn fan_out(
        &self,
        addresses: Vec<Address>,
        action: FanOutAction,
        concurrency: usize,
    ) -> Vec<FanOutResult> {
        let mut results: Vec<(usize, FanOutResult)> =
            futures::stream::iter(addresses.into_iter().enumerate())
                .map(|(i, address)| {
                    let action = action.clone();
                    async move {
                        let result = self.fan_out_one(&address, action).await;
                        (i, FanOutResult { address, result })
                    }
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        results.sort_by_key(|(i, _)| *i);
        results.into_iter().map(|(_, r)| r).collect()
    }

    async fn fan_out_one(
        &self,
        address: &Address,
        action: FanOutAction,
    ) -> Result<ProactiveOutcome, BotError> {
        match action {
            FanOutAction::Message(mut m) => {
                m.address = address.clone();
                let deliveries = self.send(vec![m]).await?;
                if let Some(Err(e)) = deliveries.first() {
                    return Err(BotError::Delivery(e.clone()));
                }
                Ok(ProactiveOutcome {
                    address: address.clone(),
                    deliveries,
                    ..Default::default()
                })
            }
            FanOutAction::Dialog { id, args, mode } => {
                self.begin_dialog(address, &id, args, mode).await
            }
        }
    }
}
